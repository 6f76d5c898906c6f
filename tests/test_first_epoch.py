"""tools/first_epoch.py: a lost run's first epoch trained again from its recorded config tells whether a full
retrain can come back bit for bit."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from tiny_training import tiny

from sam_bench.training.loop import train

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import first_epoch  # noqa: E402


def test_a_run_retrains_its_first_epoch_to_the_bit_and_a_changed_record_does_not(tmp_path, capsys):
    run = tmp_path / "runs" / "SAM-0.1-x"
    train(tiny(method="sam", rho=0.1, epochs=2), run, progress=False)
    assert first_epoch.main([str(run), "--work", str(tmp_path / "work")]) == 0  # in a process of its own
    line = json.loads(capsys.readouterr().out)
    assert line["equal"] and line["retrained_loss"] == line["recorded_loss"]
    assert line["environment"]["cpu_model"] == line["recorded_environment"]["cpu_model"]
    other = tmp_path / "runs" / "ST-y"  # a history replayed first, in the run's own process
    train(tiny(epochs=1, seed=3), other, progress=False)
    assert first_epoch.main([str(run), "--work", str(tmp_path / "work"), "--after", str(other)]) == 0
    replayed = json.loads(capsys.readouterr().out)
    assert replayed["after"] == [str(other)] and (tmp_path / "work" / "SAM-0.1-x-after-ST-y" / "log.jsonl").is_file()

    log = run / "log.jsonl"  # a record this machine does not reproduce: its first loss one ulp away
    first, *rest = log.read_text().splitlines()
    epoch = json.loads(first)
    epoch["train_loss"] = math.nextafter(epoch["train_loss"], math.inf)
    log.write_text("\n".join([json.dumps(epoch), *rest]) + "\n")
    assert first_epoch.main([str(run), "--work", str(tmp_path / "work"), "--in-this-process"]) == 0
    assert json.loads(capsys.readouterr().out)["equal"] is False


def test_a_folder_without_a_run_is_one_line(tmp_path, capsys):
    assert first_epoch.main([str(tmp_path), "--work", str(tmp_path / "work"), "--in-this-process"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("first_epoch: ") and len(err.strip().splitlines()) == 1
