"""gpu_search_math.py: AutoAttack searching in TF32 and in true fp32 on the same
images, side by side, every image's outcome compared. On a CPU TF32 does not exist, so both searches must
find exactly the same images, round after round: what the GPU window's record is read against."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
OPS = ROOT / "ops" / "remote-gpu"
TOOL = OPS / "gpu_search_math.py"
MODEL = "SamBench2026AT_PRN18-w0.125_Linf-8"  # the zoo's AT model whose weights the window carries


def run(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), *args], cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_both_searches_are_compared_image_by_image(tmp_path):
    out = tmp_path / "search-math.json"
    done = run(MODEL, "--n-examples", "16", "--rounds", "2", "--attacks", "apgd-ce", "--dataset", "cifar10-sample",
               "--device", "cpu", "--out", str(out), "--note", "a test")  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads(out.read_text())
    assert record["complete"] and record["note"] == "a test"
    modes = record["modes"]
    assert [len(modes[m]["seconds"]) for m in ("tf32", "ieee")] == [2, 2]
    assert modes["tf32"]["repeatable"] and modes["ieee"]["repeatable"]
    assert modes["tf32"]["robust"] == modes["ieee"]["robust"] <= record["clean_correct"] <= 16
    assert record["robust_only_when_searching_in_tf32"] == record["robust_only_when_searching_in_ieee"] == []
    assert record["environment"]["device"] == "cpu" and record["model"]["weights_sha256"]
    assert "apgd-ce" in record["what"] and "images that differ: 0 robust only in tf32" in done.stdout


def test_the_record_is_written_after_every_run_so_a_call_stopped_part_way_brings_back_what_it_measured():
    import gpu_search_math

    saved: list[dict] = []
    gpu_search_math.measure(MODEL, "cifar10-sample", None, "cpu", 8, 1, "8/255", ["apgd-ce"], None, saved.append)
    assert [r["complete"] for r in saved] == [False, True]
    assert saved[0]["modes"]["tf32"]["robust"] is not None and saved[0]["modes"]["ieee"]["seconds"] == []
    assert "robust_only_when_searching_in_tf32" not in saved[0]  # nothing to compare with yet
    assert saved[1]["robust_only_when_searching_in_tf32"] == []


def test_bad_input_is_one_line():
    done = run(MODEL, "--rounds", "0", "--out", "x.json")
    assert done.returncode != 0 and "--rounds must be at least 1" in done.stderr and "Traceback" not in done.stderr
    done = run("NoSuchModel2026", "--device", "cpu", "--dataset", "cifar10-sample", "--out", "x.json")
    assert done.returncode != 0 and done.stderr.startswith("gpu_search_math: ") and "Traceback" not in done.stderr
