"""Does a run whose weights were lost still retrain bit for bit? Its first epoch tells, in a few minutes
instead of a whole retrain: this trains epoch 1 of each run from the config its metadata records and
compares the epoch's training loss with the one its log.jsonl recorded (every bit of it).

    python tools/first_epoch.py RUN_DIR [RUN_DIR ...] --work DIR > checks.jsonl

One JSON line per run: the recorded and retrained losses, whether they are equal, and where this ran
(torch, threads, instruction set, processor). Run it as the run trained (the same threads and, on x86,
ATEN_CPU_CAPABILITY / ONEDNN_MAX_CPU_ISA as tools/cpu_decisive.sh sets them); a run that matches is worth
retraining in full (tools/cpu_decisive.sh's restore lanes). Each run trains in a process of its own, as a
retrain by `reproduce --only` does: a process that has trained other compiled models first can train the
same config to other weights (cpu-decisive's AT-Linf-2 seed 1: its recorded first epoch came back after
five other runs in one process, not in a fresh one), so a recorded run made after others in its process
may come back only with that history replayed: `--after RUN_DIR` trains that run's first epoch first, in
the same process.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sam_bench import files  # noqa: E402
from sam_bench.errors import SamBenchError  # noqa: E402
from sam_bench.runtime import compile_cache  # noqa: E402
from sam_bench.training import loop  # noqa: E402
from sam_bench.training.loop import TrainConfig, train  # noqa: E402


def first_epoch_loss(log: Path) -> float:
    lines = log.read_text().splitlines() if log.is_file() else []
    if not lines:
        raise SamBenchError(f"{log}: no epoch recorded")
    return float(json.loads(lines[0])["train_loss"])


def recorded_config(run: Path) -> TrainConfig:
    return TrainConfig.from_dict(files.read_json(run / "metadata.json")["config"])


@contextlib.contextmanager
def compiled_as_recorded():
    """Training compiles as it did when the recorded runs trained: without dynamo's reset before each run (which
    came with runtime/compile_cache.compiled_afresh, 2026-11-25), so that what the process trained before counts
    as it did then. In a fresh process the two compile alike; only a replayed history needs it."""
    loop.compiled_afresh = compile_cache.compiled
    try:
        yield
    finally:
        loop.compiled_afresh = compile_cache.compiled_afresh


def replay(after: tuple[Path, ...] | list[Path], work: Path) -> None:
    """Epoch 1 of each run of `after`, in order, trained in this process (in folders beside `work`): what the
    process compiled before the run that follows (tools/retrain_after.py trains that run in full)."""
    for before in after:
        replayed = work.parent / f"{work.name}-after-{before.name}"
        shutil.rmtree(replayed, ignore_errors=True)
        train(recorded_config(before), replayed, stop_after_epochs=1, progress=False)


def check(run: Path, work: Path, after: tuple[Path, ...] | list[Path] = ()) -> dict:
    """Epoch 1 of `run` trained again in `work` (a fresh directory), against the recorded epoch 1; first, in
    the same process, epoch 1 of each of `after` (a history replayed: what the process trained before)."""
    metadata = files.read_json(run / "metadata.json")
    recorded = first_epoch_loss(run / "log.jsonl")
    with compiled_as_recorded():
        replay(after, work)
        shutil.rmtree(work, ignore_errors=True)
        meta = train(TrainConfig.from_dict(metadata["config"]), work, stop_after_epochs=1, progress=False)
    retrained = first_epoch_loss(work / "log.jsonl")
    where = ("torch_version", "cpu_threads", "cpu_isa", "cpu_model")
    return {
        "run": str(run),
        "recorded_loss": recorded,
        "retrained_loss": retrained,
        "equal": retrained == recorded,
        "after": [str(before) for before in after],
        "recorded_environment": {k: metadata.get(k) for k in where},
        "environment": {k: meta.get(k) for k in (*where, "code_commit")},  # the retrain's metadata records it
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="run directories (metadata.json and log.jsonl)")
    parser.add_argument("--work", type=Path, required=True, help="where the epochs train (one folder per run)")
    parser.add_argument(
        "--after",
        type=Path,
        action="append",
        default=[],
        help="train this run's first epoch first, in each run's process (repeatable, in order): a history replayed",
    )
    parser.add_argument("--in-this-process", action="store_true", help=argparse.SUPPRESS)  # one run, here
    args = parser.parse_args(argv)
    if args.in_this_process:
        try:
            print(json.dumps(check(args.runs[0], args.work / args.runs[0].name, args.after)), flush=True)
        except SamBenchError as err:
            print(f"first_epoch: {err}", file=sys.stderr)
            return 2
        return 0
    for run in args.runs:  # each in a fresh process: what an earlier run left in this one must not count
        one = [sys.executable, __file__, str(run), "--work", str(args.work), "--in-this-process"]
        one += [f"--after={before}" for before in args.after]
        done = subprocess.run(one, stdout=subprocess.PIPE, text=True)
        if done.returncode != 0:
            return done.returncode
        print(done.stdout, end="", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
