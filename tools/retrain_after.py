"""A lost run trained again in full, in a process whose history is replayed first: for a run whose first
epoch comes back bit for bit only after other runs' first epochs in the same process (tools/first_epoch.py
--after), the whole retrain must be made the same way.

    python tools/retrain_after.py RUN_DIR --into FOLDER --after RUN_DIR [--after ...] [--stop-after-epochs K]

RUN_DIR is the recorded run (its metadata's config is trained again); the retrain goes to FOLDER/runs/<its
name>, where `sam-bench reproduce ... --out FOLDER --only MODEL:SEED` then finds it, resumes what is left in a
process of its own and evaluates it, and `zoo keep` takes it when its weights are the recorded ones.
`--stop-after-epochs K` stops after epoch K, as the recorded run's process did (cpu-decisive's AT-Linf-2 seed
1 trained epochs 1-2 after two other runs, then resumed in a fresh process: an epoch whose first step took
seconds, not a fraction of one, in its log.jsonl). One JSON line says what was replayed and trained, where.

Why a process's history counts (torch 2.13; `TORCH_LOGS=recompiles,dynamic` shows it): dynamo caches what it
compiled per function for the whole process, and once the model's forward has seen a second batch size (a
run's test pass after epoch 1) or a second BatchNorm momentum (SAM's second pass), it marks them dynamic
("automatic dynamic") and compiles every later variant for any batch size, with other kernels. A variant the
earlier runs compiled is reused as it was (ST after anything, SAM after SAM); one they did not (AT's step,
whose input requires a gradient, after SAM runs; SAM's after an AT run) is compiled the dynamic way, and its
arithmetic differs from a fresh process's by rounding, which training then grows. Training has since reset
dynamo before each run (runtime/compile_cache.compiled_afresh); this tool, and tools/first_epoch.py, train
without that reset (first_epoch.compiled_as_recorded), as the runs they restore were trained.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from first_epoch import compiled_as_recorded, recorded_config, replay  # noqa: E402

from sam_bench import files  # noqa: E402
from sam_bench.errors import SamBenchError  # noqa: E402
from sam_bench.training.loop import train  # noqa: E402


def retrain(run: Path, into: Path, after: list[Path], work: Path, stop_after_epochs: int | None = None) -> dict:
    """`run`'s recorded config trained in `into`/runs/<run's name> after `after` is replayed (first epochs);
    a retrain already there that reached its stop is left as it is, and one cut short before it (a stopped
    session) is trained again from the start: only an unbroken process replays the history."""
    out = into / "runs" / run.name
    target = stop_after_epochs or recorded_config(run).epochs
    if (out / "metadata.json").is_file():
        stored = files.read_json(out / "metadata.json")
        if stored.get("status") == "complete" or stored.get("epochs_done", 0) >= target:
            return {"run": str(run), "into": str(out), "already": True, "epochs_done": stored.get("epochs_done")}
        shutil.rmtree(out)
    with compiled_as_recorded():
        replay(after, work / run.name)
        meta = train(recorded_config(run), out, stop_after_epochs=stop_after_epochs, progress=False)
    where = ("torch_version", "cpu_threads", "cpu_isa", "cpu_model", "code_commit")
    return {
        "run": str(run),
        "into": str(out),
        "after": [str(before) for before in after],
        "epochs_done": meta.get("epochs_done"),
        "status": meta.get("status"),
        "weights_sha256": meta.get("weights_sha256"),
        "recorded_weights_sha256": files.read_json(run / "metadata.json").get("weights_sha256"),
        "environment": {k: meta.get(k) for k in where},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="the recorded run directory (metadata.json)")
    parser.add_argument("--into", type=Path, required=True, help="the reproduction folder the retrain goes to")
    parser.add_argument(
        "--after", type=Path, action="append", default=[], help="a run whose first epoch trains first (repeatable)"
    )
    parser.add_argument("--work", type=Path, required=True, help="where the replayed epochs train")
    parser.add_argument("--stop-after-epochs", type=int, default=None, help="stop after this epoch, as the run did")
    args = parser.parse_args(argv)
    try:
        print(json.dumps(retrain(args.run, args.into, args.after, args.work, args.stop_after_epochs)), flush=True)
    except SamBenchError as err:
        print(f"retrain_after: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
