"""AutoAttack's first attacks replayed exactly as a recorded evaluation ran them, image by image.

A re-run of AutoAttack on a sample of images cannot give each image the random start it had: pyautoattack reseeds
every attack at every batch, and an image's start is its row in a batch of the still-robust images of its chunk.
So a faithful file's image recorded robust is sometimes fooled by a re-run (measured: 3 of 108,
benchmarks/autoattack-tolerance.log), and the spot check can hold that stratum only to a chance rule.

The recorded run's batches can be rebuilt whole, though: `evaluate` ran AutoAttack chunk by chunk (the recorded
`chunks.size`), from the chunk's seed, each attack in batches of the recorded `chunks.batch_size` of the chunk's
images still correct, in order. Running a chunk again through the same runner, stopped after its first STAGES
attacks (`autoattack(stages=...)`), gives every image the very starts and arithmetic it had, where the arithmetic
is the same: a CPU with the recorded instruction set (and processor where recorded), at the recorded thread count.
An image the recorded run left robust survived those attacks; where the replay fools it, the record is not the
run's. The first two attacks make nearly all of AutoAttack's fooling (at least 99.8% of it in every committed
file; the first alone 75-100%), so this catches images moved from fooled to robust exactly, at the cost of those
two attacks on the chunks that hold them; the attacks after them are left to the spot check's chance rule.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import torch

from sam_bench.attacks import draws
from sam_bench.attacks.autoattack import autoattack, predict
from sam_bench.attacks.draws import chunk_seed
from sam_bench.data import to_float
from sam_bench.runtime import math_mode
from sam_bench.runtime.provenance import cpu_model

if TYPE_CHECKING:  # a type only: the attack table names this module, and the results reader imports that table
    from sam_bench.evaluation.results_record import Evaluation

STAGES = 2  # the attacks replayed: APGD-CE and APGD-T in RobustBench's standard version


def first_restarts(settings: Mapping):
    """The restarts AutoAttack's first attack ran with, as recorded (results from before they were: 1)."""
    return ((settings.get("config") or {}).get(settings["attacks"][0]) or {}).get("restarts", 1)


def replayable(evaluation: Evaluation, environment: Mapping, device: torch.device) -> bool:
    """Whether an AutoAttack evaluation's first attacks can be replayed here exactly: recorded on a CPU in recorded
    chunks and batches, none of them resumed from an earlier process (which may have run elsewhere), checked on a
    CPU whose kernels are the recorded ones (the instruction set, and the processor where the file names it)."""
    chunks = evaluation.chunks or {}
    isa = environment.get("cpu_isa")
    here = {"aten": torch.backends.cpu.get_cpu_capability(), "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA")}
    return (
        evaluation.attack == "autoattack"
        and float(evaluation.eps_value or 0.0) > 0
        and environment.get("device") == "cpu"
        and device.type == "cpu"
        and isinstance(chunks.get("size"), int)
        and isinstance(chunks.get("batch_size"), int)
        and chunks.get("resumed") == 0  # every chunk measured by the process whose environment the file records
        and isinstance(isa, Mapping)
        and kernels(isa) == kernels(here)
        and environment.get("cpu_model") in (None, cpu_model())
    )


def kernels(isa: Mapping) -> str | None:
    """The instruction set a CPU's convolutions ran with (provenance's `cpu_isa`): oneDNN's cap where one was set
    (`ONEDNN_MAX_CPU_ISA`, below what the processor has), else the processor's own level as ATen names it."""
    return (isa.get("onednn_max_cpu_isa") or isa.get("aten") or "").upper() or None


def replayed_attacks(evaluation: Evaluation) -> list[str]:
    """The attacks a replay of the evaluation runs: its first STAGES."""
    return list(evaluation.settings["attacks"][:STAGES])


def replayed_robust(
    net: torch.nn.Module,
    evaluation: Evaluation,
    x_test: np.ndarray,
    y_test: np.ndarray,
    wanted: np.ndarray,
    search: str,
) -> np.ndarray:
    """Whether the recorded run's first attacks (`replayed_attacks`) left each image of `wanted` correct, replayed:
    each chunk that holds one of them run again from its seed through those attacks, scored in fp32 in the recorded
    batches as `evaluate` scores (x_test: NHWC uint8 images, as the data set holds them)."""
    s, chunks = evaluation.settings, evaluation.chunks or {}
    size, batch = int(chunks["size"]), int(chunks["batch_size"])
    n = evaluation.n_examples or len(y_test)
    device = next(net.parameters()).device
    left: dict[int, bool] = {}
    for start in sorted({int(i) // size * size for i in wanted}):
        end = min(start + size, n)
        x = to_float(x_test[start:end]).to(device)
        y = torch.from_numpy(np.asarray(y_test[start:end], np.int64)).to(device)
        with math_mode.evaluation():
            with torch.random.fork_rng(devices=[]), math_mode.search(search):
                torch.manual_seed(chunk_seed(s, start))
                result = autoattack(
                    net,
                    x,
                    y,
                    eps=float(evaluation.eps_value or 0.0),
                    norm=str(evaluation.norm),
                    version=s["version"],
                    attacks=s["attacks"],
                    seed=s["seed"],
                    batch_size=batch,
                    restarts=first_restarts(s),
                    stages=STAGES,
                    keyed_draws=draws.keyed(s),
                )
            robust = (predict(net, result.x_adv, batch) == y).cpu().numpy()
        left.update({start + i: bool(r) for i, r in enumerate(robust)})
    return np.array([left[int(i)] for i in wanted], dtype=bool)


def replay(
    net: torch.nn.Module,
    evaluation: Evaluation,
    environment: Mapping,
    device: torch.device,
    x_test: np.ndarray,
    y_test: np.ndarray,
    wanted: np.ndarray,
    search: str,
) -> tuple[np.ndarray, str] | None:
    """(which images of `wanted` the recorded run's first attacks left correct, replayed exactly (`replayed_robust`),
    what the replay ran); None where they cannot be replayed here (`replayable`)."""
    if not replayable(evaluation, environment, device):
        return None
    names = replayed_attacks(evaluation)
    what = f"its first attack, {names[0]}," if len(names) == 1 else f"its first attacks, {' and '.join(names)},"
    return replayed_robust(net, evaluation, x_test, y_test, wanted, search), what
