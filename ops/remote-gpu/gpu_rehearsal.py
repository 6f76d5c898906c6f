"""Rehearse a GPU window of README.md on this CPU, with the GPU machine's packages and limits.

A lent GPU machine is reached one command at a time: it gets a copy of the working tree (without .git) plus
carried ignored paths, at most 64 MiB; it sends back at most 8 files of 16 MiB (64 MiB together, at most 2 folders
deep) from $OUT; a command runs at most 10 minutes; the machine keeps ~ only while it stays warm. It has Python with
torch, torchvision, timm, numpy, scipy, statsmodels, filelock, pytest, pytest-xdist, safetensors, click, tqdm,
matplotlib, jinja2 and pyyaml, and neither submitit, jsonschema, robustbench nor pyautoattack.

This plays two windows at smoke scale against simulated machines with exactly those packages (Python 3.12, torch
2.11 and torchvision 0.26, run on the CPU) and those limits enforced, each machine a window (gpu_window.WINDOW)
that its calls spend, every call told the minutes left (`--left`). The calls are the ones gpu_prepare.py prints
for a window, made from the same functions: the data in as many calls as gpu_data_parts.py cuts, then the
reproduce call (`SAM_BENCH_COMMIT=<the commit sent>` on its command line, `--parallel 2`), then a `send` call for
each batch it packed. The first window's reproduce call stops ST's two seeds mid-training; the workstation
unpacks what came back, keeps their checkpoints in git (committed once, then out of the tree) and is cloned
afresh, as the next window's session is; the second window carries the checkpoints in (`inbox`) and finishes
both runs (training, zoo entry, evaluation, leaderboard entry, the later seed's own weights). Checked: every run
and results file that came back records the commit its window sent as its code; the second window resumed rather
than retrained; `zoo verify` passes where it all lands, the later seed's weights from the git history; a
reproduce call with too little time left is refused in one line with nothing back. Run by CI
(tests/test_gpu_rehearsal.py):

    python ops/remote-gpu/gpu_rehearsal.py --build-env        # once, with the package index: the machine's packages
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

# the calls are made as gpu_prepare.py makes them for a window, and what a call may do is planned from the minutes
# left in the window, as on the machine (ops/remote-gpu/ is sys.path[0] when run as a script)
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

# The relay is rehearsed, not the attack: the smoke scale's AutoAttack is cut to APGD-CE in the workstation's copy
# (APGD-T took about half of each reproduce call's time here; tests/test_attacks_autoattack.py runs every attack),
# and ST trains a second seed, as the full scale's later seeds do: not published to the zoo, its own weights must
# come back from the machine.
SMOKE_AUTOATTACK = "      autoattack: {Linf: 8/255, L2: null, version: custom, attacks: [apgd-ce, apgd-t]}\n"
SMOKE_MODELS = "    models: [ST, SAM-0.1, AT-Linf-2]\n"
SMOKE_SEEDS = "    seeds: {ST: [0, 1]}\n"
REPRO = "reproductions/paper-cifar10-smoke"
# Small parts make a small model's files travel as a full-width one's do: its checkpoints carried in over several
# calls, what a reproduce call made back in several batches.
SMALL_PART_MIB = 0.125
SMALL_PARTS = "RELAY_PART_MIB=0.25 RELAY_BATCH_FILES=3"
COMMIT = ["git", "-c", "user.name=rehearsal", "-c", "user.email=rehearsal@localhost", "commit", "-q", "-m"]


def make_workstation(where: Path) -> Path:
    files = run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT).stdout.split("\0")
    station = where / "workstation"
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (station / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, station / name)
    recipe = station / "sam_bench" / "recipes" / "paper-cifar10.yaml"
    text = recipe.read_text()
    for line in (SMOKE_AUTOATTACK, SMOKE_MODELS):
        if text.count(line) != 1:
            raise RehearsalFailed(f"{recipe}: the smoke scale's line {line.strip()!r} is not there to edit")
    text = text.replace(SMOKE_AUTOATTACK, SMOKE_AUTOATTACK.replace("[apgd-ce, apgd-t]", "[apgd-ce]"))
    recipe.write_text(text.replace(SMOKE_MODELS, SMOKE_MODELS + SMOKE_SEEDS))
    run(["git", "init", "-q"], cwd=station)
    run(["git", "add", "-A"], cwd=station)
    run([*COMMIT, "tree"], cwd=station)
    return station


def prepare(station: Path) -> str:
    """What gpu_prepare.py writes for a window (.vendor, the data parts, the inbox of unfinished runs' checkpoints),
    and the commit it sends; refused as it refuses."""
    try:
        commit = gpu_prepare.commit_to_send(station)
        gpu_prepare.vendor(station)
        if not CIFAR10.is_dir():
            raise RehearsalFailed(f"no packed CIFAR-10 at {CIFAR10}")
        cut = [sys.executable, "ops/remote-gpu/gpu_data_parts.py", "--src", str(CIFAR10), "--unpacker", str(UNPACKER)]
        print(run(cut, cwd=station).stdout, end="")
        for line in gpu_prepare.pack_inbox(station, REPRO, ["ST"], part_mib=SMALL_PART_MIB):
            print(line)
    except gpu_prepare.Refused as err:
        raise RehearsalFailed(f"gpu_prepare refused: {err}") from None
    return commit


def next_session(station: Path) -> Path:
    """The next window comes in another session, whose checkout is made from git: the first window's results are
    committed, its unfinished runs' checkpoints kept in git (kept_checkpoint.py keep, committed once and then taken
    out of the tree), and a fresh clone is the workstation from here on (gpu_prepare puts the checkpoints back from
    the history before it packs them)."""
    relay_tool(station, "kept_checkpoint.py", "keep", REPRO)
    run(["git", "add", "-f", REPRO], cwd=station)  # (the smoke scale's folder is ignored; the full scale's is not)
    run([*COMMIT, "the first window, its checkpoints once"], cwd=station)
    kept = [p.relative_to(station).as_posix() for p in station.glob(f"{REPRO}/runs/*/checkpoint.pt")]
    run(["git", "rm", "-q", "--cached", *kept], cwd=station)
    run([*COMMIT, "the checkpoints out of the tree"], cwd=station)
    clone = station.parent / "workstation-next-session"
    run(["git", "clone", "-q", str(station), str(clone)], cwd=station.parent)
    if list(clone.glob(f"{REPRO}/runs/*/checkpoint.pt")):
        raise RehearsalFailed("the new session's checkout has the checkpoints already: the rehearsal proves nothing")
    return clone


# ---------------------------------------------------------------------------------------------
# The lent machine, simulated


# The machine's start, charged to its window before its first call (gpu_window.MACHINE_START: measured, with a margin)
START_MINUTES = gpu_window.MACHINE_START


class Machine:
    """One lent machine: its ~ lasts from its first call to its last; each call gets a new copy of
    the workstation's tree (tracked and untracked-not-ignored files) plus the carried paths.

    Each machine is a window of its own (a session's device time, gpu_window.WINDOW): its start, and every
    call's real duration plus gpu_window.GAP (the workstation's turn and the upload, which are not
    played here) are charged to it. A command's `--left L` is given the minutes left when the call is issued, as
    README.md has the workstation pass them; a call that ends after the window has run out fails the
    rehearsal, as it would lose what it was to bring back."""

    def __init__(self, where: Path, env: Path, name: str):
        self.root = where / name
        self.home = self.root / "home"
        self.home.mkdir(parents=True)
        self.env, self.name, self.calls = env, name, 0
        self.left = gpu_window.WINDOW - START_MINUTES
        self.log: list[dict] = []

    def call(self, station: Path, command: str, carry: list[str] = (), refused: bool = False) -> tuple[str, Path]:
        """Run `command` (L, the minutes left, filled in) as a device call; `refused`: it must be turned down for
        want of time (exit 4, one line, nothing back, nothing started). As on the device, what the command leaves
        running is killed when it returns."""
        self.calls += 1
        left = math.floor(self.left * 100) / 100
        command = command.replace("--left L", f"--left {left:.2f}")
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
                    os.killpg(popen.pid, signal.SIGKILL)  # what the command left running
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
        elif proc.returncode != 0:
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


def check_later_seed_kept(station: Path, repro: str) -> None:
    """The later seed's own weights came back (its only copy: the zoo publishes first seeds only), and the steps
    after a window keep them in git as README.md has them: `zoo keep`, committed once, out of the tree in the next
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


# What the rehearsal's reproduce calls pack in its small parts (0.25 MiB, 3 files to a batch), the --batches they
# are planned for: more batches than planned fail the rehearsal, as their sends could outlast the window. Measured:
# 6 for the first window (two checkpoints, the runs' first epochs), 4 for the second; two more for growth.
SMALL_BATCHES = 8


def batches_of(output: str) -> int:
    found = re.search(r"batch 1 of (\d+) in \$OUT", output)
    if not found:
        raise RehearsalFailed(f"the reproduce call did not say how many batches it packed:\n{output[-2000:]}")
    if int(found.group(1)) > SMALL_BATCHES:
        raise RehearsalFailed(f"the reproduce call packed {found.group(1)} batches, planned for {SMALL_BATCHES}")
    return int(found.group(1))


def play_window(machine: Machine, station: Path, commit: str, at_most: float | None = None) -> list[Path]:
    """A window's calls as gpu_prepare.py prints them (ST's seeds, two at once side by side), the small parts set on
    the reproduce call, then a `send` for each batch it packed; returns the batches, in order."""
    options = ("--data-dir", "~/c10", "--parallel", "2", "--in-process", "--only", "ST")
    reproduce = gpu_prepare.reproduce_command(commit, "paper-cifar10", "smoke", SMALL_BATCHES, options, at_most)
    reproduce = reproduce.replace("SAM_BENCH_COMMIT=", f"{SMALL_PARTS} SAM_BENCH_COMMIT=", 1)
    try:
        window = gpu_prepare.calls(station, reproduce)
    except gpu_prepare.Refused as err:
        raise RehearsalFailed(f"gpu_prepare refused: {err}") from None
    if reproduce not in window[-1].command:
        raise RehearsalFailed(f"the window does not end with the reproduce call: {window[-1].command}")
    for call in window:
        output, out = machine.call(station, call.command, call.carry)
    outs = [out]
    for number in range(2, batches_of(output) + 1):
        outs.append(machine.call(station, f"ops/remote-gpu/gpu_relay.sh send {number}")[1])
    return outs


def check_commit_recorded(station: Path, batches: list[Path], commit: str) -> int:
    """Every run's metadata and every results file the batches brought back (unpacked into `station`) records
    `commit` as its code: the machine's copy has no .git, and the reproduce call's SAM_BENCH_COMMIT named it.
    Returns how many records were checked; none fails."""
    manifest = json.loads(next(batches[0].rglob("*.manifest.json")).read_text())
    checked = 0
    for entry in manifest["files"]:
        name = entry["path"]
        if re.fullmatch(r"reproductions/[^/]+/runs/[^/]+/metadata\.json", name):
            recorded = json.loads((station / name).read_text()).get("code_commit")
        elif re.fullmatch(r"reproductions/[^/]+/results/[^/]+\.json", name):
            recorded = json.loads((station / name).read_text()).get("environment", {}).get("code_commit")
        else:
            continue
        if str(recorded).split("+")[0] != commit:
            raise RehearsalFailed(f"{name} records code_commit {recorded!r}, not the commit sent ({commit})")
        checked += 1
    if not checked:
        raise RehearsalFailed("the window brought back no run metadata or results file to check")
    return checked


def st_runs(station: Path) -> dict[str, list[str]]:
    """ST's run folders and the epochs each has logged."""
    return {
        log.parent.name: log.read_text().splitlines() for log in sorted(station.glob(f"{REPRO}/runs/ST-*/log.jsonl"))
    }


# ---------------------------------------------------------------------------------------------
# The two windows


def rehearse(env: Path, keep: Path | None = None) -> list[dict]:
    check_env(env)
    where = Path(tempfile.mkdtemp(prefix="gpu-rehearsal-")) if keep is None else keep
    station = make_workstation(where)
    try:
        # the first window: a reproduce call whose minutes are spent by the first epochs stops ST's seeds mid-way
        first = Machine(where, env, "machine-1")
        commit = prepare(station)
        returned = play_window(first, station, commit, at_most=0.05)
        relay_tool(station, "unpack.py", *returned, "--into", ".", "--overwrite")
        checked = check_commit_recorded(station, returned, commit)
        stopped = st_runs(station)
        unfinished = [run for run in stopped if (station / REPRO / "runs" / run / "checkpoint.pt").is_file()]
        if len(stopped) != 2 or unfinished != list(stopped) or not all(1 <= len(e) < 4 for e in stopped.values()):
            raise RehearsalFailed(
                f"the first window should stop ST's two seeds mid-training with their checkpoints: {stopped}"
            )

        # the second window, in a new session's checkout: the checkpoints carried in, both runs finished
        station = next_session(station)
        second = Machine(where, env, "machine-2")
        commit = prepare(station)
        if len(list((station / ".relay-in").glob("batch-*"))) < 2:
            raise RehearsalFailed("gpu_prepare packed the unfinished runs' checkpoints in fewer than two batches")
        returned = play_window(second, station, commit)
        # a reproduce call that could not return in time: refused in one line, nothing back
        late = gpu_prepare.reproduce_command(commit, "paper-cifar10", "smoke", 1, ("--data-dir", "~/c10"))
        second.call(station, late.replace("--left L", "--left 2.0"), [".vendor"], refused=True)
        shutil.rmtree(station / ".relay-in")
        relay_tool(station, "unpack.py", *returned, "--into", ".", "--overwrite")
        checked += check_commit_recorded(station, returned, commit)

        # the workstation has it all: the runs resumed, the zoo entry, the leaderboard row, the later seed's weights
        for run_name, epochs in st_runs(station).items():
            if epochs[: len(stopped[run_name])] != stopped[run_name] or len(epochs) != 4:
                raise RehearsalFailed(f"{run_name} was not resumed where the first window stopped it: {epochs}")
        if not list(station.glob(f"{REPRO}/results/ST-*.json")) or not (station / REPRO / "REPORT.md").is_file():
            raise RehearsalFailed("ST's results or the report did not come back")
        verified = sam_bench(station, "zoo", "verify", "--zoo-dir", f"{REPRO}/model_zoo")  # exits 1 on a mismatch
        if "1 entries verified" not in verified:
            raise RehearsalFailed(f"zoo verify did not verify ST's entry:\n{verified}")
        if not list(station.glob(f"{REPRO}/leaderboards/**/*.json")):
            raise RehearsalFailed("no leaderboard entry came back")
        check_later_seed_kept(station, REPRO)
        if not list(station.glob("reproductions/relay-logs/*.log")):
            raise RehearsalFailed("the reproduce calls' console logs did not come back")
        print(f"every run and results file that came back ({checked}) records the commit its window sent")
        return first.log + second.log
    finally:
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
