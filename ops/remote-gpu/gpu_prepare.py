"""A GPU window made ready on the workstation: everything its calls carry, and the calls in their order.

A lent GPU's minutes are few, so nothing is worked out during the window: this writes what the calls carry (all
of it ignored by git) and prints the calls of README.md here, each with what it carries and how big that is with
the tree (at most 64 MiB a call):

    python ops/remote-gpu/gpu_prepare.py --only ST:2,SAM-0.1:2                 # reproductions/paper-cifar10-full

- `.vendor`: pyautoattack's package, without its 44 MB `examples/` (the machine lacks pyautoattack);
- `.data/part-K`: CIFAR-10 in parts (gpu_data_parts.py);
- `.weights/part-K`: committed weights of trained models the call evaluates (gpu_weights.py), where there are any;
- `.relay-in/batch-K`: the unfinished runs' checkpoints, where a run stopped mid-way, first put back from git
  (kept_checkpoint.py), packed in batches that fit beside the tree.

The tree travels without `.git`, so the reproduce call names the code by the commit checked out here, on its own
command line (`SAM_BENCH_COMMIT=<sha>`), and a tree whose sam_bench/ differs from that commit (changed or untracked
files) is refused: the runs would name code they did not run.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gpu_data_parts import CALL_LIMIT, MIB, path_bytes, tree_bytes
from gpu_window import BATCHES

ROOT = Path(__file__).resolve().parents[2]
RECIPE, SCALE = "paper-cifar10", "full"
FOLDER = f"reproductions/{RECIPE}-{SCALE}"
CODE = [".vendor"]  # what the reproduce call carries beside the tree
INBOX_BATCH_MIB = 48  # a batch carried in beside the tree (about 20 MiB) in a 64 MiB call
# Four models at once, side by side in one process (`reproduce --parallel K --in-process`, each on a CUDA stream of
# its own): the window's runs measure that mode's pace against one alone (docs/benchmarks.md); two models as two
# processes ran at 1.12x one model's pace on the H200 (graph steps)
PARALLEL = 4


class Refused(Exception):
    """The tree cannot be sent as it is: one line saying why."""


@dataclass
class Call:
    command: str
    carry: list[str]
    sent: int  # bytes: the tree and what it carries


def commit_to_send(root: Path) -> str:
    """The commit checked out in `root`, which the runs will record as their code; refused where sam_bench/ has
    changes or untracked files, which the copy would carry and the commit would not name."""
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all", "--", "sam_bench"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    if status:
        raise Refused(
            f"sam_bench/ differs from the commit checked out ({len(status)} files: {status[0].strip()} ...): commit"
            " or stash them, so that the commit the runs record names the code they ran"
        )
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
    ).stdout.strip()


def reproduce_command(
    commit: str,
    recipe: str = RECIPE,
    scale: str = SCALE,
    batches: int = BATCHES,
    options: tuple[str, ...] = (),
    at_most: float | None = None,
) -> str:
    """The reproduce call's command line, L for the minutes left when it is issued; `at_most`: reproduce for at most
    that many minutes, however many the window leaves."""
    relay = f"SAM_BENCH_COMMIT={commit} ops/remote-gpu/gpu_relay.sh reproduce --left L {recipe} {scale}"
    return " ".join([relay, *(["--at-most", str(at_most)] if at_most else []), f"--batches {batches}", *options])


def _numbered(folder: Path, prefix: str) -> list[Path]:
    found = [p for p in folder.glob(f"{prefix}-*") if p.is_dir()] if folder.is_dir() else []
    return sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[1]))


def calls(root: Path, reproduce: str) -> list[Call]:
    """The window's calls from what `root` holds now (.data, .weights, .relay-in, .vendor), in order: the data parts
    but the last, the weights, the inbox's batches but the last, then the last data part with the reproduce call,
    or, where there is an inbox, the last data part alone and the reproduce call with the inbox's last batch (each is
    too big to go with the other). The `send` calls follow, as many as the reproduce call's reply names."""
    tree = tree_bytes(root)

    def call(command: str, carry: list[Path], code: bool = False) -> Call:
        names = [p.relative_to(root).as_posix() for p in carry] + (CODE if code else [])
        return Call(command, names, tree + sum(path_bytes(root / n) for n in names))

    data = _numbered(root / ".data", "part")
    if not data:
        raise Refused("no .data/part-K: run python ops/remote-gpu/gpu_data_parts.py first")
    inbox = _numbered(root / ".relay-in", "batch")
    out = [call("ops/remote-gpu/gpu_relay.sh data --left L", [part]) for part in data[:-1]]
    out += [call("ops/remote-gpu/gpu_relay.sh weights --left L", [p]) for p in _numbered(root / ".weights", "part")]
    out += [call("ops/remote-gpu/gpu_relay.sh inbox --left L", [batch]) for batch in inbox[:-1]]
    if inbox:
        out.append(call("ops/remote-gpu/gpu_relay.sh data --left L --last", [data[-1]]))
        out.append(call(reproduce, [inbox[-1]], code=True))
    else:
        out.append(call(f"ops/remote-gpu/gpu_relay.sh data --left L --last && {reproduce}", [data[-1]], code=True))
    too_big = [c for c in out if c.sent > CALL_LIMIT]
    if too_big:
        raise Refused(f"{too_big[0].command} would carry {too_big[0].sent / MIB:.1f} MiB, over 64")
    return out


def unfinished_checkpoints(folder: Path, only: list[str] | None = None) -> list[Path]:
    """checkpoint.pt of the folder's runs whose training is not complete: what the reproduce call resumes; `only`
    (reproduce's --only: NAME or NAME:SEED): of those runs alone, as the folder's plan.json names them."""
    from run_files import finished_run

    from sam_bench import files

    found = [c for c in sorted(folder.glob("runs/*/checkpoint.pt")) if not finished_run(c.parent)]
    if only is None or not found:
        return found
    models = files.read_json(folder / "plan.json")["models"]
    wanted = {f"{m['name']}-{m['key']}" for m in models if m["name"] in only or f"{m['name']}:{m['seed']}" in only}
    return [c for c in found if c.parent.name in wanted]


def checkpoints_back(folder: Path) -> list[str]:
    """Unfinished runs' checkpoints kept in git (checkpoint.json) put back in the tree, where a new checkout lacks
    them (kept_checkpoint.py); a line for each, and for each run whose epochs no checkpoint can resume."""
    import kept_checkpoint

    return kept_checkpoint.restore_folder(folder)


def pack_inbox(root: Path, folder: str, only: list[str] | None = None, part_mib: float = 15) -> list[str]:
    """The folder's unfinished runs' checkpoints (put back from git first; `only`: of the runs reproduce's --only
    names) packed into .relay-in/batch-K, in parts of `part_mib`; the lines to show."""
    from sam_bench.errors import SamBenchError

    shutil.rmtree(root / ".relay-in", ignore_errors=True)
    try:
        said = checkpoints_back(root / folder)
    except SamBenchError as err:
        raise Refused(str(err)) from None
    carried = unfinished_checkpoints(root / folder, only)
    if carried:
        paths = [c.relative_to(root).as_posix() for c in carried]
        _run(root, sys.executable, "ops/remote-gpu/pack.py", *paths, "--part-mib", str(part_mib),
             "--batch-mib", str(INBOX_BATCH_MIB), "--out", ".relay-in", "--name", "resume")  # fmt: skip
        said.append(f"carried in: {', '.join(c.parent.name for c in carried)} (unfinished; their checkpoints)")
    return said


def vendor(root: Path) -> None:
    """pyautoattack's package folder, without its examples (a 44 MB file) and caches."""
    import pyautoattack

    source = Path(pyautoattack.__file__).parent
    target = root / ".vendor" / source.name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("examples", "__pycache__"))


def _run(root: Path, *command: str) -> str:
    """The command's output; what it says on stderr shown."""
    done = subprocess.run(command, cwd=root, capture_output=True, text=True)
    if done.returncode != 0:
        raise Refused(f"{' '.join(command)} failed: {(done.stderr or done.stdout).strip()}")
    print(done.stderr, end="", file=sys.stderr)
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default=None, metavar="NAMES", help="reproduce's --only: the runs of this window")
    parser.add_argument("--parallel", type=int, default=PARALLEL, help="models at once (default: %(default)s)")
    parser.add_argument(
        "--processes", action="store_true", help="the models at once as processes of their own, not side by side"
    )
    parser.add_argument(
        "--batches", type=int, default=BATCHES, help="batches the reproduce call packs (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    try:
        commit = commit_to_send(ROOT)
        vendor(ROOT)
        print(_run(ROOT, sys.executable, "ops/remote-gpu/gpu_data_parts.py").splitlines()[0])  # the tree's size
        only = ["--only", args.only] if args.only else []
        weights = _run(ROOT, sys.executable, "ops/remote-gpu/gpu_weights.py", FOLDER, *only).splitlines()
        print("\n".join(line for line in weights if not line.startswith("call ")))  # its calls are among the window's
        for line in pack_inbox(ROOT, FOLDER, args.only.split(",") if args.only else None):
            print(line)
        # E1's corruptions are made on the CPU: measured afterwards on a workstation, never in a window
        options = ["--data-dir", "~/c10", "--device", "cuda", "--parallel", str(args.parallel), "--no-extensions"]
        options += [] if args.processes or args.parallel == 1 else ["--in-process"]
        options += only
        reproduce = reproduce_command(commit, batches=args.batches, options=tuple(options))
        window = calls(ROOT, reproduce)
    except Refused as err:
        print(f"gpu_prepare: {err}", file=sys.stderr)
        return 1
    for number, c in enumerate(window, 1):
        carry = f"  (carry {', '.join(c.carry)}: {c.sent / MIB:.1f} MiB with the tree)" if c.carry else ""
        print(f"call {number}: {c.command}{carry}")
    print(
        "then: ops/remote-gpu/gpu_relay.sh send 2 ... N, one call each, as its reply names them; then give_back."
        " L is the minutes left when the call is issued (README.md)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
