"""gpu_window.py and the relay's reproduce call: every call is told the minutes left in the GPU window; the reproduce
call, its packing and the `send` calls for its batches end before the window does and within the 10-minute command
limit, a call that could not is refused in one line before it starts anything, and the reproduce call names the
code it runs by the commit on its command line (SAM_BENCH_COMMIT) or is refused."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
OPS = ROOT / "ops" / "remote-gpu"
RELAY = OPS / "gpu_relay.sh"

spec = importlib.util.spec_from_file_location("gpu_window", OPS / "gpu_window.py")
assert spec and spec.loader
gw = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gw)

LEFTS = [x / 4 for x in range(0, 30 * 4 + 1)]  # 0, 0.25, ..., 30 minutes left


def plan(left, elapsed=0.0, batches=gw.BATCHES, at_most=None):
    try:
        return gw.reproduce_minutes(left, elapsed, batches, at_most)
    except gw.TooLittleTime:
        return None


def test_a_full_window_gives_the_longest_call_a_command_allows():
    assert gw.reproduce_minutes(gw.WINDOW - gw.MACHINE_START) == gw.COMMAND_LIMIT - gw.PACK == 9.0


@pytest.mark.parametrize("batches", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("elapsed", [0.0, 0.25, 1.75, 5.0])  # binary fractions: the sums below are exact
def test_reproduce_its_packing_and_its_sends_fit_the_window_and_the_command_limit(batches, elapsed):
    minutes = [plan(left, elapsed, batches) for left in LEFTS]
    started = [m for m in minutes if m is not None]
    assert started and None in minutes
    # refused below some number of minutes left, sized from there on, never longer with less left
    first = minutes.index(started[0])
    assert all(m is None for m in minutes[:first]) and all(m is not None for m in minutes[first:])
    assert started == sorted(started) and min(started) >= gw.MIN_REPRODUCE
    for left, m in zip(LEFTS, minutes):
        if m is not None:
            assert elapsed + m + gw.PACK <= gw.COMMAND_LIMIT
            assert gw.GAP + elapsed + m + gw.PACK + (batches - 1) * gw.SEND <= left
    # with a few minutes left, the window decides; with plenty, the command limit
    assert started[0] < started[-1] == round(gw.COMMAND_LIMIT - elapsed - gw.PACK, 2)
    # more batches to bring back: a shorter call, or none
    assert all((plan(left, elapsed, batches + 1) or 0) <= (plan(left, elapsed, batches) or 0) for left in LEFTS)


def test_a_shorter_call_may_be_asked_for_but_never_a_longer_one():
    assert gw.reproduce_minutes(30, at_most=0.05) == 0.05
    assert gw.reproduce_minutes(30, at_most=20) == 9.0
    assert gw.reproduce_minutes(6, at_most=20) == gw.reproduce_minutes(6)
    with pytest.raises(gw.TooLittleTime):  # asking for little does not make too little time enough
        gw.reproduce_minutes(2, at_most=0.05)
    with pytest.raises(ValueError):
        gw.reproduce_minutes(30, at_most=0)
    with pytest.raises(ValueError):
        gw.reproduce_minutes(30, batches=0)


def test_too_little_time_is_refused_in_one_line():
    for refuse in (lambda: gw.reproduce_minutes(3, batches=3), lambda: gw.call_fits(1.2)):
        with pytest.raises(gw.TooLittleTime) as refused:
            refuse()
        assert "\n" not in str(refused.value) and str(refused.value).startswith("not started")
    gw.call_fits(1.5)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            gw.reproduce_minutes(bad)
    proc = subprocess.run(
        [sys.executable, str(OPS / "gpu_window.py"), "reproduce", "--left", "2"], capture_output=True, text=True
    )
    assert proc.returncode == gw.REFUSED == 4
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1 and "not started" in proc.stderr
    proc = subprocess.run(
        [sys.executable, str(OPS / "gpu_window.py"), "reproduce", "--left", "13", "--batches", "3"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0 and float(proc.stdout) == gw.reproduce_minutes(13, batches=3)


# ---------------------------------------------------------------------------------------------------
# ops/remote-gpu/gpu_relay.sh


def relay(tmp_path, *args, python=sys.executable, commit=None):
    home, out, checkout = tmp_path / "home", tmp_path / "out", tmp_path / "checkout"
    shutil.rmtree(out, ignore_errors=True)  # $OUT is emptied before each command, as on the device
    for d in (home, out, checkout):
        d.mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "OUT": str(out), "PYTHON": python}
    if commit is not None:
        env["SAM_BENCH_COMMIT"] = commit
    if "PYTHONPATH" in os.environ:  # the checkout's sam_bench, where the tests run with it on the path
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    proc = subprocess.run(["bash", str(RELAY), *args], cwd=checkout, env=env, capture_output=True, text=True)
    return proc, out, checkout


@pytest.mark.parametrize(
    "call",
    [
        ["reproduce", "--left", "2", "paper-cifar10", "smoke", "--data-dir", "~/c10"],
        ["data", "--left", "1.2"],
        ["weights", "--left", "1.2"],
        ["inbox", "--left", "0.9"],
    ],
)
def test_the_relay_refuses_a_call_that_cannot_return_in_time(tmp_path, call):
    proc, out, checkout = relay(tmp_path, *call, commit="abc")
    assert proc.returncode == 4, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("relay: not started")
    assert not any(out.iterdir()) and not any(checkout.iterdir()) and not any((tmp_path / "home").iterdir())


def test_the_relay_wants_the_minutes_left_and_the_commit_it_runs(tmp_path):
    proc, out, checkout = relay(tmp_path, "reproduce", "paper-cifar10", "smoke", "--data-dir", "x", commit="abc")
    assert proc.returncode == 2 and "--left" in proc.stderr
    proc, _, _ = relay(tmp_path, "reproduce", "--left", "13", "paper-cifar10", "smoke", "--max-minutes", "5")
    assert proc.returncode == 2 and "--max-minutes" in proc.stderr
    # no commit named: refused before anything is unpacked, run or packed (the runs would record no code)
    proc, out, checkout = relay(tmp_path, "reproduce", "--left", "13", "paper-cifar10", "smoke", "--data-dir", "x")
    assert proc.returncode == 2 and proc.stderr.startswith("relay: reproduce needs SAM_BENCH_COMMIT=")
    assert not any(out.iterdir()) and not any(checkout.iterdir()) and not any((tmp_path / "home").iterdir())


def test_the_reproduce_call_runs_reproduce_for_the_minutes_left_and_brings_back_what_it_changed(tmp_path):
    """reproduce is a stand-in that writes a reproduction's files and says how it was called, with
    SAM_BENCH_COMMIT; everything else (pack.py, unpack.py, gpu_window.py) is the relay's own. What comes back: what
    reproduce changed, a finished later seed's own weights, an unfinished run's checkpoint; not a first seed's run
    weights (its zoo entry comes back), nor a finished run's spent checkpoint, nor what it did not change."""
    stand_in = tmp_path / "python"
    runs = "reproductions/paper-cifar10-smoke/runs"
    plan_json = (
        '{"models": [{"name": "ST", "key": "1", "primary": true}, {"name": "ST", "key": "3", "primary": false}]}'  # noqa: E501
    )
    stand_in.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -m ] && [ "$2" = sam_bench ] && [ "$3" = reproduce ]; then\n'
        '  echo "stand-in $* code=$SAM_BENCH_COMMIT path=$PYTHONPATH"\n'
        f"  mkdir -p {runs}/ST-1 {runs}/ST-3 {runs}/SAM-2 model_zoo\n"
        f"  echo '{plan_json}' > reproductions/paper-cifar10-smoke/plan.json\n"
        f'  echo \'{{"status": "complete"}}\' > {runs}/ST-1/metadata.json; echo zoo > model_zoo/ST-1.safetensors\n'
        f"  echo fp32 > {runs}/ST-1/model.safetensors; echo spent > {runs}/ST-1/checkpoint.pt\n"
        f'  echo \'{{"status": "complete"}}\' > {runs}/ST-3/metadata.json; echo seed > {runs}/ST-3/model.safetensors\n'
        f'  echo \'{{"status": "running"}}\' > {runs}/SAM-2/metadata.json; echo ckpt > {runs}/SAM-2/checkpoint.pt\n'
        "  exit 0\n"
        "fi\n"
        f'exec {sys.executable} "$@"\n'
    )
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IEXEC)
    checkout = tmp_path / "checkout"
    for folder in ("reproductions", "model_zoo", "leaderboards"):
        (checkout / folder).mkdir(parents=True)
    (checkout / "leaderboards" / "old.json").write_text("{}")  # in the tree before: not brought back
    proc, out, _ = relay(
        tmp_path, "reproduce", "--left", "13", "paper-cifar10", "smoke", "--data-dir", "x",
        python=str(stand_in), commit="0123abc",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    called = re.search(
        r"stand-in -m sam_bench reproduce paper-cifar10 --scale smoke --max-minutes (\S+) (.*)$", proc.stdout, re.M
    )
    assert called, proc.stdout
    # sized from the window, less what the call had spent before reproduce started
    assert gw.reproduce_minutes(13) - 0.25 <= float(called.group(1)) <= gw.reproduce_minutes(13)
    # the recipe's own folder named to reproduce (its default would be refused there), the commit and .vendor passed
    assert called.group(2).startswith("--quiet --out reproductions/paper-cifar10-smoke --data-dir x code=0123abc")
    path = ".vendor" + (":" + os.environ["PYTHONPATH"] if "PYTHONPATH" in os.environ else "")
    assert called.group(2).endswith(f"path={path}")
    assert "batch 1 of 1 in $OUT" in proc.stdout
    landed = tmp_path / "landed"
    unpack = subprocess.run(
        [sys.executable, str(OPS / "unpack.py"), str(out / "batch-1"), "--into", str(landed)],
        capture_output=True,
        text=True,
    )
    assert unpack.returncode == 0, unpack.stderr
    got = sorted(p.relative_to(landed).as_posix() for p in landed.rglob("*") if p.is_file())
    assert [g for g in got if not g.startswith("reproductions/relay-logs/")] == [
        "model_zoo/ST-1.safetensors",
        "reproductions/paper-cifar10-smoke/plan.json",
        f"{runs}/SAM-2/checkpoint.pt",
        f"{runs}/SAM-2/metadata.json",
        f"{runs}/ST-1/metadata.json",
        f"{runs}/ST-3/metadata.json",
        f"{runs}/ST-3/model.safetensors",
    ]
    (log,) = landed.glob("reproductions/relay-logs/*-paper-cifar10-smoke.log")
    assert "code 0123abc" in log.read_text().splitlines()[0]
    # `send` brings back a batch the call packed, and says so where there is none
    proc, out, _ = relay(tmp_path, "send", "1")
    assert proc.returncode == 0 and (out / "batch-1").is_dir()
    proc, out, _ = relay(tmp_path, "send", "2")
    assert proc.returncode == 3 and "no batch 2" in proc.stderr and not any(out.iterdir())
