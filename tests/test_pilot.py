"""sam-bench pilot: seed spread and detectable effects of candidate settings, from real (tiny) reproductions."""

import json
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from sam_bench import files
from sam_bench.cli import cli
from sam_bench.errors import BadInput
from sam_bench.evaluation import outcomes
from sam_bench.experiments.reproduce import reproduce
from sam_bench.report import spent
from sam_bench.report.pilot import run_pilot
from sam_bench.stats import mixed_model

RECIPE = str(Path(__file__).parent / "recipes" / "pilot-test.yaml")


@pytest.fixture(scope="module")
def candidates(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("pilot")
    folders = []
    for scale in ("two-epochs", "one-epoch"):
        complete, _ = reproduce(RECIPE, scale, out=root / scale, progress=False)
        assert complete
        folders.append(root / scale)
    return folders


def _results(folder: Path, name: str) -> list[dict]:
    plan = files.read_json(folder / "plan.json")
    keys = [m["key"] for m in plan["models"] if m["name"] == name]
    return [files.read_json(folder / "results" / f"{name}-{key}.json") for key in keys]


def _pgd(results: dict) -> dict:
    return next(e for e in results["evaluations"] if e["attack"] == "pgd")


def test_the_pilot_numbers_come_from_the_candidates_results(candidates, tmp_path):
    path = run_pilot(candidates, tmp_path, plan_seeds=5, require_clean=0.01)
    record = files.read_json(tmp_path / "pilot.json")
    assert path.read_text().startswith("# Pilot")
    assert [c["scale"] for c in record["candidates"]] == ["two-epochs", "one-epoch"]
    for c, folder in zip(record["candidates"], candidates):
        assert c["seeds"] == [0, 1] and c["settings"]["epochs"] == {"two-epochs": 2, "one-epoch": 1}[c["scale"]]
        plan = files.read_json(folder / "plan.json")
        metas = [
            files.read_json(folder / "runs" / f"{m['name']}-{m['key']}" / "metadata.json")
            for m in plan["models"]
            if m["name"] == "ST"
        ]
        whole = c["models"]["ST"]["clean_whole_test_set"]
        assert whole["values"] == [m["final"]["test_acc"] for m in metas] and whole["n_test"] == 500
        assert whole["mean"] == pytest.approx(statistics.fmean(whole["values"]))
        # the difference, seed s against seed s, from the results files' own PGD accuracies
        pgd = {
            name: [next(e for e in r["evaluations"] if e["attack"] == "pgd")["robust_acc"] for r in results]
            for name, results in ((n, _results(folder, n)) for n in ("ST", "SAM-0.1"))
        }
        d = c["difference"]["PGD Linf 2/255"]
        assert d["pilot"]["estimate"] == pytest.approx(statistics.fmean(np.subtract(pgd["SAM-0.1"], pgd["ST"])))
        assert d["planned"]["seeds"] == 5 and d["planned"]["images"] == 48
        assert d["planned"]["detectable"] <= d["pilot"]["detectable"] + 1e-12  # more seeds never detect less
        robust = {
            name: np.array([outcomes.decode(_pgd(r)["outcomes"]) for r in results], float)
            for name, results in ((n, _results(folder, n)) for n in ("ST", "SAM-0.1"))
        }
        # both detectable effects from the variance parts (mixed_model.projected), at the pilot's seeds and at 5
        expected = mixed_model.projected(robust["SAM-0.1"] - robust["ST"], 2).detectable()
        assert d["pilot"]["detectable"] == pytest.approx(expected)
        # the design is sized with the seed variance at its upper bound: never less than at the estimate
        at_bound = mixed_model.projected(robust["SAM-0.1"] - robust["ST"], 5, seed_bound=True).detectable()
        assert d["planned"]["detectable_at_bound"] == pytest.approx(at_bound)
        assert d["planned"]["detectable_at_bound"] >= d["planned"]["detectable"]
        clean = c["models"]["SAM-0.1"]["measures"]["clean"]
        flags = np.array([outcomes.decode(r["clean_outcomes"]) for r in _results(folder, "SAM-0.1")], float)
        assert clean["estimate"] == pytest.approx(flags.mean())
        assert clean["seed_sd"] == pytest.approx(mixed_model.seeds_and_images(flags).seed_sd)
        st = c["models"]["ST"]
        assert st["training_cpu_seconds"] == pytest.approx(statistics.median(m["cpu_time_s"] for m in metas))
        assert st["training_seconds"] == pytest.approx(statistics.median(m["wall_time_s"] for m in metas))
    # every run recorded its CPU time: the candidates are compared by it, not by the wall time of shared cores
    assert record["cost_basis"] == "training_cpu_seconds"
    cost = {c["folder"]: sum(m["training_cpu_seconds"] for m in c["models"].values()) for c in record["candidates"]}
    assert record["chosen"] == min(cost, key=cost.get)  # every candidate qualifies: the cheapest is chosen
    assert "Chosen: **" in path.read_text() and "cost in training CPU seconds" in path.read_text()
    assert "(sized: seed variance at its upper bound)" in path.read_text()


def test_without_every_runs_cpu_time_the_candidates_are_compared_by_wall_time(candidates, tmp_path):
    plan = files.read_json(candidates[0] / "plan.json")
    run = next(m for m in plan["models"] if m["name"] == "SAM-0.1")
    meta_path = candidates[0] / "runs" / f"{run['name']}-{run['key']}" / "metadata.json"
    original = meta_path.read_text()
    try:
        meta = json.loads(original)
        del meta["cpu_time_s"]  # as a run from before CPU time was recorded
        files.write_json(meta_path, meta)
        run_pilot(candidates, tmp_path, require_clean=0.01)
    finally:
        meta_path.write_text(original)
    record = files.read_json(tmp_path / "pilot.json")
    assert record["cost_basis"] == "training_seconds"
    assert record["candidates"][0]["models"]["SAM-0.1"]["training_cpu_seconds"] is None
    cost = {c["folder"]: sum(m["training_seconds"] for m in c["models"].values()) for c in record["candidates"]}
    assert record["chosen"] == min(cost, key=cost.get)
    assert "not every run recorded its CPU time" in (tmp_path / "PILOT.md").read_text()


def test_no_candidate_is_chosen_when_none_reaches_the_clean_accuracy(candidates, tmp_path):
    run_pilot(candidates, tmp_path, require_clean=1.0)
    assert files.read_json(tmp_path / "pilot.json")["chosen"] is None
    assert "none is chosen" in (tmp_path / "PILOT.md").read_text()


def test_the_command_and_its_bad_inputs(candidates, tmp_path):
    ok = CliRunner().invoke(cli, ["pilot", str(candidates[0]), "--out", str(tmp_path), "--measure", "clean"])
    assert ok.exit_code == 0, ok.output
    assert files.read_json(tmp_path / "pilot.json")["measures"] == ["clean"]
    for args, message in (
        ([str(tmp_path)], "not a reproduction folder"),
        ([str(candidates[0]), "--measure", "pgd 2/255"], "unknown measure"),
        ([str(candidates[0]), "--measure", "pgd Linfinity 2/255"], "unknown norm 'Linfinity'; choose one of Linf, L2"),
        ([str(candidates[0]), "--measure", "pgd Linf two"], "invalid eps 'two'"),
        ([str(candidates[0]), "--second", "ST"], "--first and --second are both ST"),
        ([str(candidates[0]), "--second", "AT-Linf-2"], "need results for at least two common seeds"),
        ([str(candidates[0]), "--plan-seeds", "1"], "--plan-seeds must be 2 or more"),
    ):
        result = CliRunner().invoke(cli, ["pilot", *args, "--out", str(tmp_path / "x")])
        assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output, result.output
    with pytest.raises(BadInput, match="--require-clean"):
        run_pilot(candidates, tmp_path, require_clean=80)


def test_compute_is_summed_from_the_runs_cpu_time_and_the_report_states_it(candidates, tmp_path):
    from sam_bench.report.document import write_report
    from sam_bench.report.folder import load_results

    folder = candidates[1]
    records = load_results(folder)
    totals = spent.of_records(records)
    logs = [folder / "runs" / f"{r.name}-{r.key}" / "log.jsonl" for r in records]
    cpu = sum(sum(json.loads(line)["cpu_seconds"] for line in log.read_text().splitlines()) for log in logs)
    assert totals["training_cpu_s"] == pytest.approx(cpu) and totals["runs_without_cpu"] == 0
    evaluations = [ev for r in records for ev in r.results.evaluations]
    assert totals["evaluation_cpu_s"] == pytest.approx(sum(ev.cpu_seconds for ev in evaluations))
    assert totals["cpu_s"] == pytest.approx(totals["training_cpu_s"] + totals["evaluation_cpu_s"])
    # a run from before CPU time was recorded counts its wall time, and the sentence says so
    first = records[0]
    older = [replace(first, training=replace(first.training, cpu_s=None))] + records[1:]
    assert spent.of_records(older)["runs_without_cpu"] == 1
    assert "1 runs recorded before CPU time was" in spent.describe(spent.of_records(older))
    # a run reused from another reproduction was paid for there
    reused = spent.of_records([replace(first, training=replace(first.training, reused_from="elsewhere"))] + records[1:])
    assert reused["runs"] == len(records) - 1 and reused["reused_runs"] == 1
    assert reused["training_cpu_s"] == pytest.approx(totals["training_cpu_s"] - first.training.cpu_s)
    # the pilot keeps each candidate's compute, and a report in the chosen folder states the others'
    run_pilot(candidates, candidates[0], require_clean=0.01)
    report = write_report(candidates[0]).read_text()
    assert "## Compute" in report and "The pilot's candidate `one-epoch`: " in report
    assert f"{totals['cpu_s'] / 3600:.2f} core-hours" in report
    # the chosen scale's compute_budget: both folders' CPU time together, set against 1 hour of 2 cores
    together = (spent.of_records(load_results(candidates[0]))["cpu_s"] + totals["cpu_s"]) / 3600
    assert files.read_json(candidates[0] / "plan.json")["compute_budget"] == {"hours": 1, "cores": 2}
    assert (
        f"Together with the pilot: {together:.2f} core-hours, {together / 2:.2f} hours of a 2-core machine "
        f"kept busy on every core: {100 * together / 2:.0f}% of the scale's budget of 1 hours of a 2-core machine "
        "(2 core-hours, the recipe's `compute_budget`), within it." in report
    )
    over = spent.budget_sentence(3 * 3600, {"hours": 1, "cores": 2})
    assert over.endswith(
        "150% of the scale's budget of 1 hours of a 2-core machine (2 core-hours, the recipe's "
        "`compute_budget`), 1.00 core-hours over it"
    )


def test_the_pilots_detectable_effect_compares_with_the_planned_one():
    """Seeds that scatter less than their images' noise implies (mean square of the seeds below the
    residual's) make the pilot's own t-test promise more than its variance parts do: both columns come
    from the variance parts, so more planned seeds never show a larger detectable effect."""
    rng = np.random.default_rng(0)
    noise = rng.choice([-1.0, 0.0, 0.0, 1.0], size=(1, 2000))
    d = np.vstack([noise, noise[:, ::-1], np.roll(noise, 7, axis=1)])  # three seeds, equal means by construction
    assert np.ptp(d.mean(axis=1)) == 0  # no seed-to-seed scatter at all
    own = mixed_model.seeds_and_images(d).detectable()
    at_pilot, at_plan = mixed_model.projected(d, 3).detectable(), mixed_model.projected(d, 5).detectable()
    assert own < at_plan  # the pilot's own test would look better than 5 seeds: not comparable
    assert at_plan <= at_pilot
