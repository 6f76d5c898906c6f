"""tools/autoattack_tolerance.py, the measurement behind the spot check's chances (benchmarks/*tolerance.log): it
re-runs a sample of both strata of a committed results file as the spot check does and counts the images whose
outcome differs from the file; a file whose recorded robust images the weights do not hold shows them differing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from sam_bench.evaluation import outcomes

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "reproductions" / "paper-cifar10-sample" / "results" / "ST-eefd72d0d5.json"
sys.path.insert(0, str(ROOT / "tools"))

import autoattack_tolerance  # noqa: E402


def measured(results: Path, out: Path, *options: str) -> dict:
    autoattack_tolerance.main([str(results), "--evaluation", "pgd Linf 8/255", "--out", str(out), *options])
    return json.loads(out.read_text().splitlines()[-1])


def test_a_faithful_file_samples_both_strata_as_asked(tmp_path):
    record = measured(SAMPLE, tmp_path / "log", "--images", "3", "--fooled-images", "5", "--runs", "2")
    assert [run["sampled"] for run in record["runs"]] == [{"recorded robust": 3, "recorded fooled": 5}] * 2
    assert record["device"] == "cpu" and record["sampled"] == 16
    for run in record["runs"]:
        assert len(run["differing images"]) == sum(run["differing"].values())
        # the retries only ever bring an image recorded fooled back to its record
        assert run["differing"]["recorded fooled"] <= run["differing at the first try"]["recorded fooled"]
        assert run["differing"]["recorded robust"] == run["differing at the first try"]["recorded robust"]


def test_images_recorded_robust_that_the_weights_do_not_hold_differ(tmp_path):
    results = json.loads(SAMPLE.read_text())
    ev = next(e for e in results["evaluations"] if e["attack"] == "pgd" and e["eps"] == "8/255")
    clean, robust = outcomes.decode(results["clean_outcomes"]), outcomes.decode(ev["outcomes"])
    forged = clean.copy()  # every clean-correct image recorded robust at 8/255
    ev["outcomes"], ev["robust_acc"] = outcomes.encode(forged), float(forged.mean())
    path = tmp_path / SAMPLE.name
    path.write_text(json.dumps(results))
    record = measured(path, tmp_path / "log", "--images", "12", "--fooled-images", "0", "--runs", "1")
    run = record["runs"][0]
    # the true robust share among the clean-correct images is small: most of the forged stratum is fooled again
    assert (clean & robust).sum() < 0.5 * clean.sum()
    assert run["differing"]["recorded robust"] >= 6, run
    assert all(forged[i] and not robust[i] for i in run["differing images"])  # only images the weights do not hold


def test_a_gpu_asked_for_where_there_is_none_is_one_line(tmp_path):
    if __import__("torch").cuda.is_available():
        pytest.skip("a CUDA device is here")
    with pytest.raises(SystemExit, match="^error: --device cuda asked for, but torch sees no CUDA device here$"):
        measured(SAMPLE, tmp_path / "log", "--device", "cuda")
    assert not (tmp_path / "log").exists()
