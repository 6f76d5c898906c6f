"""Rehearse the GPU relay of WINDOWS.md on this CPU, with the GPU machine's packages and limits.

A lent GPU machine is reached one command at a time: it gets a copy of the working tree (without
.git) plus carried ignored paths, at most 64 MiB; it sends back at most 8 files of 16 MiB (64 MiB
together, at most 2 folders deep) from $OUT; a command runs at most 10 minutes; the machine keeps ~
only while it stays warm. It has Python with torch, torchvision, timm, numpy, scipy, statsmodels,
filelock, pytest, pytest-xdist, safetensors, click, tqdm, matplotlib, jinja2 and pyyaml, and neither
submitit, jsonschema, robustbench nor pyautoattack.

This script plays WINDOWS.md's sequence of calls at smoke scale against a simulated machine with exactly
those packages (Python 3.12, torch 2.11 and torchvision 0.26, run on the CPU) and those limits enforced, each
machine a window (gpu_window.WINDOW: 15 minutes today) that its calls spend and every call told the minutes
left (`--left`): a first machine gets the data in as many calls as ops/remote-gpu/gpu_data_parts.py cuts, runs the
probe (`sam-bench bench --probe`, small), whose choice the workstation fixes before any training (the step
mode into the smoke scale in a commit, K as `--parallel` for every stint: sam_bench.bench.probe_choice), and
runs a stint that stops after one training epoch of the first K models; its packed results come back batch by
batch and are unpacked on the "workstation" (a scratch checkout), which commits them, keeps the unfinished run's
checkpoint in git (committed once, then out of the tree) and is cloned afresh, as the next window's session
is, its checkpoint back from the history; a second, fresh machine gets the unfinished run's checkpoint in parts
over several calls, finishes that model (training, zoo, evaluation, leaderboard
entry) in a stint started in the background (`start`: it outlives its call, as a process in a session of its
own does on the device, while the GPU tests' call runs beside it, collecting them with the relay's own test
call so that an import or option error there fails CI here, and `wait` calls follow until it has packed; what
a call leaves running otherwise is killed when it returns, as there) and sends it back; the workstation
unpacks it and `zoo verify` passes there, and every run trained in the chosen step mode; a stint with too
little time left is refused. Run by CI (tests/test_gpu_rehearsal.py):

    python ops/remote-gpu/gpu_rehearsal.py --build-env        # once, with network: the GPU machine's packages
    python ops/remote-gpu/gpu_rehearsal.py                    # the rehearsal (no network needed)
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# what one call carries is measured as the data parts are cut, and what a call may do is planned from the
# minutes left in the window, as on the machine (ops/remote-gpu/ is sys.path[0] when run as a script)
import gpu_prepare
import gpu_window
from gpu_data_parts import CALL_LIMIT, tree_files

ROOT = Path(__file__).resolve().parents[2]
# Built once per machine (minutes of pip), outside any checkout: CI runs in a fresh clone each time.
DEFAULT_ENV = Path(os.environ.get("SAM_BENCH_GPU_ENV", Path.home() / ".cache" / "sam-bench" / "gpu-env"))
# The GPU machine's Python packages (the device tool's KINDS.md); torch and torchvision are pinned below.
GPU_PACKAGES = [
    "timm",
    "numpy",
    "scipy",
    "statsmodels",
    "filelock",
    "pytest",
    "pytest-xdist",
    "safetensors",
    "click",
    "tqdm",
    "matplotlib",
    "jinja2",
    "pyyaml",
]
# The GPU image's Python, torch (2.11, with CUDA 13) and the torchvision built for it (0.26). The CPU
# build of torch 2.11 lies on PyTorch's own index only: PyPI's torch 2.11 wheel for Linux x86_64 is the
# CUDA 13 build, the GPU image's own, which pulls some 3 GB of nvidia-* packages and runs on a CPU just
# the same (no driver: CUDA unavailable). So: the CPU wheel where PyTorch's index answers, else PyPI's
# CUDA build of the same version, else (no index has 2.11) constraints-cpu.txt's CPU torch, saying why.
# What was installed, and why, is kept in the environment's gpu-packages.json and printed by the rehearsal.
GPU_PYTHON = "3.12"
GPU_TORCH = ["torch==2.11.*", "torchvision==0.26.*"]
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
ABSENT = ["submitit", "jsonschema", "robustbench", "pyautoattack", "autoattack"]
MIB = 1 << 20
BACK_FILES, BACK_FILE_LIMIT, BACK_TOTAL = 8, 16 * MIB, 64 * MIB
COMMAND_LIMIT_S = 600
CIFAR10 = ROOT.parent / "shared" / "data" / "cifar10"
UNPACKER = ROOT.parent / "shared" / "tools" / "cifar10_unpack.py"


class RehearsalFailed(Exception):
    pass


def run(cmd, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise RehearsalFailed(
            f"{' '.join(map(str, cmd))} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def env_python(env: Path) -> Path:
    return env / "bin" / "python"


def gpu_like_python() -> str:
    """The GPU image's Python (3.12) where this machine has one ($SAM_BENCH_GPU_PYTHON, python3.12 on
    PATH, pyenv's), else this one."""
    pyenv = sorted(Path.home().glob(f".pyenv/versions/{GPU_PYTHON}*/bin/python{GPU_PYTHON}"))
    for candidate in [os.environ.get("SAM_BENCH_GPU_PYTHON"), f"python{GPU_PYTHON}", *map(str, pyenv)]:
        if not candidate:
            continue
        try:
            probe = subprocess.run([candidate, "-c", "import sys, venv; print(sys.version)"], capture_output=True)
        except OSError:
            continue
        if probe.returncode == 0 and probe.stdout.decode().startswith(GPU_PYTHON + "."):
            return candidate
    return sys.executable


def build_env(env: Path) -> None:
    """A virtual environment with the GPU machine's packages and none of the ones it lacks."""
    marker = env / "gpu-packages.json"
    wanted = {"packages": GPU_PACKAGES, "python": GPU_PYTHON, "torch_wanted": GPU_TORCH}
    if marker.is_file() and {k: v for k, v in json.loads(marker.read_text()).items() if k in wanted} == wanted:
        print(f"{env}: already built ({json.loads(marker.read_text())['torch']})")
        return
    shutil.rmtree(env, ignore_errors=True)
    run([gpu_like_python(), "-m", "venv", str(env)])
    pip = [str(env_python(env)), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    # setuptools<82 as for every install here (constraints-cpu.txt's second pin), nothing about torch
    setuptools = [
        line for line in (ROOT / "constraints-cpu.txt").read_text().splitlines() if line.startswith("setuptools")
    ]
    probe = subprocess.run(
        [
            str(env_python(env)),
            "-m",
            "pip",
            "index",
            "versions",
            "torch",
            "--index-url",
            CPU_INDEX,
            "--retries",
            "1",
            "--timeout",
            "20",
        ],
        capture_output=True,
        text=True,
    )
    if probe.returncode == 0 and re.search(r"\b2\.11\.\d+\+cpu\b", probe.stdout):
        run([*pip, "--index-url", CPU_INDEX, *GPU_TORCH])
        how = f"torch 2.11's CPU wheel from {CPU_INDEX}"
    else:
        said = (probe.stderr.strip().splitlines() or probe.stdout.strip().splitlines() or ["no answer"])[-1].strip()
        unreachable = re.search(
            r"NewConnectionError|Failed to establish|Max retries|timed out|ProxyError", probe.stderr
        )
        why = (
            f"{CPU_INDEX} could not be reached from this machine"
            if unreachable
            else f"{CPU_INDEX} has no torch 2.11 CPU wheel for this machine ({said[:160]})"
        )
        try:
            run([*pip, *GPU_TORCH, *setuptools])
            how = f"{why}: PyPI's torch 2.11, the CUDA build (the GPU image's own), on a CPU"
        except RehearsalFailed as err:
            last = str(err).strip().splitlines()[-1][:160]
            how = f"{why}, and PyPI's torch 2.11 did not install ({last}): constraints-cpu.txt's CPU torch"
            run([*pip, "-c", str(ROOT / "constraints-cpu.txt"), "torch", "torchvision"])
    versions = run(
        [
            str(env_python(env)),
            "-c",
            "import sys, torch, torchvision; print(sys.version.split()[0], torch.__version__, torchvision.__version__)",
        ]
    ).stdout.split()
    # the rest, with torch held where it is (pip must not move it; a pin without the local label, +cpu or
    # +cu130, which pip's resolver would not match with the installed build)
    pins = env / "torch-pins.txt"
    held = [f"torch=={versions[1].split('+')[0]}", f"torchvision=={versions[2].split('+')[0]}", *setuptools]
    pins.write_text("".join(line + "\n" for line in held))
    run([*pip, "-c", str(pins), *GPU_PACKAGES])
    check_env(env)
    record = {**wanted, "torch": f"Python {versions[0]}, torch {versions[1]}, torchvision {versions[2]}: {how}"}
    marker.write_text(json.dumps(record, indent=1))
    print(f"{env}: built; {record['torch']}")


def check_env(env: Path) -> None:
    code = (
        "import importlib.util, sys; "
        f"present = [n for n in {ABSENT!r} if importlib.util.find_spec(n)]; "
        "sys.exit('present: ' + ', '.join(present) if present else 0)"
    )
    run([str(env_python(env)), "-c", code])


# ---------------------------------------------------------------------------------------------
# The workstation: a scratch checkout of this tree, a git repository of its own


def make_workstation(where: Path) -> Path:
    files = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT).stdout.split("\0")
    station = where / "workstation"
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (station / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, station / name)
    # The relay is rehearsed, not the attack: the smoke scale's AutoAttack is cut to APGD-CE in this copy, as
    # APGD-T took about half of each stint's time here (tests/test_attacks_autoattack.py runs every attack)
    recipe = station / "sam_bench" / "recipes" / "paper-cifar10.yaml"
    text = recipe.read_text()
    if text.count(SMOKE_AUTOATTACK) != 1:
        raise RehearsalFailed(f"{recipe}: the smoke scale's autoattack block is not the line the rehearsal edits")
    text = text.replace(SMOKE_AUTOATTACK, SMOKE_AUTOATTACK.replace("[apgd-ce, apgd-t]", "[apgd-ce]"))
    # and ST is trained at a second seed, as the full scale trains the claims' models: a later seed, which the zoo
    # does not publish, so its own weights must come back from the machine
    if text.count(SMOKE_MODELS) != 1:
        raise RehearsalFailed(f"{recipe}: the smoke scale's models line is not the line the rehearsal edits")
    recipe.write_text(text.replace(SMOKE_MODELS, SMOKE_MODELS + SMOKE_SEEDS))
    run(["git", "init", "-q"], cwd=station)
    with open(station / ".git" / "info" / "exclude", "a") as f:
        f.write("/.data/\n/.relay-in/\n")
    run(["git", "add", "-A"], cwd=station)
    run(
        ["git", "-c", "user.name=rehearsal", "-c", "user.email=rehearsal@localhost", "commit", "-q", "-m", "tree"],
        cwd=station,
    )
    return station


def next_session(station: Path, repro: str) -> Path:
    """The next window comes in another session, whose checkout is made from git (WINDOWS.md, section 3):
    the first window's results are committed, the unfinished run's checkpoint kept in git (kept_checkpoint.py
    keep, committed once and then taken out of the tree), and a fresh clone, with what the calls carry made again,
    is the workstation from here on; its checkpoint comes back from the history (gpu_prepare.checkpoints_back)."""
    sam_bench(station, "zoo", "keep", repro)  # finished runs' weights (none yet: ST stopped mid-way)
    relay_tool(station, "kept_checkpoint.py", "keep", repro)
    commit = ["git", "-c", "user.name=rehearsal", "-c", "user.email=rehearsal@localhost", "commit", "-q", "-m"]
    run(["git", "add", "-f", repro], cwd=station)  # (the smoke scale's folder is ignored; the full scale's is not)
    run([*commit, "the first window, its checkpoint once"], cwd=station)
    kept = [p.relative_to(station).as_posix() for p in station.glob(f"{repro}/runs/*/checkpoint.pt")]
    run(["git", "rm", "-q", "--cached", *kept], cwd=station)
    run([*commit, "the checkpoint out of the tree"], cwd=station)
    clone = station.parent / "workstation-next-session"
    run(["git", "clone", "-q", str(station), str(clone)], cwd=station.parent)
    if list(clone.glob(f"{repro}/runs/*/checkpoint.pt")):
        raise RehearsalFailed("the new session's checkout has the checkpoint already: the rehearsal proves nothing")
    said = gpu_prepare.checkpoints_back(clone / repro)
    print("\n".join(said))
    if not said or not all(line.startswith("checkpoint of ") for line in said):
        raise RehearsalFailed(f"the unfinished run's checkpoint did not come back from git: {said}")
    prepare_carried(clone)
    return clone


def prepare_carried(station: Path) -> list[str]:
    """What WINDOWS.md has the user put beside the checkout: pyautoattack in .vendor (without its
    examples/), the commit in COMMIT, and the data set in as many parts as the calls need
    (ops/remote-gpu/gpu_data_parts.py, run as the docs run it), .data/part-1 .. part-N."""
    gpu_prepare.vendor(station)
    (station / "COMMIT").write_text(run(["git", "rev-parse", "HEAD"], cwd=station).stdout)
    if not CIFAR10.is_dir():
        return []
    cut = [sys.executable, "ops/remote-gpu/gpu_data_parts.py", "--src", str(CIFAR10), "--unpacker", str(UNPACKER)]
    print(run(cut, cwd=station).stdout, end="")
    parts = (station / ".data").glob("part-*")
    return [p.relative_to(station).as_posix() for p in sorted(parts, key=lambda p: int(p.name.split("-")[1]))]


# ---------------------------------------------------------------------------------------------
# The lent machine, simulated


# The machine's start, charged to its window before its first call (gpu_window.MACHINE_START: measured, with a margin)
START_MINUTES = gpu_window.MACHINE_START
MACHINE_MARK = "SAM_BENCH_REHEARSAL_MACHINE"
STILL_RUNNING = 5  # ops/remote-gpu/gpu_relay.sh wait: the background stint has not packed yet


class Machine:
    """One lent machine: its ~ lasts from its first call to its last; each call gets a new copy of
    the workstation's tree (tracked and untracked-not-ignored files) plus the carried paths.

    Each machine is a window of its own (a session's device time, gpu_window.WINDOW): its start, and every
    call's real duration plus gpu_window.GAP (the workstation's turn and the upload, which are not
    played here) are charged to it. A command's `{left}` is the minutes left when the call is issued, as
    WINDOWS.md has the workstation pass them; a call that ends after the window has run out fails the
    rehearsal, as it would lose what it was to bring back."""

    def __init__(self, where: Path, env: Path, name: str):
        self.root = where / name
        self.home = self.root / "home"
        self.home.mkdir(parents=True)
        self.env, self.name, self.calls = env, name, 0
        self.left = gpu_window.WINDOW - START_MINUTES
        self.log: list[dict] = []

    def call(
        self, station: Path, command: str, carry: list[str] = (), refused: bool = False, ok: tuple[int, ...] = (0,)
    ) -> tuple[str, Path]:
        """Run `command` ({left} filled in) as a device call; `refused`: it must be turned down for want
        of time (exit 4, one line, nothing back, nothing started); `ok`: the exit statuses that pass. As on
        the device, what the command leaves running is killed when it returns, except a process that
        started a session of its own (setsid): that runs on until the machine goes back (`give_back`)."""
        self.calls += 1
        left = math.floor(self.left * 100) / 100
        command = command.replace("{left}", f"{left:.2f}")
        tree = tree_files(station)
        for path in carry:
            carried = station / path
            if not carried.exists():
                raise RehearsalFailed(f"{self.name} call {self.calls}: carried path {path} does not exist")
            tree += [
                p.relative_to(station).as_posix()
                for p in ([carried] if carried.is_file() else carried.rglob("*"))
                if p.is_file()
            ]
        sent = sum((station / n).stat().st_size for n in set(tree))
        if sent > CALL_LIMIT:
            over = f"{sent / MIB:.1f} MiB would travel, over {CALL_LIMIT // MIB} MiB"
            raise RehearsalFailed(f"{self.name} call {self.calls}: {over}")
        checkout = self.root / "checkout"
        shutil.rmtree(checkout, ignore_errors=True)
        for name in set(tree):
            (checkout / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(station / name, checkout / name)
        out = self.root / f"out-{self.calls}"
        out.mkdir()
        environment = {
            "HOME": str(self.home),
            "OUT": str(out),
            "LANG": "C.UTF-8",
            "OMP_NUM_THREADS": "1",
            "PATH": f"{self.env / 'bin'}:/usr/bin:/bin",
            "PYTHONUNBUFFERED": "1",
            MACHINE_MARK: str(self.root),  # every process of this machine carries it, so give_back finds them
        }
        started = time.time()
        # the output goes to files, not pipes: a process left running would hold a pipe open past the return
        with tempfile.TemporaryFile("w+") as stdout_file, tempfile.TemporaryFile("w+") as stderr_file:
            popen = subprocess.Popen(
                ["bash", "-c", command],
                cwd=checkout,
                env=environment,
                stdout=stdout_file,
                stderr=stderr_file,
                text=True,
                start_new_session=True,
            )
            try:
                popen.wait(timeout=COMMAND_LIMIT_S)
            except subprocess.TimeoutExpired:
                raise RehearsalFailed(f"{self.name} call {self.calls}: over the 10-minute limit: {command}") from None
            finally:
                try:
                    os.killpg(popen.pid, signal.SIGKILL)  # what the command left running (not its own sessions)
                except ProcessLookupError:
                    pass
                popen.wait()
            stdout_file.seek(0)
            stderr_file.seek(0)
            stdout, stderr = stdout_file.read(), stderr_file.read()
        proc = subprocess.CompletedProcess(popen.args, popen.returncode, stdout, stderr)
        seconds = time.time() - started
        output = proc.stdout + proc.stderr
        self.left -= gpu_window.GAP + seconds / 60
        if refused:
            said = proc.stderr.strip().splitlines()
            if proc.returncode != gpu_window.REFUSED or len(said) != 1 or any(out.iterdir()):
                raise RehearsalFailed(
                    f"{self.name} call {self.calls} was not refused in one line with exit {gpu_window.REFUSED}"
                    f" and nothing back: {command} exited {proc.returncode}\n{output[-4000:]}"
                )
        elif proc.returncode not in ok:
            raise RehearsalFailed(
                f"{self.name} call {self.calls} exited {proc.returncode}: {command}\n{output[-4000:]}"
            )
        if self.left < 0:
            raise RehearsalFailed(
                f"{self.name} call {self.calls} returned {-self.left:.2f} minutes after its window ran out: {command}"
            )
        back = check_returned(out, f"{self.name} call {self.calls}")
        self.log.append(
            {
                "machine": self.name,
                "call": self.calls,
                "command": command,
                "carry": list(carry),
                "sent_mib": round(sent / MIB, 2),
                "files_back": len(back),
                "back_mib": round(sum(p.stat().st_size for p in back) / MIB, 2),
                "seconds": round(seconds, 1),
                "left": left,
                "exit": proc.returncode,
            }
        )
        return output, out

    def give_back(self) -> None:
        """The machine goes back: every process it still runs (a background stint) ends."""
        for environ in Path("/proc").glob("[0-9]*/environ"):
            try:
                if f"{MACHINE_MARK}={self.root}".encode() in environ.read_bytes().split(b"\0"):
                    os.kill(int(environ.parent.name), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def check_returned(out: Path, where: str) -> list[Path]:
    back = [p for p in out.rglob("*") if not p.is_dir()]
    for path in back:
        depth = len(path.relative_to(out).parts) - 1
        if path.is_symlink() or depth > 2 or not re.fullmatch(r"[A-Za-z0-9._-]+", path.name):
            raise RehearsalFailed(
                f"{where}: {path.relative_to(out)} would not come back (a link, too deep, or its name)"
            )
        if path.stat().st_size > BACK_FILE_LIMIT:
            raise RehearsalFailed(f"{where}: {path.relative_to(out)} is over 16 MiB")
    if len(back) > BACK_FILES or sum(p.stat().st_size for p in back) > BACK_TOTAL:
        raise RehearsalFailed(f"{where}: {len(back)} files would come back, over 8 files or 64 MiB")
    return back


# What the rehearsal's stints may pack in its small parts (0.25 MiB, 3 files to a batch), the --batches
# they are planned for: more batches than planned fail the rehearsal, as they could outlast the window.
# Measured: 3 for the first stint (ST's first epoch and its checkpoint), 4 for the second (ST finished,
# evaluated and in the zoo; ST's seed 1 trained and evaluated, with its own weights); one more for growth.
SMALL_BATCHES = 5


def batches_of(output: str, planned: int = SMALL_BATCHES) -> int:
    found = re.search(r"batch 1 of (\d+) in \$OUT", output)
    if not found:
        raise RehearsalFailed(f"the stint did not say how many batches it packed:\n{output[-2000:]}")
    if int(found.group(1)) > planned:
        raise RehearsalFailed(f"the stint packed {found.group(1)} batches, planned for {planned}")
    return int(found.group(1))


def check_gpu_tests_collected(station: Path, output: str) -> None:
    """`ops/remote-gpu/gpu_relay.sh test --collect-only` imported and collected every GPU test module: each test
    file that marks tests `gpu` has tests collected (a module skipped before its imports would have
    none), and pytest reported no error (the call exits 0 only then, which Machine.call checks)."""
    marking = {
        p.relative_to(station).as_posix() for p in station.glob("tests/**/test_*.py") if "mark.gpu" in p.read_text()
    }
    collected = re.findall(r"^(tests/[\w/]+\.py)::\S+$", output, re.MULTILINE)
    summary = re.search(r"^(\d+)(?:/\d+)? tests? collected.*$", output, re.MULTILINE)
    if not marking or set(collected) != marking or not summary or int(summary.group(1)) != len(collected):
        raise RehearsalFailed(
            f"the relay's test call did not collect the GPU tests of {sorted(marking)}"
            f" (collected from {sorted(set(collected))}):\n{output[-3000:]}"
        )
    if re.search(r"\berrors?\b", summary.group(0)):
        raise RehearsalFailed(f"collecting the GPU tests reported errors:\n{output[-3000:]}")
    print(f"GPU tests collected by the relay's test call: {len(collected)} in {', '.join(sorted(marking))}")


def background_stint(
    machine: Machine, station: Path, start: str, carry: list[str], beside: tuple[str, list[str]] | None = None
) -> tuple[list[list[Path]], str, Path]:
    """WINDOWS.md's stint in the background: `start` (it returns at once), the GPU tests' call beside it
    (`beside`: the command and what it carries; it must collect every GPU test), then `wait` calls, one after
    the other, until the stint has packed. Each wait that finds it still running brings back what it has finished
    since the last one (a collection: batch 1, then `send`s). The waits are cut short (6 s), so that the stint
    lives on across calls and several collections are made while it trains and evaluates. Returns the
    collections' batches, in the order they came, and the last wait's output and files (batch 1)."""
    output, _ = machine.call(station, start, carry)
    if "started in the background" not in output:
        raise RehearsalFailed(f"the start call did not start a stint:\n{output[-2000:]}")
    if beside is not None:
        check_gpu_tests_collected(station, machine.call(station, *beside)[0])
    collections: list[list[Path]] = []
    for _ in range(200):
        output, out = machine.call(
            station, "ops/remote-gpu/gpu_relay.sh wait --left {left} --at-most 0.1", ok=(0, STILL_RUNNING)
        )
        if machine.log[-1]["exit"] != STILL_RUNNING:
            return collections, output, out
        if "collected what the stint finished" in output:
            collections.append(bring_back(machine, station, out, batches_of(output, planned=100)))
        elif "nothing finished since the last wait" not in output:
            raise RehearsalFailed(f"a wait neither collected nor said there was nothing to collect:\n{output[-2000:]}")
    raise RehearsalFailed("the background stint did not end after 200 wait calls")


def bring_back(machine: Machine, station: Path, first_out: Path, count: int) -> list[Path]:
    """Batch 1 came with the stint; the others one call each, at once (the machine is warm 30 s)."""
    outs = [first_out]
    for number in range(2, count + 1):
        _, out = machine.call(station, f"ops/remote-gpu/gpu_relay.sh send {number}")
        outs.append(out)
    return outs


def sam_bench(station: Path, *args, cache: Path | None = None) -> str:
    """`sam-bench ARGS` in the station's checkout; `cache`: a weights cache of its own (SAM_BENCH_CACHE), so that
    what it materialises comes from the git history, not from a copy an earlier rehearsal left in the user's."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **({"SAM_BENCH_CACHE": str(cache)} if cache else {})}
    return run([sys.executable, "-m", "sam_bench", *map(str, args)], cwd=station, env=env).stdout


def relay_tool(station: Path, tool: str, *args) -> str:
    """One of the relay's own tools (ops/remote-gpu/TOOL) as the workstation runs it, from the station's checkout."""
    script = station / "ops" / "remote-gpu" / tool
    return run(
        [sys.executable, str(script), *map(str, args)], cwd=station, env={**os.environ, "OMP_NUM_THREADS": "1"}
    ).stdout


# The probe call of WINDOWS.md, made small for a CPU: one method in the two modes a CPU runs, one and two
# processes, an evaluation of 8 images beside them, a budget of seconds instead of the relay's minutes (a later
# --budget-s and --device win)
PROBE_CALL = (
    "ops/remote-gpu/gpu_relay.sh probe --left {left} --device cpu --width 0.125 --methods standard --modes eager,static"
    " --concurrency 1,2 --steps 1 --budget-s 10 --threads 1 --attack-images 8"
)
SMOKE_TRAIN = "    train: {width: 0.125, epochs: 4, batch_size: 64, schedule: cosine}\n"
SMOKE_AUTOATTACK = "      autoattack: {Linf: 8/255, L2: null, version: custom, attacks: [apgd-ce, apgd-t]}\n"
SMOKE_MODELS = "    models: [ST, SAM-0.1, AT-Linf-2]\n"
SMOKE_SEEDS = "    seeds: {ST: [0, 1]}\n"


def choose_from_probe(station: Path, out: Path) -> tuple[str, int]:
    """The probe's record checked and committed as WINDOWS.md has it (benchmarks/<device>-probe.json), its
    step mode set in the smoke scale in a commit (as the full scale's would be before its first stint), and
    the work calls' options returned (`ops/remote-gpu/gpu_plan.py --choose`) with K."""
    sys.path.insert(0, str(ROOT))
    from sam_bench.bench.probe import read
    from sam_bench.bench.probe_choice import choose

    kept = station / "benchmarks" / "rehearsal-probe.json"
    shutil.copy2(out / "probe.json", kept)
    # A probe whose budget went to its set-ups (a busy machine) has no ratios: its choice is eager and one
    # model at a time, which the rest plays as well (the choice itself is tested in tests/test_probe_choice.py)
    picked = choose(read(kept, error=RehearsalFailed))
    recipe = station / "sam_bench" / "recipes" / "paper-cifar10.yaml"
    text = recipe.read_text()
    if text.count(SMOKE_TRAIN) != 1:
        raise RehearsalFailed(f"{recipe}: the smoke scale's train block is not the line the rehearsal edits")
    recipe.write_text(text.replace(SMOKE_TRAIN, SMOKE_TRAIN[:-2] + f", step_mode: {picked.step_mode}}}\n"))
    commit = ["git", "-c", "user.name=rehearsal", "-c", "user.email=rehearsal@localhost", "commit", "-q", "-am"]
    run([*commit, f"the probe's choice: {picked.recipe_line()}"], cwd=station)
    (station / "COMMIT").write_text(run(["git", "rev-parse", "HEAD"], cwd=station).stdout)
    options = run([sys.executable, "ops/remote-gpu/gpu_plan.py", "--choose", str(kept)], cwd=station).stdout.strip()
    if options != " ".join(picked.options()):
        raise RehearsalFailed(f"gpu_plan --choose said {options!r}, the choice is {picked.options()}")
    print(f"the probe picked {picked.recipe_line()} and {options} ({'; '.join(picked.reasons)})")
    return options, picked.parallel


def check_later_seed_kept(station: Path, repro: str) -> None:
    """The later seed's own weights came back (its only copy: the zoo publishes first seeds only), and the steps
    after a window keep them in git as WINDOWS.md has them: `zoo keep`, committed once, out of the tree in the next
    commit; then `zoo verify --runs` finds every results file's weights, the later seed's from the git history. A
    first seed's run weights did not come back (its zoo entry did)."""
    plan = json.loads((station / repro / "plan.json").read_text())
    later = [f"{m['name']}-{m['key']}" for m in plan["models"] if not m["primary"]]
    firsts = [f"{m['name']}-{m['key']}" for m in plan["models"] if m["primary"]]
    weights = [station / repro / "runs" / run / "model.safetensors" for run in later]
    if not later or not all(w.is_file() for w in weights):
        raise RehearsalFailed(f"a later seed's own weights did not come back: {later}")
    if any((station / repro / "runs" / run / "model.safetensors").exists() for run in firsts):
        raise RehearsalFailed("a first seed's run weights came back: the zoo keeps them, its entry comes back instead")
    said = sam_bench(station, "zoo", "keep", repro)
    if f"{len(later)} runs' weights kept" not in said:
        raise RehearsalFailed(f"zoo keep did not keep the later seed's weights:\n{said}")
    commit = ["git", "-c", "user.name=rehearsal", "-c", "user.email=rehearsal@localhost", "commit", "-q", "-m"]
    run(["git", "add", "-f", repro], cwd=station)
    run([*commit, "the second window, its later seed's weights once"], cwd=station)
    run(["git", "rm", "-q", "--cached", *(w.relative_to(station).as_posix() for w in weights)], cwd=station)
    run([*commit, "the later seed's weights out of the tree"], cwd=station)
    for w in weights:
        w.unlink()
    cache = station.parent / "workstation-cache"
    verified = sam_bench(station, "zoo", "verify", "--runs", repro, "--zoo-dir", f"{repro}/model_zoo", cache=cache)
    lines = verified.splitlines()
    if not all(any(re.fullmatch(rf"ok +results/{run}\.json: .* \(git\)", line) for line in lines) for run in later):
        raise RehearsalFailed(f"zoo verify --runs did not find the later seed's weights in git:\n{verified}")
    print(f"the later seed's weights came back, kept in git: {', '.join(later)}")


def check_chosen_mode(station: Path, repro: str) -> None:
    """Every run trained with the step mode the probe picked (its metadata says so)."""
    wanted = re.search(r"step_mode: (\w+)", (station / "sam_bench/recipes/paper-cifar10.yaml").read_text())
    runs = list(station.glob(f"{repro}/runs/*/metadata.json"))
    modes = {json.loads(p.read_text())["config"].get("step_mode", "eager") for p in runs}
    if not runs or wanted is None or modes != {wanted.group(1)}:
        raise RehearsalFailed(f"the runs trained with step modes {sorted(modes)}, not the probe's choice")


# ---------------------------------------------------------------------------------------------
# The sequence (WINDOWS.md, "A 15-minute window")


def rehearse(env: Path, keep: Path | None = None) -> list[dict]:
    check_env(env)
    where = Path(tempfile.mkdtemp(prefix="gpu-rehearsal-")) if keep is None else keep
    station = make_workstation(where)
    data_carry = prepare_carried(station)
    code = [".vendor", "COMMIT"]
    small_parts = "RELAY_PART_MIB=0.25 RELAY_BATCH_FILES=3"  # a small model's files in several batches, as a full one's
    repro = "reproductions/paper-cifar10-smoke"
    machines: list[Machine] = []
    try:
        first = Machine(where, env, "machine-1")
        machines.append(first)
        # WINDOWS.md's test call, as it is made there (beside the second machine's stint), collecting only: no
        # CUDA here, so running the tests would only skip them; collecting imports every test module and all
        # that the GPU tests use
        gpu_tests = "ops/remote-gpu/gpu_relay.sh test --left {left} --collect-only"
        for part in data_carry[:-1]:
            first.call(station, "ops/remote-gpu/gpu_relay.sh data --left {left}", [part])
        if data_carry:
            first.call(station, "ops/remote-gpu/gpu_relay.sh data --left {left} --last", [data_carry[-1], *code])
        # the window's probe, as WINDOWS.md makes it, then its choice fixed on the workstation before the first
        # stint: the step mode into the scale (a commit), K into every work call
        work_options, parallel = choose_from_probe(station, first.call(station, PROBE_CALL, code)[1])
        batches = SMALL_BATCHES * parallel  # K models at once: K models' files to pack
        # a stint whose time limit is spent by its first epoch: ST stops mid-training, checkpointed
        output, out = first.call(
            station,
            f"{small_parts} ops/remote-gpu/gpu_relay.sh work --left {{left}} paper-cifar10 smoke --at-most 0.05"
            f" --batches {batches} --data-dir ~/c10 {work_options}",
            code,
        )
        returned = bring_back(first, station, out, batches_of(output, batches))
        relay_tool(station, "unpack.py", *returned, "--into", ".", "--overwrite")
        logs = list(station.glob(f"{repro}/runs/ST-*/log.jsonl"))
        if len(logs) != 1 or not list(station.glob(f"{repro}/runs/ST-*/checkpoint.pt")):
            raise RehearsalFailed("the first stint's unfinished ST run did not come back with its checkpoint")
        first_epochs = logs[0].read_text().splitlines()
        if len(first_epochs) != 1:
            raise RehearsalFailed(f"the first stint should have trained one epoch, not {len(first_epochs)}")
        station = next_session(station, repro)
        logs = list(station.glob(f"{repro}/runs/ST-*/log.jsonl"))

        # A fresh machine: the reproduction's unfinished work (here: ST's run with its checkpoint) goes
        # over in parts, two calls (a full-scale checkpoint is 85 MiB; a call carries 64 MiB)
        relay_tool(
            station,
            "pack.py",
            repro,
            "--drop-finished-checkpoints",
            "--exclude",
            "reproductions/*/runs/*/model.safetensors",
            "--part-mib",
            "0.25",
            "--batch-files",
            "3",
            "--out",
            ".relay-in",
            "--name",
            "resume",
        )
        sent = sorted(p.relative_to(station).as_posix() for p in (station / ".relay-in").iterdir())
        second = Machine(where, env, "machine-2")
        machines.append(second)
        for batch in sent[:-1]:
            second.call(station, "ops/remote-gpu/gpu_relay.sh inbox --left {left}", [batch])
        # (ST only: the rest of the grid would only make CI longer, not the rehearsal truer). This stint runs in
        # the background, as WINDOWS.md's plan has it: `start`, then `wait` calls until it has packed (the
        # first machine's was the same stint inside its call, `work`)
        collections, output, out = background_stint(
            second,
            station,
            f"{small_parts} ops/remote-gpu/gpu_relay.sh start --left {{left}} paper-cifar10 smoke --batches {batches}"
            f" --data-dir ~/c10 --only ST {work_options}",
            [sent[-1], *code],
            beside=(gpu_tests, code),
        )
        returned = bring_back(second, station, out, batches_of(output, batches))
        # the window's last minutes: a stint that could not return in time is not started (one line, exit
        # 4, nothing back); the minutes are made up, the rest of this window would take too long to spend
        second.call(
            station, "ops/remote-gpu/gpu_relay.sh start --left 3.5 paper-cifar10 smoke --data-dir ~/c10", code, True
        )
        second.call(
            station, "ops/remote-gpu/gpu_relay.sh work --left 3.5 paper-cifar10 smoke --data-dir ~/c10", code, True
        )
        shutil.rmtree(station / ".relay-in")
        for collected in collections:  # in the order they came, then the stint's own pack
            relay_tool(station, "unpack.py", *collected, "--into", ".", "--overwrite")
        relay_tool(station, "unpack.py", *returned, "--into", ".", "--overwrite")
        print(f"the background stint's waits collected {len(collections)} times before it packed")

        # The workstation has it all: the grid, the zoo entries, the leaderboard rows, the report
        report = station / repro / "REPORT.md"
        if not report.is_file() or not list(station.glob(f"{repro}/results/ST-*.json")):
            raise RehearsalFailed(f"{report} or ST's results did not come back")
        verified = sam_bench(station, "zoo", "verify", "--zoo-dir", f"{repro}/model_zoo")  # exits 1 on a mismatch
        if "1 entries verified" not in verified:
            raise RehearsalFailed(f"zoo verify did not verify ST's entry:\n{verified}")
        rows = list(station.glob(f"{repro}/leaderboards/**/*.json"))
        if not rows:
            raise RehearsalFailed("no leaderboard entry came back")
        check_chosen_mode(station, repro)
        check_later_seed_kept(station, repro)
        if logs[0].read_text().splitlines()[:1] != first_epochs:
            raise RehearsalFailed("the second machine retrained the first machine's epoch instead of resuming it")
        if not list(station.glob("reproductions/relay-logs/*.log")):
            raise RehearsalFailed("the stints' console logs did not come back")
        return first.log + second.log
    finally:
        for machine in machines:
            machine.give_back()
        if keep is None:
            shutil.rmtree(where, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--env",
        type=Path,
        default=DEFAULT_ENV,
        help="the GPU-like environment (default: $SAM_BENCH_GPU_ENV or ~/.cache/sam-bench/gpu-env)",
    )
    parser.add_argument(
        "--build-env", action="store_true", help="build the environment (needs the package index) and stop"
    )
    parser.add_argument("--keep", type=Path, default=None, help="do it in this folder and keep it")
    args = parser.parse_args()
    try:
        if args.build_env:
            build_env(args.env)
            return 0
        if not env_python(args.env).is_file():
            print(
                f"no environment at {args.env}: run python ops/remote-gpu/gpu_rehearsal.py --build-env first",
                file=sys.stderr,
            )
            return 2
        started = time.time()
        calls = rehearse(args.env, args.keep)
    except RehearsalFailed as err:
        print(f"rehearsal failed: {err}", file=sys.stderr)
        return 1
    print(f"{'machine':<10} {'call':>4} {'left':>6} {'sent MiB':>8} {'back':>4} {'back MiB':>8} {'s':>6}  command")
    for c in calls:
        print(
            f"{c['machine']:<10} {c['call']:>4} {c['left']:>6.2f} {c['sent_mib']:>8.1f} {c['files_back']:>4}"
            f" {c['back_mib']:>8.2f} {c['seconds']:>6.1f}  {c['command']}"
            + (f"  (carry {', '.join(c['carry'])})" if c["carry"] else "")
        )
    marker = args.env / "gpu-packages.json"
    if marker.is_file():
        print(f"GPU-like environment: {json.loads(marker.read_text()).get('torch', '?')}")
    print(
        f"rehearsal passed: {len(calls)} calls on 2 machines in {time.time() - started:.0f} s"
        f" ('left': the window's minutes passed to the call, {gpu_window.WINDOW:g} a machine less"
        f" {START_MINUTES:g} for its start, each call charged its duration and {gpu_window.GAP} more)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
