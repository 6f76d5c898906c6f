"""Which rule a spot check (spot_check.py) holds one evaluation of a results file to, and why.

A rule says how likely a faithful file's sampled image differs from its re-run by chance, per stratum (recorded
robust, recorded fooled), and so how many differing images refuse the file and how large its sample must be
(check_power). It is chosen by what the checking machine can reproduce and by what the file is, never loosened by
a field the file states of itself: device, kernels, processor, threads, torch, resumed chunks may only select a
stricter rule. The rules (docs/evaluation.md, "The rule, never chosen by the file", says what each was measured on):

- EXACT: draws per image (`settings.draws`) or none, recorded as this check runs: one differing image refuses.
- OTHER_ARITHMETIC: the same draws on other arithmetic: each stratum held to `Remeasure.arithmetic`, sampled for
  it; AutoAttack's images only Square fooled held to `Remeasure.tail_chance`.
- RECORDED_BEFORE: a file on the list recorded before per-image draws (recorded_before.py): the rule that fits
  what it says; `check_statement` says how far such a check goes, where its figures are shown.
- STRICTEST: any other file without per-image draws, held to what a faithful CPU file of its format passes."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial

import torch

from sam_bench.attacks import draws
from sam_bench.errors import BadInput
from sam_bench.evaluation import attack_table, check_power, cuda_draws, recorded_before
from sam_bench.evaluation.autoattack_replay import kernels, kernels_here
from sam_bench.evaluation.recheck import label
from sam_bench.evaluation.results_record import Evaluation
from sam_bench.evaluation.stratum_check import FIX
from sam_bench.runtime.provenance import cpu_model

EXACT = "exact replay"
OTHER_ARITHMETIC = "other arithmetic"
RECORDED_BEFORE = "recorded before per-image draws"
STRICTEST = "strictest"

WHERE_RECORDED, ALWAYS = "where the recorded kernels are this CPU's", "always"
MAX_THREADS = 1024  # a recorded CPU thread count above this (or none) is not one a check can run with


@dataclass(frozen=True)
class Here:
    """What of the checking machine its arithmetic depends on (kernels and processor: on a CPU)."""

    device: str
    kernels: str | None
    cpu_model: str | None
    torch_version: str

    @classmethod
    def now(cls, device: torch.device) -> Here:
        return cls(device.type, kernels_here(), cpu_model(), torch.__version__)


@dataclass(frozen=True)
class Rule:
    """How a spot check measures one evaluation again, and why (`why`: one phrase, in refusals and passes)."""

    kind: str
    why: str
    chances: tuple[float, float] = (0.0, 0.0)  # a faithful image of each stratum (recorded robust, fooled) differs
    retries: int = 0  # an image recorded fooled that the re-run leaves correct is attacked again, from other seeds
    tail_chance: float | None = None  # AutoAttack with per-image draws: images only attacks a batch shares fooled
    replayed: tuple[str, ...] = ()  # AutoAttack with per-image draws: its attacks whose draws replay image by image
    chunk_starts: bool = False  # PGD recorded before per-image draws: its chunks' draws replayed (spot_check)
    gpu: str | None = None  # with chunk_starts: the listed GPU file's GPU, whose draws are replayed; else the CPU's
    # AutoAttack recorded before per-image draws: its first attacks replayed whole from their chunks for the images
    # recorded robust that the re-run fools, WHERE_RECORDED (only where its recorded kernels are this CPU's) or ALWAYS
    chunk_replay: str = ""
    sized: bool = True  # the sample is sized for the power target under `chances` (else as for exact replays)

    @property
    def exact(self) -> bool:
        return self.chances == (0.0, 0.0)

    def sizes(self) -> tuple[Callable[[int, int], int], Callable[[int, int], int]]:
        """Each stratum's sample size (stratum, n) -> images: a 1-point change refused with probability >=
        check_power.POWER at this rule's chances (a changed image differs unless the re-run differs by the other
        stratum's chance); where the rule is not sized, as for an exact replay."""
        if not self.sized or self.exact:
            return check_power.sample_size, check_power.sample_size
        robust, fooled = self.chances
        return (
            partial(check_power.sample_size, chance=robust, differ=1 - fooled),
            partial(check_power.sample_size, chance=fooled, differ=1 - robust),
        )


def remeasure(attack: str) -> attack_table.Remeasure:
    """How an attack is measured again: its record's rule in the attack table (`Attack.remeasure`)."""
    rule = attack_table.attack(attack).remeasure
    if rule is None:
        raise BadInput(f"sam-bench has no rule to measure {attack!r} again; {FIX}")
    return rule


def unreproduced(environment: Mapping, evaluation: Evaluation, here: Here) -> list[str]:
    """What of the recording this machine cannot reproduce, in words ('recorded on cuda', 'kernels SSE41, not
    AVX512 here'); none where the re-run is the recorded run. A missing or malformed field counts as different."""
    why = []
    if environment.get("device") != "cpu" or here.device != "cpu":
        why.append(f"recorded on {environment.get('device') or 'an unrecorded device'}, checked on {here.device}")
        return why
    isa = environment.get("cpu_isa")
    recorded = kernels(isa) if isinstance(isa, Mapping) else None
    if recorded != here.kernels:
        why.append(f"kernels {recorded or 'unrecorded'}, not {here.kernels} here")
    if environment.get("cpu_model") != here.cpu_model:
        why.append("another processor" if environment.get("cpu_model") else "no processor recorded")
    if environment.get("torch_version") != here.torch_version:
        why.append(f"torch {environment.get('torch_version')}, not {here.torch_version} here")
    threads = environment.get("cpu_threads")
    if not (isinstance(threads, int) and not isinstance(threads, bool) and 1 <= threads <= MAX_THREADS):
        why.append("no thread count a check can run with")
    chunks = evaluation.chunks or {}
    if evaluation.attack != "clean" and chunks.get("resumed") != 0:
        why.append("chunks resumed from another process")
    sizes = (chunks.get("size"), chunks.get("batch_size"))
    if evaluation.attack != "clean" and not all(isinstance(size, int) for size in sizes):
        why.append("no chunks recorded")
    return why


def rule(evaluation: Evaluation, environment: Mapping, listed: str | None, here: Here) -> Rule:
    """The rule one evaluation of a results file is held to (module docstring): `environment` is the file's,
    `listed` the sha256 of its bytes where they are on the list of files recorded before per-image draws, else
    None."""
    record = remeasure(evaluation.attack)
    if listed and not draws.keyed(evaluation.settings):
        return _recorded_before(evaluation, environment, here, record, listed)
    if evaluation.attack not in ("pgd", "autoattack") or draws.keyed(evaluation.settings):  # draws none, or per image
        return _per_image(evaluation, environment, here, record)
    return _strictest(evaluation, record)


def _per_image(evaluation: Evaluation, environment: Mapping, here: Here, record) -> Rule:
    replayed: tuple[str, ...] = ()
    if evaluation.attack == "autoattack":
        replayed = tuple(draws.replayed_attacks(evaluation.params.attacks, evaluation.params.config))
    tail = record.tail_chance if evaluation.attack == "autoattack" else None
    held = partial(Rule, retries=record.retries, tail_chance=tail, replayed=replayed)
    drawn = evaluation.attack in ("pgd", "autoattack")
    differs = unreproduced(environment, evaluation, here)
    if not differs:
        return held(
            EXACT,
            f"recorded as this check runs ({here.kernels} kernels, this processor, torch {here.torch_version}, "
            "one process)" + (", its draws made per image" if drawn else "") + ": one differing image refuses it",
        )
    chances = record.arithmetic
    assert chances is not None, "every attack with per-image draws has its measured rate of other arithmetic"
    right, wrong = ("robust", "fooled") if drawn else ("correct", "wrong")
    return held(
        OTHER_ARITHMETIC,
        f"{'; '.join(differs)}: "
        + ("its draws replayed per image, " if drawn else "")
        + f"each stratum held to the measured rate of other arithmetic ({chances[0]:.2%} {right}, "
        f"{chances[1]:.2%} {wrong}) on a sample sized for it",
        chances=chances,
    )


def _recorded_before(evaluation: Evaluation, environment: Mapping, here: Here, record, sha256: str) -> Rule:
    on_cpu = environment.get("device") == "cpu" and here.device == "cpu"
    where = f"recorded on {environment.get('device') or 'an unrecorded device'} before per-image draws (a listed file)"
    if evaluation.attack in ("clean",) or record.own is not None:
        if on_cpu:
            return Rule(RECORDED_BEFORE, f"{where}, checked on a CPU: compared image by image", sized=False)
        return _per_image(evaluation, environment, here, record)  # nothing drawn: what differs is arithmetic alone
    chunks = evaluation.chunks or {}
    recorded_chunks = isinstance(chunks.get("size"), int) and isinstance(chunks.get("batch_size"), int)
    if record.replayable and on_cpu and recorded_chunks:
        return Rule(RECORDED_BEFORE, f"{where}: its chunks' draws replayed exactly", chunk_starts=True, sized=False)
    gpu = cuda_draws.gpu_of(environment)
    if record.replayable and record.gpu_arithmetic and gpu and here.device == "cpu" and recorded_chunks:
        own = recorded_before.replay_chances(sha256, label(evaluation))
        chances = own or record.gpu_arithmetic
        why = (
            f"{where}: its chunks' draws replayed as torch drew them on its {gpu}, each stratum held to the rate of "
            f"the GPU's other arithmetic measured on {'this evaluation' if own else 'such files'} "
            f"({chances[0]:.1%} robust, {chances[1]:.1%} fooled)"
        )
        return Rule(RECORDED_BEFORE, why, chances=chances, chunk_starts=True, gpu=gpu, sized=False)
    chances = record.chances()
    why = f"{where}: {chances[0]:.0%} of its recorded-robust images may differ"
    if record.replay is not None:
        why += ", its first attacks replayed whole where this CPU's kernels are the recorded ones"
    return Rule(
        RECORDED_BEFORE,
        why,
        chances=chances,
        retries=record.retries,
        chunk_replay=WHERE_RECORDED if record.replay is not None else "",
        sized=False,
    )


def _strictest(evaluation: Evaluation, record) -> Rule:
    where = "records no per-image draws and is not one of the files recorded before them"
    if record.replayable:
        why = f"{where}: its chunks' draws replayed exactly, whatever device it names"
        return Rule(STRICTEST, why, chunk_starts=True)
    chances = record.chances()
    return Rule(
        STRICTEST,
        f"{where}: its first attacks replayed whole from their chunks, whatever device and kernels it names",
        chances=chances,
        retries=record.retries,
        chunk_replay=ALWAYS,
        sized=False,
    )
