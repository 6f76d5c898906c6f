"""`sam-bench reproduce` end to end, killed once and resumed, on the paper recipe's pipeline at test size
(tests/recipes/pipeline-test.yaml; the real smoke scale trains for minutes)."""

import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.evaluation.outcomes import decode
from sam_bench.report.document import write_report
from sam_bench.report.folder import load_results
from sam_bench.report.records import accuracy
from sam_bench.stats.inference import wilson
from sam_bench.stats.mixed_model import accuracy_interval, seeds_and_images

PIPELINE = Path(__file__).parent / "recipes" / "pipeline-test.yaml"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("repro") / "pipeline-test"
    args = ["reproduce", str(PIPELINE), "--scale", "test", "--out", str(out), "--device", "cpu", "--quiet"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sam_bench", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while proc.poll() is None and not list(out.glob("runs/ST-*/checkpoint.pt")):
        time.sleep(0.1)
    proc.kill()  # a killed grid: mid-way through the first model's training
    proc.wait()
    checkpoint = next(out.glob("runs/ST-*/checkpoint.pt"))
    before = torch.load(checkpoint, weights_only=True)["history"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return {"out": out, "killed_history": before, "first_output": result.output}


@pytest.fixture(scope="module")
def rechecked(smoke, tmp_path_factory):
    """A copy of the grid rechecked in full once (`sam-bench recheck FOLDER`: every zoo model's every
    evaluation again, AutoAttack included, tens of seconds here): the recheck tests each start from a copy of
    it instead of each rechecking the same folder again; `smoke`'s folder stays as the other tests expect it."""
    import shutil

    folder = tmp_path_factory.mktemp("rechecked") / "pipeline-test"
    shutil.copytree(smoke["out"], folder)
    result = CliRunner().invoke(cli, ["recheck", str(folder), "--quiet"])
    assert result.exit_code == 0, result.output
    return folder


def test_killed_grid_resumes_where_it_stopped(smoke):
    out = smoke["out"]
    log = [json.loads(line) for line in next(out.glob("runs/ST-*/log.jsonl")).read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1, 2]
    # the epoch finished before the kill was kept, not trained again
    assert log[: len(smoke["killed_history"])] == smoke["killed_history"]
    assert "done: report in" in smoke["first_output"]
    for where in ("plots:", "zoo:", "leaderboard pages:", "cifar10-Linf-sample.html"):  # says where everything is
        assert where in smoke["first_output"], where


def test_every_artifact_exists(smoke):
    out = smoke["out"]
    for name in ("REPORT.md", "plan.json", "robust_vs_eps.png", "tradeoff.png", "cost.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    plan = json.loads((out / "plan.json").read_text())
    # every model's first seed before any second one
    assert [(m["name"], m["seed"], m["primary"]) for m in plan["models"]] == [
        ("ST", 0, True),
        ("SAM-0.1", 0, True),
        ("AT-Linf-2", 0, True),
        ("ST", 1, False),
    ]
    for m in plan["models"]:
        assert (out / "results" / f"{m['name']}-{m['key']}.json").is_file()
        assert (out / "runs" / f"{m['name']}-{m['key']}" / "model.safetensors").is_file()
    assert len(list(out.glob("model_zoo/cifar10/Linf/*.json"))) == 3  # smoke keeps its zoo to itself; seed 1 stays out
    assert len(list(out.glob("leaderboards/cifar10/Linf/*.json"))) == 3
    assert not list(out.glob("results/*.partial"))
    second = json.loads((out / "results" / f"ST-{plan['models'][3]['key']}.json").read_text())
    assert second["model"]["kind"] == "run" and second["model"]["training"]["config"]["seed"] == 1
    assert [e["attack"] for e in second["evaluations"]].count("autoattack") == 0  # AutoAttack: first seed only
    for record in load_results(out):  # per-image outcomes agree with the accuracies
        results = record.results
        assert decode(results["clean_outcomes"]).mean() == pytest.approx(results["clean_acc"])
        for ev in results.evaluations:
            assert decode(ev.outcomes).mean() == pytest.approx(ev.robust_acc)


def test_report_numbers_equal_the_results_files(smoke):
    out = smoke["out"]
    records = {}
    for r in load_results(out):
        records.setdefault(r.name, []).append(r)
    text = (out / "REPORT.md").read_text()
    table = [line for line in text.split("## Accuracy")[1].split("## ")[0].strip().splitlines() if line.startswith("|")]
    header = [c.strip() for c in table[0].strip("|").split("|")]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    assert [r[0].split(" ⚠")[0] for r in rows] == ["ST", "SAM-0.1", "AT-Linf-2"]
    assert [r[2] for r in rows] == ["0, 1", "0", "0"]
    checked = 0
    for row in rows:
        group = records[row[0].split(" ⚠")[0]]
        for column, cell in zip(header[3:], row[3:]):
            measure = (
                ("clean",)
                if column == "clean"
                else (("pgd" if column.startswith("PGD") else "autoattack"), *column.split()[1:])
            )
            values = [accuracy(r, *measure) for r in group if accuracy(r, *measure) is not None]
            if len(values) > 1:  # several seeds: the mean, its 95% interval over seeds and images
                flags = np.array([decode(r.evaluation(*measure).outcomes) for r in group], float)
                result = seeds_and_images(flags)
                low, high = accuracy_interval(result)
                assert result.estimate == pytest.approx(statistics.fmean(values))
                assert cell == f"{100 * result.estimate:.2f} ({100 * low:.1f}–{100 * high:.1f})", (row[0], column)
            else:  # one evaluation: its 95% Wilson interval
                n = group[0].results["dataset"]["n_examples"]
                low, high = wilson(round(values[0] * n), n)
                assert cell == f"{100 * values[0]:.2f} ({100 * low:.1f}–{100 * high:.1f})", (row[0], column)
            checked += 1
    assert checked == 3 * (1 + 5 + 1)  # clean, five PGD budgets, AutoAttack
    verdicts = text.split("## Verdicts")[1].split("## Training cost")[0]
    for claim in ("C1", "C2", "C3", "C4"):  # a headline line and a table with a row per configuration
        assert re.search(rf"^- {claim}: (holds|fails|inconclusive) for ", verdicts, re.M), claim
        table = verdicts.split(f"**{claim}**: ")[1].split("\n\n**")[0]
        assert re.search(r"^\| [^|]+ \| \*\*(holds|fails|inconclusive)\*\* \| [^|]+ \| [^|]+ \|$", table, re.M), claim


def test_a_runs_results_name_it_so_that_a_copy_of_the_folder_finds_it(smoke, tmp_path):
    """A later seed's results name its run relative to the folder, and its run records the code that trained it:
    a copy of the folder elsewhere (another checkout, a GPU machine's files brought back) finds the run."""
    import shutil

    from sam_bench.evaluation.results_record import Results
    from sam_bench.runtime.code_identity import fingerprint

    plan = json.loads((smoke["out"] / "plan.json").read_text())
    run = f"ST-{plan['models'][3]['key']}"
    copy = tmp_path / "moved" / "pipeline-test"
    shutil.copytree(smoke["out"] / "results", copy / "results")
    shutil.copytree(smoke["out"] / "runs" / run, copy / "runs" / run)
    results = Results.read(copy / "results" / f"{run}.json")
    assert results.model.ref == f"runs/{run}"
    assert results.model_ref == str(copy / "runs" / run)
    metadata = json.loads((copy / "runs" / run / "metadata.json").read_text())
    assert metadata["code_fingerprint"] == results.environment["code_fingerprint"] == fingerprint()


def test_robust_never_above_clean_in_results(smoke):
    for record in load_results(smoke["out"]):
        for ev in record.results.evaluations:
            assert ev.robust_acc <= ev.clean_acc + 1e-9


def test_second_run_changes_nothing(smoke):
    out = smoke["out"]
    before = {p: p.stat().st_mtime_ns for p in out.glob("results/*.json")}
    result = CliRunner().invoke(
        cli, ["reproduce", str(PIPELINE), "--scale", "test", "--out", str(out), "--device", "cpu", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert {p: p.stat().st_mtime_ns for p in out.glob("results/*.json")} == before


def test_a_finished_run_whose_weights_live_in_the_zoo_is_not_trained_again(smoke, tmp_path):
    """Committed reproductions keep a finished run's weights in the zoo only (model.safetensors is not
    committed): reproduce must take such a run as done, and train --resume must not start it over."""
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(smoke["out"], out)
    plan = json.loads((out / "plan.json").read_text())["models"]
    run = out / "runs" / f"{plan[0]['name']}-{plan[0]['key']}"  # ST, seed 0: in the zoo
    later = out / "runs" / f"{plan[3]['name']}-{plan[3]['key']}"  # ST, seed 1: in no zoo, but its results exist
    for folder in (run, later):
        (folder / "model.safetensors").unlink()
        (folder / "checkpoint.pt").unlink(missing_ok=True)
    before = (run / "log.jsonl").read_text(), (run / "metadata.json").read_text()
    later_before = (later / "metadata.json").read_text()
    result = CliRunner().invoke(
        cli, ["reproduce", str(PIPELINE), "--scale", "test", "--out", str(out), "--device", "cpu", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert ((run / "log.jsonl").read_text(), (run / "metadata.json").read_text()) == before
    assert (later / "metadata.json").read_text() == later_before and not (later / "model.safetensors").exists()
    result = CliRunner().invoke(cli, ["train", "--out", str(run), "--resume"])
    assert result.exit_code != 0 and "finished training but its model.safetensors is gone" in result.output
    assert (run / "metadata.json").read_text() == before[1]


def test_only_works_on_the_named_models_or_seeds(smoke, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(smoke["out"], out)
    plan = json.loads((out / "plan.json").read_text())["models"]
    seed1 = out / "results" / f"ST-{plan[3]['key']}.json"
    seed1.unlink()
    others = {p: p.stat().st_mtime_ns for p in out.glob("results/*.json")}
    args = ["reproduce", str(PIPELINE), "--scale", "test", "--out", str(out), "--device", "cpu", "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--only", "SAM-0.1,ST:1"])
    assert result.exit_code == 0, result.output
    assert seed1.is_file() and {p: p.stat().st_mtime_ns for p in others} == others
    result = CliRunner().invoke(cli, [*args, "--only", "ST:7"])
    assert result.exit_code == 2 and "has no model (or model:seed) 'ST:7'" in result.output


def test_no_leaderboard_puts_nothing_on_a_board_and_is_refused_where_it_cannot_hold(smoke, tmp_path):
    import shutil

    out = tmp_path / "copy"
    shutil.copytree(smoke["out"], out)
    shutil.rmtree(out / "leaderboards")
    args = ["reproduce", str(PIPELINE), "--scale", "test", "--out", str(out), "--device", "cpu", "--quiet"]
    result = CliRunner().invoke(cli, [*args, "--no-leaderboard"])
    assert result.exit_code == 0, result.output
    assert not (out / "leaderboards").exists() and (out / "REPORT.md").is_file()
    result = CliRunner().invoke(cli, [*args, "--no-leaderboard", "--parallel", "2"])
    assert result.exit_code == 2 and "--no-leaderboard is for the local executor" in result.output
    result = CliRunner().invoke(cli, args)  # without it, the same grid's first seeds reach their boards
    assert result.exit_code == 0, result.output
    assert list((out / "leaderboards").glob("*/*/*.json"))


TINY_RECIPE = """
name: tiny
dataset: synthetic
train: {arch: preactresnet18, width: 0.0625, epochs: 1, batch_size: 32, n_train: 64}
models:
  - {name: ST, method: standard}
evaluation:
  n_examples: 32
  pgd: {steps: 2, Linf: {eps: [1/255, 2/255]}}
scales:
  tiny: {publish: false}
"""


def test_a_time_limit_during_evaluation_stops_the_grid_and_the_next_call_continues(tmp_path, evaluation_clock):
    from sam_bench.experiments.reproduce import reproduce

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    evaluation_clock.per_pgd_image = 86_400  # an image of PGD takes "a day" on evaluate's clock
    out = tmp_path / "tiny"
    complete, _ = reproduce(str(recipe), "tiny", out=out, device="cpu", max_minutes=30, progress=False)
    assert not complete and (out / "runs").is_dir()
    assert list(out.glob("results/ST-*.json.partial")) and not list(out.glob("results/ST-*.json"))
    status = ["reproduce", str(recipe), "--scale", "tiny", "--out", str(out), "--status"]
    shown = CliRunner().invoke(cli, status).output  # where the evaluation stands, not only the training
    assert re.fullmatch(r"ST: trained 1/1 epochs, evaluation under way: 1 chunk done \(\d+\.\d minutes\)\n", shown)
    complete, report = reproduce(str(recipe), "tiny", out=out, device="cpu", progress=False)
    results = json.loads(next(out.glob("results/ST-*.json")).read_text())
    # clean was done in the first call; PGD's timed probe took days, so its chunk did not start
    assert complete and [e["chunks"]["resumed"] for e in results["evaluations"]] == [1, 0, 0]
    assert "1 of 1 runs done" in report.read_text()
    assert CliRunner().invoke(cli, status).output == "ST: done\n"
    recipe.write_text(TINY_RECIPE.replace("[1/255, 2/255]", "[1/255, 2/255, 4/255]"))  # an attack more since
    shown = CliRunner().invoke(cli, status).output
    assert shown == "ST: trained 1/1 epochs, results of an earlier evaluation (the next call evaluates it again)\n"


@pytest.mark.parametrize("room", ["time left", "too little left"])
def test_past_a_cell_whose_evaluation_chunk_does_not_fit_the_grid_goes_on_while_time_is_left(
    tmp_path, evaluation_clock, monkeypatch, capsys, room
):
    """ST's PGD chunk is estimated past the limit (its probe: 4 images of 300 s, 20 of the 30 minutes; the
    chunk, 32 images, 160 minutes), so ST's evaluation waits; with the 10 minutes left the grid goes on and
    trains SAM (stopping at such a chunk would leave those minutes unused).
    With less left than a cell needs to start (NEXT_CELL_S), it stops there as before."""
    from sam_bench.experiments import reproduction
    from sam_bench.experiments.reproduce import reproduce

    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(
        TINY_RECIPE.replace(
            "  - {name: ST, method: standard}", "  - {name: ST, method: standard}\n  - {name: SAM, method: sam}"
        )
    )
    if room == "too little left":
        monkeypatch.setattr(reproduction, "NEXT_CELL_S", 11 * 60.0)
    evaluation_clock.per_pgd_image = 300
    out = tmp_path / "tiny"
    complete, _ = reproduce(str(recipe), "tiny", out=out, device="cpu", max_minutes=30, progress=False)
    assert not complete and list(out.glob("results/ST-*.json.partial"))
    # the note says why, without progress bars as under a scheduler: the chunk's estimate, the time left
    printed = capsys.readouterr().out
    assert re.search(
        r"^ST: evaluation stopped by the time limit \(1 of 3 chunks done; the next, pgd Linf 1/255 on 32 images, "
        r"estimated at 160\.0 minutes with (9\.9|10\.0) left\); run the same command again to continue$",
        printed,
        re.M,
    ), printed
    sam_runs = [json.loads(p.read_text()) for p in out.glob("runs/SAM-*/metadata.json")]
    if room == "too little left":
        assert sam_runs == []
    else:
        assert [m["status"] for m in sam_runs] == ["complete"] and list(out.glob("results/SAM-*.json.partial"))
    evaluation_clock.per_pgd_image = 0
    complete, report = reproduce(str(recipe), "tiny", out=out, device="cpu", progress=False)
    assert complete and "2 of 2 runs done" in report.read_text()


@pytest.mark.parametrize("parallel", [[], ["--parallel", "2", "--threads", "1"]], ids=["one", "parallel"])
def test_a_model_whose_weights_cannot_be_fetched_is_left_unevaluated_and_the_grid_goes_on(
    tmp_path, monkeypatch, parallel
):
    """In a copy of the tree without .git a finished model's committed zoo weights cannot be fetched: when
    the recipe has gained attacks since its results were made, that model is left as it is (said in one line)
    and the grid goes on to the next, instead of the whole call ending on an error."""
    recipe = tmp_path / "tiny.yaml"
    two = TINY_RECIPE.replace(
        "  - {name: ST, method: standard}", "  - {name: ST, method: standard}\n  - {name: SAM, method: sam}"
    )
    recipe.write_text(two)
    out = tmp_path / "tiny"
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "empty-cache"))
    args = ["reproduce", str(recipe), "--scale", "tiny", "--out", str(out), "--device", "cpu"]
    assert CliRunner().invoke(cli, [*args, "--quiet"]).exit_code == 0
    plan = {m["name"]: m["key"] for m in json.loads((out / "plan.json").read_text())["models"]}
    (out / "runs" / f"ST-{plan['ST']}" / "model.safetensors").unlink()  # as committed: the zoo keeps them
    (zoo_weights,) = out.glob("model_zoo/**/*Standard*.safetensors")
    zoo_weights.unlink()  # and no git history to bring them back from
    st_results = out / "results" / f"ST-{plan['ST']}.json"
    st_before = st_results.read_text()
    recipe.write_text(two.replace("eps: [1/255, 2/255]", "eps: [1/255, 2/255, 4/255]"))
    result = CliRunner().invoke(cli, [*args, *parallel])
    assert result.exit_code == 0, result.output
    assert "ST: not evaluated here (zoo entry" in result.output and "bring its weights" in result.output
    assert "stopped (run the same command again to continue)" in result.output
    assert st_results.read_text() == st_before  # left as it was, to be evaluated where its weights are
    sam = json.loads((out / "results" / f"SAM-{plan['SAM']}.json").read_text())
    assert [e["eps"] for e in sam["evaluations"] if e["attack"] == "pgd"] == ["1/255", "2/255", "4/255"]


def test_the_setup_line_says_when_autoattack_attacked_fewer_images():
    from sam_bench.evaluation.results_record import Evaluation
    from sam_bench.report.document import _aa_text

    standard = Evaluation("autoattack", 0.4, settings={"version": "standard"}, n_examples=1000)
    assert _aa_text(standard, 2000) == "standard, on the first 1000 of them"
    assert _aa_text(standard, 1000) == _aa_text(standard) == "standard"
    quick = Evaluation(
        "autoattack", 0.4, settings={"version": "custom", "attacks": ["apgd-ce", "apgd-t"]}, n_examples=200
    )
    assert _aa_text(quick, 200) == "custom: apgd-ce, apgd-t"


def test_recheck_re_measures_the_zoo_models_image_by_image(rechecked, tmp_path):
    """`sam-bench recheck FOLDER` evaluates the zoo models' weights again with the recorded settings: every
    image's outcome comes back the same; a results file whose per-image outcomes were altered (two images
    swapped, so every accuracy in it still agrees) is caught, image by image, with exit code 1."""
    import shutil

    from sam_bench.evaluation import outcomes, recheck, results_file
    from sam_bench.evaluation.results_record import Evaluation, Results

    folder = tmp_path / "copy"
    shutil.copytree(rechecked, folder)  # rechecked by the fixture; this test alters its copy
    record = recheck.read(folder / "recheck.json")
    assert record["identical"] and record["images_differing"] == 0
    published = [r for r in load_results(folder) if r.results["model"].get("zoo_id")]
    assert sorted(m["results"] for m in record["models"]) == sorted(
        r.path.relative_to(folder).as_posix() for r in published
    )
    for m in record["models"]:
        results = Results.read(folder / m["results"])
        recorded = {recheck.label(e): e for e in results.evaluations if e.attack != "clean"}
        assert [c["evaluation"] for c in m["evaluations"]] == ["clean", *recorded]  # autoattack included
        assert m["evaluations"][0]["recorded_correct"] == round(results["clean_acc"] * m["n_examples"])
        for c in m["evaluations"][1:]:
            assert c["recorded_correct"] == round(recorded[c["evaluation"]].robust_acc * c["n"])
    report = (folder / "REPORT.md").read_text()
    assert "## Re-measured from the stored weights" in report and "All 3 models: every evaluation" in report
    # the same command again goes on from where the record stands: nothing left to recheck
    result = CliRunner().invoke(cli, ["recheck", str(folder), "--quiet"])
    assert result.exit_code == 0 and result.output.count("already rechecked as it is now") == 3, result.output
    assert recheck.read(folder / "recheck.json")["models"] == record["models"]

    # Alter one PGD evaluation's outcomes: an image that resisted and one that fell (the clean pass got it right:
    # an image it got wrong cannot resist, and a file saying so is refused before any recheck) trade places.
    for m in record["models"]:
        path = folder / m["results"]
        results = json.loads(path.read_text())
        clean = decode(results["clean_outcomes"])
        for ev in results["evaluations"]:
            flags = decode(ev["outcomes"]) if ev["attack"] == "pgd" else None
            if flags is not None and 0 < flags.sum() and (~flags & clean[: len(flags)]).any():
                i, j = int(np.flatnonzero(flags)[0]), int(np.flatnonzero(~flags & clean[: len(flags)])[0])
                flags[i], flags[j] = False, True
                ev["outcomes"] = outcomes.encode(flags, ev["outcomes"]["start"])
                break
        else:
            continue
        path.write_text(json.dumps(results))
        results_file.read(path)  # every figure in the file still agrees with its outcomes
        break
    else:
        pytest.fail("no PGD evaluation with some images correct and some not")
    result = CliRunner().invoke(cli, ["recheck", str(path), "--quiet", "--zoo-dir", str(folder / "model_zoo")])
    assert result.exit_code == 1
    assert f"{recheck.label(Evaluation.of(ev))}: " in result.output and ": 2 images differ" in result.output
    assert "2 image outcomes differ from the recorded ones" in result.output
    # the folder's record still describes the file as it was: the report calls that recheck stale
    write_report(folder)
    assert (
        f"Stale: `{path.relative_to(folder).as_posix()}` changed after the recheck"
        in (folder / "REPORT.md").read_text()
    )


def test_a_recheck_of_some_attacks_adds_to_a_fuller_one_and_never_replaces_it(rechecked, tmp_path):
    """A record that rechecked every attack of a file covers a later call for some of them (nothing is run);
    some attacks rechecked again (`--again --attacks pgd`) are added to the earlier entry, whose AutoAttack
    and clean comparisons stay."""
    import shutil

    from sam_bench.evaluation import recheck

    folder = tmp_path / "copy"
    shutil.copytree(rechecked, folder)  # every attack of every file rechecked (the fixture)
    full = recheck.read(folder / "recheck.json")["models"]
    assert all(any(c["evaluation"].startswith("autoattack") for c in m["evaluations"]) for m in full)

    result = CliRunner().invoke(cli, ["recheck", str(folder), "--attacks", "clean,pgd", "--quiet", "--no-report"])
    assert result.exit_code == 0 and result.output.count("already rechecked as it is now") == len(full), result.output
    assert recheck.read(folder / "recheck.json")["models"] == full

    args = ["recheck", str(folder), "--attacks", "pgd", "--again", "--quiet", "--no-report"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and "pgd Linf" in result.output and "autoattack" not in result.output, result.output
    again = recheck.read(folder / "recheck.json")["models"]
    assert [[c["evaluation"] for c in m["evaluations"]] for m in again] == [
        [c["evaluation"] for c in m["evaluations"]] for m in full
    ]
    assert all(m["identical"] for m in again)


def test_a_reused_runs_recheck_is_carried_over_from_where_it_was_made(rechecked, tmp_path):
    """A run reused from another folder brings its results file byte for byte: the recheck made there
    counts here (marked with where it was made), as long as the file is the very same; a run whose
    results were made here is rechecked here."""
    import shutil

    from sam_bench.evaluation import recheck

    source, reuser = tmp_path / "source", tmp_path / "reuser"
    shutil.copytree(rechecked, source)  # rechecked there (the fixture)
    shutil.copytree(source, reuser)
    (reuser / "recheck.json").unlink()
    names = sorted(m["results"] for m in recheck.read(source / "recheck.json")["models"])
    assert len(names) == 3
    for i, name in enumerate(names):
        stem = Path(name).stem
        origin = source / name
        # as `reproduce` records it: an absolute path, or one relative to where the grid was run from
        given = [str(origin), f"elsewhere/source/{name}", None][i]  # None: evaluated again here
        (reuser / "runs" / stem / "reused.json").write_text(
            json.dumps({"from": str(source / "runs" / stem), "results": given})
        )
    result = CliRunner().invoke(cli, ["recheck", str(reuser), "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.output.count("the same file was rechecked where it was reused from (../source/recheck.json)") == 2
    record = recheck.read(reuser / "recheck.json")
    carried = {m["results"]: m.get("carried_from") for m in record["models"]}
    assert carried == {names[0]: "../source/recheck.json", names[1]: "../source/recheck.json", names[2]: None}
    report = (reuser / "REPORT.md").read_text()
    assert "the folder it was reused from" in report and "The recheck of 2 reused runs was made in" in report
    # the record now covers all three as they are; a changed file is not carried: it is rechecked here
    result = CliRunner().invoke(cli, ["recheck", str(reuser), "--quiet", "--no-report"])
    assert result.output.count("already rechecked as it is now") == 3, result.output
    (reuser / "recheck.json").unlink()
    changed = json.loads((reuser / names[0]).read_text())
    changed["warnings"] = [*changed.get("warnings", []), "a note added here"]
    (reuser / names[0]).write_text(json.dumps(changed, indent=2))
    result = CliRunner().invoke(cli, ["recheck", str(reuser), "--quiet", "--no-report"])
    assert result.exit_code == 0 and result.output.count("where it was reused from") == 1, result.output
    assert "carried_from" not in next(
        m for m in recheck.read(reuser / "recheck.json")["models"] if m["results"] == names[0]
    )


def test_recheck_of_the_first_images_and_its_bad_inputs(smoke, tmp_path):
    """A spot check: an evaluation in chunks of 32 images, rechecked on its first chunk only; refusals."""
    zoo = smoke["out"] / "model_zoo"
    model_id = next(zoo.glob("cifar10/Linf/*Standard*.json")).stem
    results = tmp_path / "st.json"
    args = ["--zoo-dir", str(zoo), "--n-examples", "64", "--chunk-size", "32", "--quiet", "--out", str(results)]
    result = CliRunner().invoke(cli, ["evaluate", model_id, "--attack", "pgd", "--eps", "1/255,2/255", *args])
    assert result.exit_code == 0, result.output
    record = tmp_path / "recheck.json"
    args = ["recheck", str(results), "--zoo-dir", str(zoo), "--quiet", "--out", str(record)]
    result = CliRunner().invoke(cli, [*args, "--n-examples", "32"])
    assert result.exit_code == 0, result.output
    checked = json.loads(record.read_text())["models"][0]
    assert checked["n_examples"] == 32 and [c["n"] for c in checked["evaluations"]] == [32, 32, 32]
    assert [c["evaluation"] for c in checked["evaluations"]] == ["clean", "pgd Linf 1/255", "pgd Linf 2/255"]
    for extra, message in [
        (["--n-examples", "40"], "--n-examples must be a positive multiple of the recorded chunk size (32)"),
        (["--attacks", "autoattack"], "no evaluation of the attacks autoattack to recheck"),
    ]:
        result = CliRunner().invoke(cli, [*args, *extra])
        assert result.exit_code != 0 and message in result.output and "Traceback" not in result.output, result.output
    result = CliRunner().invoke(cli, ["recheck", str(tmp_path / "missing.json")])
    assert result.exit_code != 0 and "no such results file or reproduction folder" in result.output
    result = CliRunner().invoke(cli, [*args, "--n-examples", "96"])  # more than evaluated
    assert result.exit_code == 0, result.output
    assert "64 images were evaluated, fewer than --n-examples 96: rechecked those 64" in result.output
    assert json.loads(record.read_text())["models"][0]["n_examples"] == 64
