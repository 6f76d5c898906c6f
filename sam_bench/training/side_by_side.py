"""Several runs trained side by side in one process (`train --seeds 0-3` in an eager, static or graph step
mode; the cells of `reproduce --parallel K --in-process` train the same way; docs/training.md): each run is
`train` itself in a lane of its own (runtime/lanes.py), so it is what it is alone, bit for bit, but for its clock.
A run that fails ends alone; the others finish. Unlike `--step-mode grouped`, the runs need not share anything.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

from sam_bench.errors import BadInput
from sam_bench.runtime import distributed, lanes
from sam_bench.runtime.provenance import resolve_device
from sam_bench.training.config import TrainConfig
from sam_bench.training.loop import train


def check(cfg: TrainConfig) -> None:
    """One line for a run that cannot train beside others in one process, before anything runs."""
    if cfg.compile:
        raise BadInput(
            "--compile trains a run alone in its process (torch.compile's state is the process's, not a lane's): "
            "leave --compile off to train runs side by side in one process"
        )
    if cfg.step_mode == "grouped":
        raise BadInput(
            "--step-mode grouped trains its seeds as one network already; runs side by side in one process take "
            "--step-mode eager, static or graph"
        )


def train_side_by_side(
    cfgs: list[TrainConfig],
    outs: list[str | Path],
    resume: bool = False,
    stop_after_epochs: int | None = None,
    progress: bool = True,
    stop_at: float | None = None,
) -> list[lanes.Outcome]:
    """Train (or continue) the runs in `outs` side by side; each run's outcome, in order: its metadata (what
    `train` returns), or the error that ended it. The limits are `train`'s, each run stopping by them alone."""
    if distributed.launched_by_torchrun() or distributed.launched_by_srun():
        raise BadInput("runs side by side share one process; run them without torchrun or srun's tasks")
    folders = [Path(o).resolve() for o in outs]
    if not cfgs or len(folders) != len(cfgs) or len(set(folders)) != len(folders):
        raise BadInput("runs side by side need one folder of their own each")
    for cfg in cfgs:
        cfg.validate()
        check(cfg)
    devices = {str(resolve_device(cfg.device)) for cfg in cfgs}
    if len(devices) != 1:
        raise BadInput(f"runs side by side share one device; these name {', '.join(sorted(devices))}")
    jobs = [
        partial(
            train,
            cfg,
            out,
            resume=resume,
            stop_after_epochs=stop_after_epochs,
            stop_at=stop_at,
            progress=progress and i == 0,  # one progress bar: the first run's
        )
        for i, (cfg, out) in enumerate(zip(cfgs, outs, strict=True))
    ]
    return lanes.run(jobs, len(jobs), devices.pop())
