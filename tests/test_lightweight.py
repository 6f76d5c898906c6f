"""The lightweight-cifar10 recipe: its shared models are paper-cifar10's runs (the same settings keys),
taken from that reproduction's folder (`reuse`) rather than trained again; and the report's Pareto section
(accuracy against training cost, verdicts at equal cost). At test size: tiny grids on the bundled sample."""

import json
from pathlib import Path

import pytest
from run_records import run_record

import sam_bench.experiments.reproduction as grid
from sam_bench.errors import BadInput
from sam_bench.experiments.reproduce import reproduce
from sam_bench.recipes.evaluation_block import evaluation_for
from sam_bench.recipes.recipe import load_recipe
from sam_bench.report import pareto

SHARED = """
dataset: cifar10-sample
train: {arch: preactresnet18, width: 0.125, epochs: 1, batch_size: 64, n_train: 256, lr: 0.1, seed: 0}
evaluation:
  n_examples: 32
  pgd: {steps: 2, Linf: {eps: [2/255, 8/255], step_fraction: 0.25}}
  autoattack: null
"""


def recipe(folder: Path, name: str, models: str, scale: str = "{publish: false}") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(f"name: {name}\npaper: test\n{SHARED}models:\n{models}\nscales:\n  test: {scale}\n")
    return path


@pytest.fixture(scope="module")
def grids(tmp_path_factory):
    root = tmp_path_factory.mktemp("light")
    base = recipe(
        root,
        "base",
        "  - {name: ST, method: standard}\n  - {name: SAM-0.1, method: sam, rho: 0.1}",
    )
    light = recipe(
        root,
        "light",
        "  - {name: ST, method: standard}\n  - {name: SAM-0.1, method: sam, rho: 0.1}\n"
        "  - {name: FGSM-RS-8, method: fgsm-rs, attack_eps: 8/255}\n"
        "  - {name: N-FGSM-8, method: n-fgsm, attack_eps: 8/255}",
        "{publish: false, reuse: [base-test]}",
    )
    reproduce(str(base), "test", out=root / "base-test", device="cpu", progress=False)
    trained = []
    real_train = grid.train

    def counting_train(config, run_dir, **kwargs):
        trained.append(Path(run_dir).name)
        return real_train(config, run_dir, **kwargs)

    grid.train = counting_train
    try:
        reproduce(str(light), "test", out=root / "light-test", device="cpu", progress=False)
    finally:
        grid.train = real_train
    return {"root": root, "trained": trained}


def test_shared_runs_are_reused_not_trained(grids):
    root = grids["root"]
    base, light = root / "base-test", root / "light-test"
    # Only the new models train: a reused run's directory is complete, so train() is never even resumed on it.
    reused = [p.parent.name for p in sorted(light.glob("runs/*/reused.json"))]
    assert sorted(name.rsplit("-", 1)[0] for name in reused) == ["SAM-0.1", "ST"]
    assert not any(name in grids["trained"] for name in reused)
    assert sorted(n.rsplit("-", 1)[0] for n in grids["trained"]) == ["FGSM-RS-8", "N-FGSM-8"]
    for name in reused:
        a, b = base / "runs" / name, light / "runs" / name
        assert (a / "model.safetensors").read_bytes() == (b / "model.safetensors").read_bytes()
        assert (base / "results" / f"{name}.json").read_bytes() == (light / "results" / f"{name}.json").read_bytes()
        assert json.loads((b / "reused.json").read_text())["from"] == str(a)
    report = (light / "REPORT.md").read_text()
    assert "2 runs were not trained here but reused" in report and "base-test" in report


def test_the_report_plots_accuracy_against_cost_and_judges_equal_cost(grids):
    light = grids["root"] / "light-test"
    report = (light / "REPORT.md").read_text()
    assert "## Accuracy against training cost (Pareto)" in report
    assert "### Verdicts at equal cost (two passes per step)" in report
    assert (light / "pareto.png").stat().st_size > 0
    assert "### Catastrophic overfitting" in report  # the single-step runs trained with the guard
    meta = json.loads(next(light.glob("runs/N-FGSM-8-*/metadata.json")).read_text())
    assert meta["passes_per_step"] == 2 and meta["overfit_guard"]["images"] == 250  # half the sample's test set
    # the equal-cost rows: one per Linf budget, the best two-pass model named with its clean cost against ST
    rows = [line for line in report.splitlines() if line.startswith("| PGD-10 ")]
    assert len(rows) == 2
    assert all(any(m in row for m in ("SAM-0.1", "FGSM-RS-8", "N-FGSM-8")) for row in rows)


def test_a_changed_evaluation_reuses_the_training_but_evaluates_again(grids, tmp_path):
    root = grids["root"]
    changed = SHARED.replace("eps: [2/255, 8/255]", "eps: [2/255]")
    path = tmp_path / "other.yaml"
    path.write_text(
        f"name: other\npaper: test\n{changed}models:\n  - {{name: ST, method: standard}}\n"
        f"scales:\n  test: {{publish: false, reuse: [{root / 'base-test'}]}}\n"
    )
    out = tmp_path / "other-test"
    reproduce(str(path), "test", out=out, device="cpu", progress=False)
    run = next(out.glob("runs/ST-*"))
    assert (run / "reused.json").is_file()
    assert not (run / "checkpoint.pt").exists()  # copied, not trained
    # the copied results were of another evaluation: evaluated again, with this recipe's attacks
    results = json.loads((out / "results" / f"{run.name}.json").read_text())
    assert [ev["eps"] for ev in results["evaluations"] if ev["attack"] == "pgd"] == ["2/255"]


def test_the_recipe_shares_its_reference_runs_with_paper_cifar10():
    for scale, theirs in (("cpu", "cpu-decisive"), ("smoke", "smoke")):
        light, paper = load_recipe("lightweight-cifar10", scale), load_recipe("paper-cifar10", theirs)
        assert light.reuse == [f"paper-cifar10-{theirs}"]
        keys = {(m.name, m.seed): m.key for m in paper.models}
        for m in light.models:
            if m.config.method in ("standard", "sam", "at"):
                assert keys[(m.name, m.seed)] == m.key, (scale, m.name, m.seed)
                assert evaluation_for(m, light.evaluation) == evaluation_for(m, paper.evaluation)
            else:
                assert m.config.method in ("fgsm-rs", "n-fgsm") and m.config.attack_steps == 1
    cpu = load_recipe("lightweight-cifar10", "cpu")
    assert {m.config.attack_eps for m in cpu.models if m.config.method in ("fgsm-rs", "n-fgsm")} == {"2/255", "8/255"}


def test_reuse_must_be_a_list_of_folders(tmp_path):
    path = recipe(tmp_path, "bad", "  - {name: ST, method: standard}", "{reuse: paper-cifar10-cpu}")
    with pytest.raises(BadInput, match=r"reuse: \"paper-cifar10-cpu\" is not a list"):
        load_recipe(str(path), "test")


def test_frontier():
    points = [(1, 0.0, "ST"), (2, 0.10, "SAM"), (2, 0.30, "N-FGSM"), (11, 0.35, "AT"), (6, 0.2, "AT-2")]
    assert [n for _, _, n in pareto.frontier(points)] == ["ST", "N-FGSM", "AT"]


def test_a_collapsed_run_is_marked_in_the_report(grids, tmp_path):
    import shutil

    from sam_bench.report.document import write_report

    light = tmp_path / "light-test"
    shutil.copytree(grids["root"] / "light-test", light)
    meta_path = next(light.glob("runs/FGSM-RS-8-*/metadata.json"))
    meta = json.loads(meta_path.read_text())
    assert meta["overfit_guard"]["collapsed"] is False  # a healthy run is not flagged
    assert "⚠ collapsed" not in (light / "REPORT.md").read_text()
    meta["overfit_guard"].update(collapsed=True, epoch=1, best_pgd_acc=0.3, collapsed_pgd_acc=0.01)
    meta_path.write_text(json.dumps(meta))
    report = write_report(light).read_text()
    accuracy_row = next(line for line in report.splitlines() if line.startswith("| FGSM-RS-8 "))
    assert "⚠ 1 of 1 seeds collapsed (seed 0; rate 100%, exact 95% interval 3-100%)" in accuracy_row
    assert "Collapsed: FGSM-RS-8 (seed 0) from epoch 1, PGD accuracy 1.00 at the end after a best of 30.00." in report


def test_measured_cost_ratios_join_the_section_when_cost_json_has_them(grids, tmp_path):
    from sam_bench.report.folder import load_results

    light = grids["root"] / "light-test"
    records = load_results(light)
    first = {r.name: r.key for r in records}
    ratios = {"ST": None, "SAM-0.1": 2.1, "FGSM-RS-8": 1.9, "N-FGSM-8": 2.0}
    cost = {"models": [{"name": n, "key": first[n], "ratio": r and {"median": r}} for n, r in ratios.items()]}
    lines = pareto.section(tmp_path, records, cost)
    assert "| SAM-0.1 | SAM | 2 | 2.10 |" in "\n".join(lines)
    assert "| ST | ST | 1 | 1.00 |" in "\n".join(lines)
    assert (tmp_path / "pareto.png").stat().st_size > 0
    stale = {"models": [{"name": "SAM-0.1", "key": "other", "ratio": {"median": 2.1}}]}
    assert pareto.measured_ratio([r for r in records if r.name == "SAM-0.1"], stale) is None  # other settings


def test_the_readme_summary_states_the_equal_cost_verdicts(grids, tmp_path):
    import shutil

    from sam_bench.report.folder import load_results
    from sam_bench.report.summary import summary

    light = tmp_path / "light-test"
    shutil.copytree(grids["root"] / "light-test", light)
    records = load_results(light)
    verdicts = pareto.equal_cost_verdicts(records)
    assert len(verdicts) == 2  # PGD-10 at 2/255 and 8/255
    text = summary(light)
    for v in verdicts:  # one training seed: no method is separated from another, and the words say so
        assert v["verdict"] == "not separated" and not v["ahead_of"] and v["first_seeds_only"]
        others = ", ".join(v["not_separated_from"])
        assert (
            f"{v['measure']} (first seeds only: one trained model each, so about these models, not their methods): "
            f"{v['best']}'s model is the most accurate (not separated from {others}; clean cost vs ST "
        ) in text
        assert f"{v['measure']}: {v['best']} leads" not in text
    assert "Catastrophic overfitting: none of 2 single-step runs collapsed." in text
    meta_path = next(light.glob("runs/N-FGSM-8-*/metadata.json"))
    meta = json.loads(meta_path.read_text())
    meta["overfit_guard"].update(collapsed=True, epoch=1, best_pgd_acc=0.3, collapsed_pgd_acc=0.01)
    meta_path.write_text(json.dumps(meta))
    assert "Catastrophic overfitting: 1 of 2 single-step runs collapsed." in summary(light)
    # a grid without single-step models says nothing of the kind
    assert "At equal cost" not in summary(grids["root"] / "base-test")


def _record(name, method, seed, clean, robust):
    """A results record of `name` (seed `seed`) on 1,000 images: `clean` and `robust` (PGD Linf 2/255;
    AutoAttack 20 fewer, seed 0 only) images right, the first ones, shifted by the seed so that seeds differ."""
    import numpy as np

    from sam_bench.evaluation import outcomes

    def right(count):
        flags = np.zeros(1000, bool)
        flags[seed * 7 : seed * 7 + count] = True
        return flags

    def evaluation(attack, count):
        flags = right(count)
        found = {"attack": attack, "norm": "Linf", "eps": "2/255", "eps_value": 2 / 255, "n_examples": 1000}
        return found | {"robust_acc": float(flags.mean()), "outcomes": outcomes.encode(flags)}

    # AutoAttack on the first seed only, as the recipes run it
    evaluations = [evaluation("pgd", robust)] + ([evaluation("autoattack", robust - 20)] if seed == 0 else [])
    return run_record(
        {
            "name": name,
            "seed": seed,
            "primary": seed == 0,
            "config": {"method": method},
            "results": {
                "clean_acc": float(right(clean).mean()),
                "clean_outcomes": outcomes.encode(right(clean)),
                "dataset": {"n_examples": 1000},
                "evaluations": evaluations,
            },
        }
    )


def test_a_tie_at_the_top_still_says_who_is_beaten(tmp_path):
    # FGSM-RS and N-FGSM all but equal, SAM far behind, over three seeds
    records = [
        _record(name, method, seed, clean, robust)
        for seed in range(3)
        for name, method, clean, robust in [
            ("ST", "standard", 820, 50),
            ("SAM-0.1", "sam", 800, 90),
            ("FGSM-RS-2", "fgsm-rs", 740, 600 + seed),
            ("N-FGSM-2", "n-fgsm", 730, 600 - seed),
        ]
    ]
    verdict, autoattack = pareto.equal_cost_verdicts(records)
    # AutoAttack (first seeds only): every rival compared, on the one seed they have it for
    assert autoattack["measure"] == "AutoAttack 2/255" and autoattack["best"] == "FGSM-RS-2"
    assert sorted(autoattack["not_separated_from"]) == ["N-FGSM-2", "SAM-0.1"]  # one seed: no method is separated
    assert all("one training seed" in e for e in autoattack["evidence"])
    assert verdict["best"] == "FGSM-RS-2" and verdict["verdict"] == "not separated"
    assert verdict["ahead_of"] == ["SAM-0.1"] and verdict["not_separated_from"] == ["N-FGSM-2"]
    difference, low, high = verdict["clean_cost"].interval()
    assert difference == pytest.approx(-0.08) and low < difference < high
    row = next(line for line in pareto.section(tmp_path, records, None) if line.startswith("| PGD-10 2/255 | "))
    assert "| **not separated** | SAM-0.1 | N-FGSM-2 |" in row
