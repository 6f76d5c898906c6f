"""What a report shows and says: every figure from per-image outcomes (a results file without them is named
under "Not shown", never a row), a model identified by its results' content (training settings and weights),
not the file's name, and wording that says what was measured. Run on a copy of a committed reproduction's
results and run records (reproductions/paper-cifar10-cpu: ST, SAM-0.1, AT-Linf-2 over three seeds)."""

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.report import mechanism
from sam_bench.report.folder import Folder

COMMITTED = Path(__file__).resolve().parents[1] / "reproductions" / "paper-cifar10-cpu"
ST, SAM = "ST-982a950524", "SAM-0.1-674c8deeba"  # seed 0 of each


@pytest.fixture
def folder(tmp_path):
    """The committed folder's plan, results (those with per-image outcomes), run records and analyses."""
    out = tmp_path / "paper-cifar10-cpu"
    plan = json.loads((COMMITTED / "plan.json").read_text())
    plan["models"] = [m for m in plan["models"] if m["name"] in ("ST", "SAM-0.1", "AT-Linf-2")]
    (out / "results").mkdir(parents=True)
    (out / "plan.json").write_text(json.dumps(plan))
    for m in plan["models"]:
        run = f"{m['name']}-{m['key']}"
        shutil.copy(COMMITTED / "results" / f"{run}.json", out / "results")
        (out / "runs" / run).mkdir(parents=True)
        for name in ("metadata.json", "log.jsonl"):
            shutil.copy(COMMITTED / "runs" / run / name, out / "runs" / run)
    shutil.copytree(COMMITTED / "analysis", out / "analysis")
    return out


def report(out: Path):
    result = CliRunner().invoke(cli, ["report", str(out)])
    assert "Traceback" not in result.output, result.output
    return result


def test_a_results_file_without_outcomes_is_named_and_not_shown(folder):
    path = folder / "results" / f"{SAM}.json"
    results = json.loads(path.read_text())
    del results["clean_outcomes"]
    for ev in results["evaluations"]:
        del ev["outcomes"]
    path.write_text(json.dumps(results))
    loaded = Folder.load(folder)
    assert [(r.name, r.seed) for r in loaded.left_out] == [("SAM-0.1", 0)]
    assert ("SAM-0.1", 0) not in {(r.name, r.seed) for r in loaded.records}
    assert report(folder).exit_code == 0
    text = (folder / "REPORT.md").read_text()
    assert f"Not shown: SAM-0.1 (seed 0), `results/{SAM}.json`: it records no per-image outcomes" in text
    assert "(11 of 9 runs" not in text and "(9 of 9 runs done)" in text


def test_the_report_identifies_a_model_by_its_results_content_not_the_file_name(folder):
    shutil.copy(folder / "results" / f"{SAM}.json", folder / "results" / f"{ST}.json")  # SAM's results as ST's
    result = report(folder)
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert f"{ST}.json: holds the results of SAM-0.1 (seed 0, settings key 674c8deeba), not of ST" in result.output
    assert not (folder / "REPORT.md").exists()


def test_the_report_cites_the_claims_module_where_it_is(folder):
    assert report(folder).exit_code == 0
    text = (folder / "REPORT.md").read_text()
    assert "`sam_bench/report/claims.py`" in text and "`sam_bench/claims.py`" not in text


def test_weights_in_the_folder_but_not_analysed_are_not_called_uncommitted(folder):
    for later_seed in ("ST-844917c126", "ST-17bfddf805", "SAM-0.1-0b7b2ef1ba", "AT-Linf-2-a93c2870b7"):
        (folder / "analysis" / f"{later_seed}.json").unlink()  # analysed since: here, as if not
    kept = folder / "runs" / "ST-844917c126"  # ST seed 1: kept, the others' weights not in the copy
    (kept / "weights.json").write_text(json.dumps({"file": "model.safetensors", "sha256": "0" * 64}))
    text = "\n".join(mechanism.section(folder, Folder.load(folder).records, draw=False))
    assert "were not committed" not in text
    assert "no record for ST (seed 1): their weights are here but were not analysed" in text
    assert "SAM-0.1 (seed 1), AT-Linf-2 (seed 1), ST (seed 2)" in text and "not in the tree" in text


@pytest.mark.parametrize("plan", [{"name": "x", "scale": "y", "paper": "z"}, [1, 2], {"models": "all"}])
def test_a_plan_without_its_models_is_one_line_in_cost_and_report(tmp_path, plan):
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    for command in (["report", str(tmp_path)], ["cost", str(tmp_path)]):
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert len(result.output.strip().splitlines()) == 1 and "plan.json" in result.output


SAMPLE_GRID = COMMITTED.parent / "paper-cifar10-sample"  # 1/4-width models on the bundled sample, weights in git


@pytest.fixture
def sample_st(tmp_path):
    """The committed sample reproduction with ST alone in its plan (its results file, run records, analyses)."""
    out = tmp_path / "paper-cifar10-sample"
    shutil.copytree(SAMPLE_GRID, out)
    plan = json.loads((out / "plan.json").read_text())
    plan["models"] = [m for m in plan["models"] if m["name"] == "ST"]
    (out / "plan.json").write_text(json.dumps(plan))
    return out


def test_report_verify_measures_the_shown_results_again_and_refuses_swapped_budgets(sample_st):
    """`report --verify` measures a sample of every evaluation again from the weights first: genuine files pass;
    two PGD evaluations whose budgets and settings were swapped (every figure still agrees with its outcomes, and
    the report alone would show each accuracy at the other's budget) are refused in one line, nothing written."""
    result = CliRunner().invoke(cli, ["report", str(sample_st), "--verify"])
    assert result.exit_code == 0, result.output
    assert "results/ST-eefd72d0d5.json: 8 evaluations agree with the weights" in result.output
    assert (
        "Measured again: a sample of every evaluation of the 1 results files shown"
        in (sample_st / "REPORT.md").read_text()
    )
    path = sample_st / "results" / "ST-eefd72d0d5.json"
    results = json.loads(path.read_text())
    pgd = {ev["eps"]: ev for ev in results["evaluations"] if ev["attack"] == "pgd" and ev["norm"] == "Linf"}
    labels = ("eps", "eps_value", "settings")
    one, eight = ({k: pgd[eps][k] for k in labels} for eps in ("1/255", "8/255"))
    pgd["1/255"].update(eight)
    pgd["8/255"].update(one)
    path.write_text(json.dumps(results))
    (sample_st / "REPORT.md").unlink()
    result = CliRunner().invoke(cli, ["report", str(sample_st), "--verify"])
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    assert re.search(r"ST-eefd72d0d5.json (\(check seed \d+\))?: ?pgd Linf ", errors[0]), result.output
    assert "than its weights have" in errors[0]
    assert not (sample_st / "REPORT.md").exists()
    # the report alone shows the swapped figures, and says in its header that they were not measured again
    assert report(sample_st).exit_code == 0
    assert (
        "Not measured again: the figures of the 1 results files shown are read from them"
        in (sample_st / "REPORT.md").read_text()
    )


def test_report_verify_cut_by_its_time_limit_says_partial_and_names_what_it_left(sample_st, monkeypatch):
    """`report --verify --max-minutes`: a limit already reached (the clock's deadline injected as past) leaves every
    attack unmeasured; the output and the report's header say PARTIAL and name them, never "every one agreed"."""
    from sam_bench.runtime import clock

    monkeypatch.setattr(clock, "stop_at", lambda minutes, started=None: None if minutes is None else 0.0)
    result = CliRunner().invoke(cli, ["report", str(sample_st), "--verify", "--max-minutes", "5"])
    assert result.exit_code == 0, result.output
    assert "PARTIAL: the time limit left 7 evaluations unmeasured: results/ST-eefd72d0d5.json: pgd " in result.output
    header = (sample_st / "REPORT.md").read_text()
    assert "Measured again, PARTIAL:" in header and "the time limit left 7 unmeasured: `results/ST-" in header
    assert "every one agreed" not in header
