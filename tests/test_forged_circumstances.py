"""What a forger tries next: a results file edited by 1 point, every figure re-derived, with the circumstances it
records forged too (the device, the kernels, the processor, the threads, torch, chunks resumed from another process,
the attack's seed) so that a check would pick a looser rule. No field of a file loosens its check
(sam_bench/evaluation/check_rules.py): each such forgery is refused by `verify`, `leaderboard add` and
`report --verify`, and the refusal names the rule it was held to.

On the committed sample reproduction (1/4-width models on the bundled sample, weights in git): fresh evaluations
with per-image draws of its ST model on 500 images, and copies of its committed ST results file (recorded before
per-image draws; a copy that is edited is no longer one of those files, so it is held to the strictest rule)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.data import load_dataset
from sam_bench.evaluation import outcomes, per_class

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "reproductions" / "paper-cifar10-sample"
COMMITTED = SAMPLE / "results" / "ST-eefd72d0d5.json"
MODEL = "SamBench2026Standard_PRN18-w0.25_sample"
N = 500  # the bundled sample's test images: 1 point is 5 of them


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> Path:
    """Faithful evaluations with per-image draws, recorded here: PGD-10 and APGD-CE at Linf 8/255 on 500 images."""
    w = tmp_path_factory.mktemp("fresh")
    common = ["--dataset", "cifar10-sample", "--eps", "8/255", "--n-examples", N, "--device", "cpu", "--quiet"]
    for name, attack in (
        ("pgd", ["--attack", "pgd"]),
        ("aa", ["--attack", "autoattack", "--version", "custom", "--attacks", "apgd-ce"]),
    ):
        result = invoke("evaluate", MODEL, *attack, *common, "--out", w / f"{name}.json")
        assert result.exit_code == 0, result.output
    return w


def moved(results: dict, which: int, up: bool, images: int) -> None:
    """`images` clean-correct images of evaluation `which` moved from fooled to robust (up) or back, every figure
    re-derived from the outcomes (as a careful forger would)."""
    ev = results["evaluations"][which]
    clean = outcomes.decode(results["clean_outcomes"])
    robust = outcomes.decode(ev["outcomes"])
    pool = np.flatnonzero(clean[: len(robust)] & (robust != up))
    robust[pool[:images]] = up
    ev["outcomes"] = outcomes.encode(robust)
    ev["robust_acc"] = float(robust.mean())
    labels = load_dataset(results["dataset"]["name"]).y_test[: len(robust)]
    ev["per_class_robust_acc"] = per_class.accuracies(robust, labels, 10)  # CIFAR-10
    if ev["attack"] == "autoattack":  # its breakdown still falls from clean to the robust accuracy
        ev["attack_reported_acc"] = ev["robust_acc"]
        ev["breakdown"] = {k: v if k == "clean" else max(v, ev["robust_acc"]) for k, v in ev["breakdown"].items()}
        ev["breakdown"][ev["settings"]["attacks"][-1]] = ev["robust_acc"]
        results["robustbench"] = None


def _resumed(results: dict) -> None:
    for ev in results["evaluations"]:
        ev["chunks"]["resumed"] = ev["chunks"]["count"]


FIELDS = {
    "device": lambda r: r["environment"].update(device="cuda", device_name="NVIDIA H200"),
    "kernels": lambda r: r["environment"].update(cpu_isa={"aten": "AVX2", "onednn_max_cpu_isa": "SSE41"}),
    "processor": lambda r: r["environment"].update(cpu_model="another processor (family 1, model 1, stepping 1)"),
    "threads": lambda r: r["environment"].update(cpu_threads=10**6),
    "torch": lambda r: r["environment"].update(torch_version="2.0.0+cu118"),
    "resumed chunks": _resumed,
    "seed": lambda r: [ev["settings"].update(seed=7) for ev in r["evaluations"] if "seed" in ev["settings"]],
}


def forged(source: Path, out: Path, which: int, fields, up: bool = True) -> Path:
    results = json.loads(source.read_text())
    moved(results, which, up, 5 if results["dataset"]["n_examples"] == N else 2)  # 1 point
    for field in fields:
        FIELDS[field](results)
    out.write_text(json.dumps(results))
    return out


def refusal(result) -> str:
    """The refusal's one line (exit 1)."""
    assert result.exit_code == 1, result.output
    return result.output


@pytest.mark.parametrize("field", list(FIELDS))
def test_a_one_point_inflation_with_a_forged_circumstance_is_refused_by_verify(fresh, tmp_path, field):
    """PGD at Linf 8/255 up by 1 point (5 of 500 images) with one field forged: the field can only pick a rule
    that still refuses it; one the checking machine cannot reproduce gives the measured rate of other arithmetic."""
    path = forged(fresh / "pgd.json", tmp_path / "pgd.json", 0, [field])
    text = refusal(invoke("verify", path, "--quiet"))
    assert "pgd Linf 8/255: of " in text and "states more robustness than its weights have" in text
    rule = "exact replay" if field == "seed" else "other arithmetic"
    assert f"held to the rule '{rule}'" in text


def test_a_one_point_deflation_on_a_forged_gpu_is_refused_by_verify(fresh, tmp_path):
    path = forged(fresh / "pgd.json", tmp_path / "pgd.json", 0, ["device"], up=False)
    text = refusal(invoke("verify", path, "--quiet"))
    assert "it records fooled, pgd run again on the weights leaves correct" in text
    assert "held to the rule 'other arithmetic': recorded on cuda, checked on cpu" in text


def test_autoattack_inflated_with_every_circumstance_forged_is_refused_by_verify_and_add(fresh, tmp_path):
    path = forged(fresh / "aa.json", tmp_path / "aa.json", 0, list(FIELDS))
    text = refusal(invoke("verify", path, "--quiet"))
    assert "autoattack Linf 8/255 (custom: apgd-ce): of " in text and "held to the rule 'other arithmetic'" in text
    boards = tmp_path / "boards"
    text = refusal(invoke("leaderboard", "add", path, "--leaderboard-dir", boards))
    assert "states more robustness than its weights have" in text
    assert not list(boards.glob("*/*/*.json"))


@pytest.mark.parametrize("fields", [["device"], list(FIELDS)], ids=["device", "every field"])
def test_a_copy_of_a_file_recorded_before_per_image_draws_is_held_to_the_strictest_rule(tmp_path, fields):
    """The committed sample file's PGD at Linf 8/255 up by 1 point (2 of 200 images), its device (and the rest)
    forged: no longer the listed file, it is held to the exact replay of a CPU's chunk draws whatever it names, and
    refused by `verify` and `leaderboard add`."""
    path = forged(COMMITTED, tmp_path / COMMITTED.name, 4, fields)
    assert json.loads(path.read_text())["evaluations"][4]["eps"] == "8/255"
    text = refusal(invoke("verify", path, "--quiet"))
    assert "pgd Linf 8/255: of " in text and "held to the rule 'strictest'" in text
    boards = tmp_path / "boards"
    text = refusal(invoke("leaderboard", "add", path, "--leaderboard-dir", boards))
    assert "states more robustness than its weights have" in text and not list(boards.glob("*/*/*.json"))


def test_report_verify_refuses_a_forged_gpu_file_in_a_reproduction(tmp_path):
    """`report --verify` of the sample reproduction (ST alone) whose results file was inflated by 1 point and says
    it was measured on a GPU: refused in one line, no report written."""
    out = tmp_path / "paper-cifar10-sample"
    shutil.copytree(SAMPLE, out)
    plan = json.loads((out / "plan.json").read_text())
    plan["models"] = [m for m in plan["models"] if m["name"] == "ST"]
    (out / "plan.json").write_text(json.dumps(plan))
    (out / "REPORT.md").unlink()
    path = out / "results" / COMMITTED.name
    forged(COMMITTED, path, 4, ["device"])
    text = refusal(invoke("report", out, "--verify"))
    assert [line for line in text.splitlines() if line.startswith("Error:")] and "pgd Linf 8/255" in text
    assert "held to the rule 'strictest'" in text and not (out / "REPORT.md").exists()


def test_autoattack_in_a_copy_recorded_before_is_replayed_from_its_chunks_whatever_it_names(tmp_path):
    """The committed file's standard AutoAttack at Linf 8/255 up by 1 point (2 images moved to robust), said to be
    a GPU's: its first attacks are replayed whole from the recorded chunk whatever device and kernels it names."""
    results = json.loads(COMMITTED.read_text())
    results["evaluations"] = [ev for ev in results["evaluations"] if ev["attack"] in ("clean", "autoattack")]
    source = tmp_path / "source.json"
    source.write_text(json.dumps(results))
    path = forged(source, tmp_path / COMMITTED.name, 1, ["device", "kernels"])
    text = refusal(invoke("verify", path, "--quiet"))
    assert "autoattack Linf 8/255: of " in text
    assert "autoattack (standard: apgd-ce, apgd-t, fab-t, square) run again" in text
    assert "replayed exactly as the recorded run ran it" in text and "held to the rule 'strictest'" in text


def test_a_copy_that_claims_per_image_draws_is_re_run_from_them_and_refused(tmp_path):
    """The committed file's PGD at Linf 8/255 up by 1 point, claiming per-image draws it never made and a GPU: its
    re-run draws per image, which its recorded outcomes did not come from: its images differ beyond the rate of other
    arithmetic, the moved ones and others."""
    from sam_bench.attacks import draws

    results = json.loads(COMMITTED.read_text())
    for ev in results["evaluations"]:
        if ev["attack"] in ("pgd", "autoattack"):
            ev["settings"]["draws"] = draws.SCHEME
    source = tmp_path / "source.json"
    source.write_text(json.dumps(results))
    path = forged(source, tmp_path / COMMITTED.name, 4, ["device"])
    text = refusal(invoke("verify", path, "--quiet"))  # the first of its PGD evaluations to disagree
    assert "pgd Linf " in text and "held to the rule 'other arithmetic'" in text
