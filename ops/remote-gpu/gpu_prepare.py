"""A GPU window made ready on the workstation: everything its calls carry, and the calls in their order.

A lent GPU is rare and its minutes few, so nothing is worked out during the window: this writes what the
calls carry (all of it ignored by git) and prints the calls of WINDOWS.md's section 1, each with what it
carries and how big that is with the tree (at most 64 MiB a call):

    python ops/remote-gpu/gpu_prepare.py                  # for reproductions/paper-cifar10-full
    python ops/remote-gpu/gpu_prepare.py --folder reproductions/paper-cifar10-full --parallel 1

- `.vendor` (pyautoattack's package, without its 44 MB `examples/`) and `COMMIT` (no .git travels);
- `.data/part-K`: CIFAR-10 in parts (ops/remote-gpu/gpu_data_parts.py);
- `.weights/part-K`: the committed weights of trained models the stint evaluates (again): first seeds' zoo
  weights, later seeds' own run weights (ops/remote-gpu/gpu_weights.py);
- `.relay-in/batch-K`: the folder packed with its unfinished run's checkpoint, where one stopped mid-way
  (`pack.py ... --batch-mib 48`, WINDOWS.md section 3), its checkpoints first put back from git where a
  new checkout lacks them (kept_checkpoint.py).

L in the printed calls is the minutes left in the window when the call is issued (WINDOWS.md). The stint
trains K models at once (`--parallel K`, sized to bring back its K checkpoints, zoo entries and the weights of
later seeds it trains: `--batches B`, as the plan's next window sizes it), K as
`ops/remote-gpu/gpu_plan.py --choose` plans it from the committed probes; until they have timed K models at once and an
evaluation beside training in the full scale's step mode, the window starts with a short probe call that times
them (ARRANGEMENT_PROBE_CALL), and K is chosen from its record before the stint starts.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gpu_data_parts import CALL_LIMIT, MIB, path_bytes, tree_bytes
from gpu_window import ARRANGEMENT_PROBE_CALL, INBOX_BATCH_MIB, batches_for

ROOT = Path(__file__).resolve().parents[2]
FOLDER = "reproductions/paper-cifar10-full"
CODE = [".vendor", "COMMIT"]
# AutoAttack's search in TF32 against true fp32, measured once on this zoo model beside a stint
# (ops/remote-gpu/gpu_search_math.py); a window plans it until a record of it is committed in benchmarks/
SEARCH_MATH_MODEL = "SamBench2026AT_PRN18-w0.125_Linf-8"
SEARCH_MATH_CALL = (
    f"PYTHONPATH=.vendor timeout 300 python3 ops/remote-gpu/gpu_search_math.py {SEARCH_MATH_MODEL} --data-dir ~/c10 "
    "--device cuda --rounds 2 --note 'beside a stint' --out $OUT/search-math.json"
)


def search_math_measured(root: Path) -> bool:
    return any((root / "benchmarks").glob("*-search-math.json"))


@dataclass
class Call:
    command: str
    carry: list[str]
    sent: int  # bytes: the tree and what it carries


def _numbered(folder: Path, prefix: str) -> list[Path]:
    found = [p for p in folder.glob(f"{prefix}-*") if p.is_dir()] if folder.is_dir() else []
    return sorted(found, key=lambda p: int(p.name.rsplit("-", 1)[1]))


def calls(
    root: Path,
    folder: str = FOLDER,
    parallel: int | None = 1,
    search_math: bool = False,
    probe: bool = False,
    batches: int | None = None,
) -> list[Call]:
    """The window's calls from what `root` holds now (.data, .weights, .relay-in, .vendor, COMMIT), in
    WINDOWS.md's order: with `probe`, the probe of K models at once first (alone on the device, before
    anything else runs there); the data parts, the weights, the inbox's batches but the last, the last data part
    (with the stint's start when nothing is left to carry in), the start with the inbox's last batch, the GPU
    tests beside the stint (with `search_math`, the measurement of the attacks' search beside it too),
    then the waits and sends. `batches`: what the stint is sized to bring back (`gpu_plan.next_stint_batches`; None:
    K checkpoints' and two zoo entries', gpu_window.batches_for). `parallel` None: K and the batches are left as K
    and B, to be set from the probe call's record."""
    tree = tree_bytes(root)
    code = sum(path_bytes(root / c) for c in CODE)

    def call(command: str, carry: list[Path], with_code: bool = False) -> Call:
        sent = tree + sum(path_bytes(p) for p in carry) + (code if with_code else 0)
        names = [p.relative_to(root).as_posix() for p in carry] + (CODE if with_code else [])
        return Call(command, names, sent)

    data = _numbered(root / ".data", "part")
    if not data:
        raise SystemExit("gpu_prepare: no .data/part-K: run python ops/remote-gpu/gpu_data_parts.py first")
    weights = _numbered(root / ".weights", "part")
    inbox = _numbered(root / ".relay-in", "batch")
    k, b = ("K", "B") if parallel is None else (str(parallel), str(batches or batches_for(parallel)))
    start = (
        f"ops/remote-gpu/gpu_relay.sh start --left L paper-cifar10 full --batches {b} --data-dir ~/c10"
        f" --device cuda --parallel {k}"
    )
    out = [call(ARRANGEMENT_PROBE_CALL, [], with_code=True)] if probe else []
    out += [call("ops/remote-gpu/gpu_relay.sh data --left L", [part]) for part in data[:-1]]
    out += [call("ops/remote-gpu/gpu_relay.sh weights --left L", [part]) for part in weights]
    out += [call("ops/remote-gpu/gpu_relay.sh inbox --left L", [batch]) for batch in inbox[:-1]]
    if inbox:  # the last data part and the inbox's last batch are each too big to go together
        out.append(call("ops/remote-gpu/gpu_relay.sh data --left L --last", [data[-1]]))
        out.append(call(start, [inbox[-1]], with_code=True))
    else:
        out.append(call(f"ops/remote-gpu/gpu_relay.sh data --left L --last && {start}", [data[-1]], with_code=True))
    out.append(call("ops/remote-gpu/gpu_relay.sh test --left L --at-most 2.5", [], with_code=True))
    if search_math:  # beside the stint too: it costs the window nothing the `wait`s would not hold anyway
        out.append(call(SEARCH_MATH_CALL, [], with_code=True))
    out.append(call("ops/remote-gpu/gpu_relay.sh wait --left L  (again at once while it exits 5; then its sends)", []))
    too_big = [c for c in out if c.sent > CALL_LIMIT]
    if too_big:
        raise SystemExit(f"gpu_prepare: {too_big[0].command} would carry {too_big[0].sent / MIB:.1f} MiB, over 64")
    return out


def unfinished_checkpoints(folder: Path) -> list[Path]:
    """checkpoint.pt of the folder's runs whose training is not complete: what the next stint resumes."""
    from run_files import finished_run

    return [c for c in sorted(folder.glob("runs/*/checkpoint.pt")) if not finished_run(c.parent)]


def checkpoints_back(folder: Path) -> list[str]:
    """Unfinished runs' checkpoints kept in git (checkpoint.json) put back in the tree, where a new checkout
    lacks them (kept_checkpoint.py); a line for each, and for each run whose epochs no checkpoint can
    resume (its stint would train it from its start)."""
    import kept_checkpoint

    return kept_checkpoint.restore_folder(folder)


def vendor(root: Path) -> None:
    """pyautoattack's package folder, without its examples (a 44 MB file) and caches."""
    import pyautoattack

    source = Path(pyautoattack.__file__).parent
    target = root / ".vendor" / source.name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("examples", "__pycache__"))


def _run(*command: str) -> str:
    """The command's output; what it says on stderr (a note: gpu_weights.py keeping a later seed's weights) shown."""
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"gpu_prepare: {' '.join(command)} failed: {(done.stderr or done.stdout).strip()}")
    print(done.stderr, end="", file=sys.stderr)
    return done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", default=FOLDER, help="the full-scale reproduction (default: %(default)s)")
    parser.add_argument(
        "--parallel",
        type=int,
        default=None,
        help="K for the stint (default: gpu_plan.py --choose on the committed probes; unset while they lack it)",
    )
    args = parser.parse_args(argv)
    vendor(ROOT)
    (ROOT / "COMMIT").write_text(_run("git", "rev-parse", "HEAD"))
    _run(sys.executable, "ops/remote-gpu/gpu_data_parts.py")
    search_math = not search_math_measured(ROOT)
    _run(
        sys.executable,
        "ops/remote-gpu/gpu_weights.py",
        args.folder,
        *(["--model", SEARCH_MATH_MODEL] if search_math else []),
    )
    shutil.rmtree(ROOT / ".relay-in", ignore_errors=True)
    from sam_bench.errors import SamBenchError

    try:
        for line in checkpoints_back(ROOT / args.folder):
            print(line)
    except SamBenchError as err:
        raise SystemExit(f"gpu_prepare: {err}") from None
    carried = unfinished_checkpoints(ROOT / args.folder)
    if carried:
        _run(
            sys.executable, "ops/remote-gpu/pack.py", args.folder, "--drop-finished-checkpoints", "--exclude",
            "reproductions/*/runs/*/model.safetensors", "--batch-mib", str(INBOX_BATCH_MIB), "--out", ".relay-in",
            "--name", "resume",
        )  # fmt: skip
        print(f"carried in: {', '.join(p.parent.name for p in carried)} (unfinished; their checkpoints)")
    import gpu_plan

    probe = args.parallel is None and not gpu_plan.arrangement_measured()
    parallel = args.parallel
    if parallel is None and not probe:
        parallel = gpu_plan.stints_choice([str(ROOT / p) for p in gpu_plan.docs_probes()], str(gpu_plan.DOCS_STATE))[1]
    batches = None if parallel is None else gpu_plan.next_stint_batches(parallel, state=args.folder)
    for number, c in enumerate(calls(ROOT, args.folder, parallel, search_math, probe, batches), 1):
        carry = f"  (carry {', '.join(c.carry)}: {c.sent / MIB:.1f} MiB with the tree)" if c.carry else ""
        print(f"call {number}: {c.command}{carry}")
    if probe:
        print(
            f"K and B: copy call 1's probe.json here as {gpu_plan.DOCS_ARRANGEMENT.relative_to(ROOT)}"
            " (DOCS_ARRANGEMENT in gpu_plan.py names the device); K is what"
            " `python ops/remote-gpu/gpu_plan.py --choose "
            + " ".join([*gpu_plan.docs_probes(), str(gpu_plan.DOCS_ARRANGEMENT.relative_to(ROOT))])
            + "` then prints, and B what `python ops/remote-gpu/gpu_plan.py --batches K` prints (the next stint's"
            " K checkpoints, zoo entries and later seeds' weights to bring back)"
        )
    print("then: the sends the stint names; give_back if minutes are left over (WINDOWS.md, section 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
