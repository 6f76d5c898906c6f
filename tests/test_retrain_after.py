"""tools/retrain_after.py: a lost run trained again in full after a replayed history, into a folder where
`reproduce` resumes and evaluates it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tiny_training import tiny

from sam_bench import files
from sam_bench.training.loop import train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import retrain_after  # noqa: E402


def test_a_retrain_after_a_replayed_history_stops_where_the_run_did_and_comes_back_whole(tmp_path, capsys):
    recorded = tmp_path / "decisive" / "runs" / "SAM-0.1-x"
    train(tiny(method="sam", rho=0.1, epochs=3), recorded, progress=False)
    other = tmp_path / "decisive" / "runs" / "ST-y"
    train(tiny(epochs=1, seed=3), other, progress=False)
    into, work = tmp_path / "retrained", tmp_path / "work"
    args = [str(recorded), "--into", str(into), "--work", str(work), "--after", str(other)]

    assert retrain_after.main([*args, "--stop-after-epochs", "2"]) == 0
    line = json.loads(capsys.readouterr().out)
    out = into / "runs" / "SAM-0.1-x"
    assert line["into"] == str(out) and line["after"] == [str(other)] and line["epochs_done"] == 2
    assert (work / "SAM-0.1-x-after-ST-y" / "log.jsonl").is_file()  # the history was trained first
    assert retrain_after.main([*args, "--stop-after-epochs", "2"]) == 0  # reached its stop: left as it is
    assert json.loads(capsys.readouterr().out)["already"] is True

    # the rest in a process of its own, as reproduce resumes it: the weights are the recorded run's (eager
    # steps on a CPU do not depend on what the process trained before)
    meta = train(tiny(method="sam", rho=0.1, epochs=3), out, resume=True, progress=False)
    assert meta["status"] == "complete"
    assert meta["weights_sha256"] == files.read_json(recorded / "metadata.json")["weights_sha256"]


def test_a_retrain_cut_short_before_its_stop_is_trained_again_from_the_start(tmp_path, capsys):
    recorded = tmp_path / "decisive" / "runs" / "ST-x"
    train(tiny(epochs=2), recorded, progress=False)
    out = tmp_path / "retrained" / "runs" / "ST-x"
    train(tiny(epochs=2), out, stop_after_epochs=1, progress=False)  # a retrain stopped mid-way (a time limit)
    args = [str(recorded), "--into", str(tmp_path / "retrained"), "--work", str(tmp_path / "work")]
    assert retrain_after.main(args) == 0
    line = json.loads(capsys.readouterr().out)
    assert "already" not in line and line["status"] == "complete"
    assert line["weights_sha256"] == line["recorded_weights_sha256"]
    assert len((out / "log.jsonl").read_text().splitlines()) == 2


def test_a_folder_without_a_run_is_one_line(tmp_path, capsys):
    args = [str(tmp_path / "nothing"), "--into", str(tmp_path / "into"), "--work", str(tmp_path / "work")]
    assert retrain_after.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("retrain_after: ") and len(err.strip().splitlines()) == 1


# A compiled AT run recorded after a SAM run, retrained with and without that history replayed:
# tests/test_compile_history.py, which shares its compiled runs with the compile-history test.
