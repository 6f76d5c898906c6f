"""gpu_window.py and the relay's use of it (WINDOWS.md): every call is told the minutes left in
the GPU window and plans by them; a stint and the `send` calls for its batches end before the window
does and within the 10-minute command limit, and a call that could not is refused in one line before it
starts anything. The GPU tests' call runs pytest with the carried packages on its path and without
setup.cfg's addopts."""

from __future__ import annotations

import importlib.util
import json
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

LEFTS = [x / 4 for x in range(0, 30 * 4 + 1)]  # 0, 0.25, ..., 30 minutes left (windows were 30 minutes; 15 today)


def plan(left, elapsed=0.0, batches=gw.BATCHES, at_most=None):
    try:
        return gw.stint_minutes(left, elapsed, batches, at_most)
    except gw.TooLittleTime:
        return None


def test_a_full_window_gives_the_longest_stint_a_command_allows():
    assert gw.stint_minutes(gw.WINDOW) == gw.COMMAND_LIMIT - gw.PACK == 9.0


@pytest.mark.parametrize("batches", [1, 3, 6])
@pytest.mark.parametrize("elapsed", [0.0, 0.4, 2.0])
def test_stints_shrink_as_the_window_runs_out_and_are_then_refused(batches, elapsed):
    stints = [plan(left, elapsed, batches) for left in LEFTS]
    started = [s for s in stints if s is not None]
    assert started and None in stints
    # refused below some number of minutes left, planned from there on, never longer with less left
    first = stints.index(started[0])
    assert all(s is None for s in stints[:first]) and all(s is not None for s in stints[first:])
    assert started == sorted(started)
    assert min(started) >= gw.MIN_STINT
    # with a few minutes left, the window decides; with plenty, the command limit
    assert started[0] < started[-1] == round(gw.COMMAND_LIMIT - elapsed - gw.PACK, 2)


@pytest.mark.parametrize("batches", [1, 2, 3, 5, 8])
@pytest.mark.parametrize("elapsed", [0.0, 0.3, 1.7, 5.0])
def test_a_stint_its_packing_and_its_sends_fit_the_window_and_the_command_limit(batches, elapsed):
    for left in LEFTS:
        stint = plan(left, elapsed, batches)
        if stint is None:
            continue
        assert elapsed + stint + gw.PACK <= gw.COMMAND_LIMIT
        assert gw.GAP + elapsed + stint + gw.PACK + (batches - 1) * gw.SEND <= left
    # more batches to bring back: a shorter stint, or none
    assert all((plan(left, elapsed, batches + 1) or 0) <= (plan(left, elapsed, batches) or 0) for left in LEFTS)


def test_a_shorter_stint_may_be_asked_for_but_never_a_longer_one():
    assert gw.stint_minutes(30, at_most=0.05) == 0.05
    assert gw.stint_minutes(30, at_most=20) == gw.COMMAND_LIMIT - gw.PACK == 9.0
    assert gw.stint_minutes(6, at_most=20) == gw.stint_minutes(6)
    with pytest.raises(gw.TooLittleTime):  # asking for little does not make too little time enough
        gw.stint_minutes(3, at_most=0.05)
    with pytest.raises(ValueError):
        gw.stint_minutes(30, at_most=0)


def test_too_little_time_is_refused_in_one_line():
    for refuse in (lambda: gw.stint_minutes(3.5), lambda: gw.test_seconds(1.5), lambda: gw.call_fits(1.2)):
        with pytest.raises(gw.TooLittleTime) as refused:
            refuse()
        assert "\n" not in str(refused.value) and str(refused.value).startswith("not started")
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            gw.stint_minutes(bad)
    proc = subprocess.run(
        [sys.executable, str(OPS / "gpu_window.py"), "work", "--left", "3.5"], capture_output=True, text=True
    )
    assert proc.returncode == gw.REFUSED == 4
    assert proc.stdout == "" and len(proc.stderr.splitlines()) == 1 and "not started" in proc.stderr


def test_the_gpu_tests_stop_before_the_window_or_the_command_limit():
    for left in LEFTS:
        for elapsed in (0.0, 1.0):
            try:
                seconds = gw.test_seconds(left, elapsed)
            except gw.TooLittleTime:
                assert min(gw.COMMAND_LIMIT - elapsed, left - gw.GAP - elapsed) - gw.TEST_MARGIN < gw.MIN_TEST
                continue
            assert seconds >= gw.MIN_TEST * 60
            assert elapsed + seconds / 60 + gw.TEST_MARGIN <= gw.COMMAND_LIMIT
            assert gw.GAP + elapsed + seconds / 60 + gw.TEST_MARGIN <= left
            # the plan's share for the first window's tests, never more than the window allows
            assert gw.test_seconds(left, elapsed, at_most=2.5) == min(seconds, 150)
    with pytest.raises(ValueError):
        gw.test_seconds(20, 0, at_most=0)


def test_after_a_stint_the_sends_left_to_make_are_weighed_against_the_window():
    assert "only" not in gw.sends_left(20, 9, 3)
    said = gw.sends_left(4, 2.5, 6, planned=3)
    assert "only 1 fit" in said and "planned for 3" in said and "\n" not in said


# ---------------------------------------------------------------------------------------------------
# ops/remote-gpu/gpu_relay.sh, refusing before it starts anything, and its test call (no stint is run here)


def relay(tmp_path, *args, python=sys.executable):
    home, out, checkout = tmp_path / "home", tmp_path / "out", tmp_path / "checkout"
    shutil.rmtree(out, ignore_errors=True)  # $OUT is emptied before each command, as on the device
    for d in (home, out, checkout):
        d.mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "OUT": str(out), "PYTHON": python}
    if "PYTHONPATH" in os.environ:  # the checkout's sam_bench, where the tests run with it on the path
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    proc = subprocess.run(["bash", str(RELAY), *args], cwd=checkout, env=env, capture_output=True, text=True)
    return proc, out, checkout


@pytest.mark.parametrize(
    "call",
    [
        ["work", "--left", "3.5", "paper-cifar10", "smoke", "--data-dir", "~/c10"],
        ["data", "--left", "1.2"],
        ["inbox", "--left", "0.9"],
        ["test", "--left", "1.5"],
    ],
)
def test_the_relay_refuses_a_call_that_cannot_return_in_time(tmp_path, call):
    proc, out, checkout = relay(tmp_path, *call)
    assert proc.returncode == 4, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("relay: not started")
    assert not any(out.iterdir()) and not any(checkout.iterdir()) and not any((tmp_path / "home").iterdir())


def test_the_relay_wants_the_minutes_left_not_a_stints_minutes(tmp_path):
    proc, _, _ = relay(tmp_path, "work", "paper-cifar10", "smoke", "8.5")
    assert proc.returncode == 2 and "--left" in proc.stderr
    proc, _, _ = relay(tmp_path, "work", "--left", "20", "paper-cifar10", "smoke", "--max-minutes", "5")
    assert proc.returncode == 2 and "--max-minutes" in proc.stderr


def test_the_relays_test_call_has_the_carried_packages_and_no_addopts(tmp_path):
    """pytest itself is a stand-in here that says how it was called."""
    stand_in = tmp_path / "python"
    stand_in.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -m ] && [ "$2" = pytest ]; then echo "PYTHONPATH=$PYTHONPATH"; echo "pytest $*"; exit 0; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IEXEC)
    proc, _, _ = relay(tmp_path, "test", "--left", "20", "--collect-only", python=str(stand_in))
    assert proc.returncode == 0, proc.stderr
    path, called = proc.stdout.splitlines()
    assert path.split("=", 1)[1].split(":")[0] == ".vendor"
    assert "-o addopts= " in called and called.endswith("-m gpu tests/ --collect-only")
    # --at-most sizes the call (ops/remote-gpu/gpu_window.py test) and is not pytest's
    proc, _, _ = relay(tmp_path, "test", "--left", "20", "--at-most", "2.5", "-k", "bf16", python=str(stand_in))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[1].endswith("-m gpu tests/ -k bf16")


def test_the_relays_probe_call_is_sized_from_the_minutes_left(tmp_path):
    """`probe` runs `sam-bench bench --probe` on CUDA into $OUT/probe.json, its budget what the call leaves
    (a stand-in python says how it was called); with too little left it is refused like the test call."""
    stand_in = tmp_path / "python"
    stand_in.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -m ] && [ "$2" = sam_bench ]; then echo "sam_bench $*"; exit 0; fi\n'
        f'exec {sys.executable} "$@"\n'
    )
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IEXEC)
    proc, out, _ = relay(tmp_path, "probe", "--left", "20", "--threads", "1", python=str(stand_in))
    assert proc.returncode == 0, proc.stderr
    called = proc.stdout.splitlines()[0].split()
    assert called[:6] == ["sam_bench", "-m", "sam_bench", "bench", "--probe", "--device"]
    assert called[called.index("--budget-s") + 1] == "180" and called[-2:] == ["--threads", "1"]
    assert called[called.index("--out") + 1] == str(out / "probe.json")
    proc, _, _ = relay(tmp_path, "probe", "--left", "3", python=str(stand_in))
    budget = int(proc.stdout.splitlines()[0].split()[proc.stdout.split().index("--budget-s") + 1])
    assert proc.returncode == 0 and 20 <= budget <= gw.test_seconds(3) - 60
    proc, _, _ = relay(tmp_path, "probe", "--left", "1.5", python=str(stand_in))
    assert proc.returncode == 4 and proc.stderr.startswith("relay: not started")


def test_a_background_stint_is_bound_by_the_window_not_the_command_limit():
    # a full window: the stint runs past the 10-minute limit of the call that started it
    assert gw.background_minutes(gw.WINDOW) > gw.COMMAND_LIMIT
    for left in LEFTS:
        for batches in (1, 3, 5):
            try:
                stint = gw.background_minutes(left, 0.2, batches)
            except gw.TooLittleTime as refused:
                assert "\n" not in str(refused) and str(refused).startswith("not started")
                continue
            assert stint >= gw.MIN_STINT
            # started, packed, brought back by a wait issued just after, and its sends: all before the end
            assert gw.GAP + 0.2 + stint + gw.PACK + gw.GAP + (batches - 1) * gw.SEND <= left + 1e-9
    assert gw.background_minutes(30, at_most=0.05) == 0.05
    with pytest.raises(gw.TooLittleTime):
        gw.background_minutes(3.9)


def test_a_wait_returns_before_the_window_or_the_command_limit():
    for left in LEFTS:
        try:
            seconds = gw.wait_seconds(left, 0.1)
        except gw.TooLittleTime:
            continue
        assert 0.1 + seconds / 60 + gw.TEST_MARGIN <= min(gw.COMMAND_LIMIT, left - gw.GAP) + 1e-9
    assert gw.wait_seconds(30, at_most=0.05) == 3
    with pytest.raises(gw.TooLittleTime):
        gw.wait_seconds(1.0)


def test_a_stint_started_in_the_background_outlives_its_call_and_is_brought_back_by_wait(tmp_path):
    """`start` returns while its stint runs, in a copy of the checkout (the device replaces the checkout on
    every call: here it is emptied between calls); `wait` says it is still running (exit 5) and brings back
    what the stint has finished so far (a finished first seed's zoo entry, not its run weights; a finished later
    seed's own run weights, not published to the zoo; not the run still training), then, once it has packed,
    batch 1 of everything it changed with the stint's console. reproduce is a stand-in that writes those files,
    says so through a pipe and waits for a signal; everything else (unpack.py, pack.py) is the relay's own."""
    stand_in = tmp_path / "python"
    signal = tmp_path / "go-on"
    written = tmp_path / "written"  # a named pipe: its write returns once the test reads it
    os.mkfifo(written)
    runs = "reproductions/smoke/runs"
    # ST-1 is ST's first seed (published: the zoo keeps it), ST-3 its later seed (not published)
    plan = json.dumps(
        {"models": [{"name": "ST", "key": "1", "primary": True}, {"name": "ST", "key": "3", "primary": False}]}
    )
    stand_in.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -m ] && [ "$2" = sam_bench ] && [ "$3" = reproduce ]; then\n'
        "  mkdir -p reproductions/smoke && echo trained > reproductions/smoke/result.txt\n"
        f"  mkdir -p {runs}/ST-1 {runs}/SAM-2 {runs}/ST-3 model_zoo\n"
        f"  echo '{plan}' > reproductions/smoke/plan.json\n"
        f'  echo \'{{"status": "complete"}}\' > {runs}/ST-1/metadata.json; echo zoo > model_zoo/ST-1.safetensors\n'
        f"  echo fp32 > {runs}/ST-1/model.safetensors; echo seed > {runs}/ST-3/model.safetensors\n"
        f'  echo \'{{"status": "complete"}}\' > {runs}/ST-3/metadata.json\n'
        f'  echo \'{{"status": "running"}}\' > {runs}/SAM-2/metadata.json; echo ckpt > {runs}/SAM-2/checkpoint.pt\n'
        f"  echo written > {written}\n"
        f"  while [ ! -f {signal} ]; do sleep 0.1; done\n"
        # its console line only now: tee copies it into the stint's log from a process of its own, and echoed
        # before the first waits, what they bring back would depend on when tee ran
        f'  echo "stand-in $*"; echo \'{{"status": "complete"}}\' > {runs}/SAM-2/metadata.json; exit 0\n'
        "fi\n"
        f'exec {sys.executable} "$@"\n'
    )
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IEXEC)
    checkout = tmp_path / "checkout"
    # the stint runs the copy of the relay in its own copy of the checkout (~/tree)
    for name in ("gpu_relay.sh", "gpu_window.py", "pack.py", "packing.py", "run_files.py", "pack-manifest.schema.json"):
        (checkout / "ops" / "remote-gpu").mkdir(parents=True, exist_ok=True)
        (checkout / "ops" / "remote-gpu" / name).write_bytes((OPS / name).read_bytes())
    for folder in ("reproductions", "model_zoo", "leaderboards"):
        (checkout / folder).mkdir()
    home = tmp_path / "home"
    try:
        proc, out, _ = relay(
            tmp_path, "start", "--left", "20", "paper-cifar10", "smoke", "--data-dir", "x", python=str(stand_in)
        )
        assert proc.returncode == 0, proc.stderr
        assert "started in the background" in proc.stdout
        pid = int((home / "stint.pid").read_text())
        os.kill(pid, 0)  # still running after its call returned
        shutil.rmtree(checkout)  # the next call's checkout is another copy
        proc, _, _ = relay(tmp_path, "start", "--left", "20", "paper-cifar10", "smoke", python=str(stand_in))
        assert proc.returncode == 3 and "still running" in proc.stderr  # one stint at a time
        assert written.read_text() == "written\n"  # the stand-in's files are written: the first wait finds them
        proc, out, _ = relay(tmp_path, "wait", "--left", "20", "--at-most", "0.02", python=str(stand_in))
        assert proc.returncode == 5, proc.stdout + proc.stderr
        assert "still running" in proc.stdout and "collected what the stint finished" in proc.stdout
        collected = tmp_path / "collected"
        unpacked = subprocess.run(
            [sys.executable, str(OPS / "unpack.py"), str(out / "batch-1"), "--into", str(collected)],
            capture_output=True,
            text=True,
        )
        assert unpacked.returncode == 0, unpacked.stderr
        got = sorted(p.relative_to(collected).as_posix() for p in collected.rglob("*") if p.is_file())
        # the finished runs, the first seed's zoo entry, the later seed's own weights, the results and the console
        # so far; SAM-2 is still training: left out
        assert [g for g in got if not g.startswith("reproductions/relay-logs/")] == [
            "model_zoo/ST-1.safetensors",
            "reproductions/smoke/plan.json",
            "reproductions/smoke/result.txt",
            f"{runs}/ST-1/metadata.json",
            f"{runs}/ST-3/metadata.json",
            f"{runs}/ST-3/model.safetensors",
        ]
        assert len(got) == 7
        proc, out, _ = relay(tmp_path, "wait", "--left", "20", "--at-most", "0.02", python=str(stand_in))
        assert proc.returncode == 5 and "nothing finished since the last wait" in proc.stdout
        assert not any(out.iterdir())
        signal.touch()
        proc, out, _ = relay(tmp_path, "wait", "--left", "20", python=str(stand_in))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        called = re.search(
            r"stand-in -m sam_bench reproduce paper-cifar10 --scale smoke --max-minutes (\S+)", proc.stdout
        )
        # sized from the window (less what the start call had spent), past the command limit
        assert called and gw.COMMAND_LIMIT < float(called.group(1)) <= gw.background_minutes(20)
        # the background stint writes the recipe's own folder, named to reproduce (its default is refused there)
        assert "--out reproductions/paper-cifar10-smoke --data-dir x" in proc.stdout
        assert "unbound variable" not in proc.stdout
        assert "batch 1 of 1 in $OUT" in proc.stdout
        landed = tmp_path / "landed"
        landed.mkdir()
        unpack = subprocess.run(
            [sys.executable, str(OPS / "unpack.py"), str(out / "batch-1"), "--into", str(landed)],
            capture_output=True,
            text=True,
        )
        assert unpack.returncode == 0, unpack.stderr
        assert (landed / "reproductions" / "smoke" / "result.txt").read_text() == "trained\n"
        assert (landed / runs / "SAM-2" / "metadata.json").is_file()  # finished by the stint's end
        assert (landed / runs / "ST-3" / "model.safetensors").read_text() == "seed\n"  # the later seed's, again
        assert not (landed / runs / "ST-1" / "model.safetensors").exists()  # the zoo's copy came back instead
        assert list((landed / "reproductions" / "relay-logs").glob("*-paper-cifar10-smoke.log"))
    finally:
        signal.touch()
        os.close(os.open(written, os.O_RDONLY | os.O_NONBLOCK))  # a stand-in still writing the pipe goes on
        try:
            os.kill(int((home / "stint.pid").read_text()), 9)
        except (OSError, ValueError):
            pass


def test_wait_without_a_stint_says_so(tmp_path):
    proc, out, _ = relay(tmp_path, "wait", "--left", "20")
    assert proc.returncode == 3 and "no stint was started" in proc.stderr and not any(out.iterdir())
