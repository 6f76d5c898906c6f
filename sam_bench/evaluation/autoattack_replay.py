"""AutoAttack's part of a spot check (spot_check.py): what an evaluation says it ran agrees with itself (`rerun`),
what runs again, and its first attacks replayed exactly as the recorded evaluation ran them.

A re-run on a sample cannot give each image the random start it had where the file was recorded before per-image
draws (an image's start was its row in a batch of its chunk's still-robust images), so such a stratum is held to a
chance rule. The recorded run's batches can be rebuilt whole, though: each chunk that holds a differing image runs
again from its seed, in the recorded batches, through its first STAGES attacks (`autoattack(stages=...)`), which
gives every image its very starts and arithmetic where the arithmetic is the recorded one (a CPU with the recorded
kernels, at the recorded threads). An image the record left robust that the replay fools refuses the file. The
first two attacks make at least 99.8% of AutoAttack's fooling in every committed file (docs/evaluation.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping

import numpy as np
import torch

from sam_bench.attacks import draws
from sam_bench.attacks.autoattack import attack_names, autoattack, predict
from sam_bench.attacks.draws import chunk_seed
from sam_bench.autoattack_versions import ATTACK_NAMES, VERSIONS
from sam_bench.data import to_float
from sam_bench.errors import SamBenchError
from sam_bench.evaluation.attack_spec import AttackSettings
from sam_bench.evaluation.stratum_check import FIX
from sam_bench.runtime import math_mode
from sam_bench.runtime.provenance import cpu_model

STAGES = 2  # the attacks replayed: APGD-CE and APGD-T in RobustBench's standard version


def first_restarts(s: AttackSettings):
    """The restarts AutoAttack's first attack ran with, as recorded (results from before they were: 1)."""
    return (s.config.get(s.attacks[0]) or {}).get("restarts", 1)


def replayable(evaluation, environment: Mapping, device: torch.device) -> bool:
    """Whether an AutoAttack evaluation's first attacks can be replayed here exactly: recorded on a CPU in recorded
    chunks and batches, none of them resumed from an earlier process (which may have run elsewhere), checked on a
    CPU whose kernels are the recorded ones (the instruction set, and the processor where the file names it)."""
    chunks = evaluation.chunks or {}
    isa = environment.get("cpu_isa")
    return (
        evaluation.attack == "autoattack"
        and float(evaluation.eps_value or 0.0) > 0
        and environment.get("device") == "cpu"
        and device.type == "cpu"
        and isinstance(chunks.get("size"), int)
        and isinstance(chunks.get("batch_size"), int)
        and chunks.get("resumed") == 0  # every chunk measured by the process whose environment the file records
        and isinstance(isa, Mapping)
        and kernels(isa) == kernels_here()
        and environment.get("cpu_model") in (None, cpu_model())
    )


def kernels(isa: Mapping) -> str | None:
    """The instruction set a CPU's convolutions ran with (provenance's `cpu_isa`): oneDNN's cap where one was set
    (`ONEDNN_MAX_CPU_ISA`, below what the processor has), else the processor's own level as ATen names it."""
    return (isa.get("onednn_max_cpu_isa") or isa.get("aten") or "").upper() or None


def kernels_here() -> str | None:
    """This CPU's kernels, as `kernels` names them."""
    capped = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return kernels({"aten": torch.backends.cpu.get_cpu_capability(), "onednn_max_cpu_isa": capped})


def replayed_attacks(evaluation) -> list[str]:
    """The attacks a replay of the evaluation runs: its first STAGES."""
    return evaluation.params.attacks[:STAGES]


def replayed_robust(
    net: torch.nn.Module, evaluation, x_test: np.ndarray, y_test: np.ndarray, wanted: np.ndarray, search: str
) -> np.ndarray:
    """Whether the recorded run's first attacks (`replayed_attacks`) left each image of `wanted` correct, replayed:
    each chunk that holds one of them run again from its seed through those attacks, scored in fp32 in the recorded
    batches as `evaluate` scores (x_test: NHWC uint8 images, as the data set holds them)."""
    s, chunks = evaluation.params, evaluation.chunks or {}
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
                torch.manual_seed(chunk_seed(s.seed, start))
                result = autoattack(
                    net,
                    x,
                    y,
                    eps=float(evaluation.eps_value or 0.0),
                    norm=str(evaluation.norm),
                    version=s.version,
                    attacks=s.attacks,
                    seed=s.seed,
                    batch_size=batch,
                    restarts=first_restarts(s),
                    stages=STAGES,
                    keyed_draws=draws.keyed(evaluation.settings),
                )
            robust = (predict(net, result.x_adv, batch) == y).cpu().numpy()
        left.update({start + i: bool(r) for i, r in enumerate(robust)})
    return np.array([left[int(i)] for i in wanted], dtype=bool)


def replay(
    net: torch.nn.Module,
    evaluation,
    environment: Mapping,
    device: torch.device,
    x_test: np.ndarray,
    y_test: np.ndarray,
    wanted: np.ndarray,
    search: str,
    always: bool = False,
) -> tuple[np.ndarray, str] | None:
    """(which images of `wanted` the recorded run's first attacks left correct, replayed exactly (`replayed_robust`),
    what the replay ran); None where they cannot be replayed here (`replayable`), unless `always` (the strictest
    rule's: replayed whatever the file says it ran on)."""
    if not always and not replayable(evaluation, environment, device):
        return None
    names = replayed_attacks(evaluation)
    what = f"its first attack, {names[0]}," if len(names) == 1 else f"its first attacks, {' and '.join(names)},"
    return replayed_robust(net, evaluation, x_test, y_test, wanted, search), what


# AutoAttack's breakdown is its own count, scored in the search math: it may differ from the fp32 outcomes on an
# image or two whose top logits tie within that math's rounding (1 of 10,000 in the committed GPU files).
BREAKDOWN_SLACK_IMAGES = 2


def rerun(path, name: str, evaluation) -> tuple[dict, str]:
    """(the settings AutoAttack runs again with, what runs again in words: 'autoattack (standard: apgd-ce, ...)') of
    an evaluation named `name` whose labels agree with themselves; one line (SamBenchError) where they do not."""
    s = evaluation.params
    if s.version not in VERSIONS:
        raise SamBenchError(f"{path}: {name}: {s.version!r} is no AutoAttack version; {FIX}")
    if not s.attacks or any(a not in ATTACK_NAMES for a in s.attacks):
        raise SamBenchError(f"{path}: {name}: lists no AutoAttack attacks it could have run ({s.attacks}); {FIX}")
    restarts = first_restarts(s)
    if not isinstance(restarts, int) or isinstance(restarts, bool) or restarts < 1:
        raise SamBenchError(
            f"{path}: {name}: its first attack's restarts ({restarts!r}) are no whole number >= 1; {FIX}"
        )
    ran = ", ".join(s.attacks)
    if s.version != "custom" and s.attacks != attack_names(s.version, evaluation.norm):
        raise SamBenchError(
            f"{path}: {name}: AutoAttack's {s.version} version runs "
            f"{', '.join(attack_names(s.version, evaluation.norm))}, the file lists {ran}; {FIX}"
        )
    breakdown = evaluation.breakdown
    if breakdown is not None and list(breakdown) != ["clean", *s.attacks]:
        raise SamBenchError(
            f"{path}: {name}: its breakdown names {', '.join(breakdown)}, not the clean pass and its attacks "
            f"({ran}); {FIX}"
        )
    if breakdown is not None:  # from the clean accuracy, never rising, to the robust one (BREAKDOWN_SLACK_IMAGES)
        values, n = [float(v) for v in breakdown.values()], evaluation.n_examples or 1
        ends = (values[0], float(evaluation.clean_acc or 0)), (values[-1], float(evaluation.robust_acc or 0))
        if any(abs(a - b) > (BREAKDOWN_SLACK_IMAGES + 0.5) / n for a, b in ends) or any(
            b > a for a, b in zip(values, values[1:])
        ):
            raise SamBenchError(
                f"{path}: {name}: its breakdown ({', '.join(f'{k} {v:g}' for k, v in breakdown.items())}) "
                f"is not a falling sequence from the clean accuracy {evaluation.clean_acc:g} to the robust accuracy "
                f"{evaluation.robust_acc:g}; {FIX}"
            )
    return {**evaluation.settings, "restarts": restarts}, f"autoattack ({s.version}: {ran})"
