"""A results file's evaluations measured again from the weights it names, before its figures are published
(`leaderboard add`, `leaderboard submit`, `report --verify`, `sam-bench verify`).

A results file is checked against its own evidence where it is read (results_file): every accuracy agrees with its
per-image outcomes. What an outcome vector *is* (which attack, at which budget, of which weights) is written beside
it in the same file, and an edit of those labels, or outcomes forged together with every figure, agrees with itself.
Only the weights can say whether the file is theirs: this module runs each evaluation again and compares image by
image.

The clean pass runs again on every image (a forward pass: cheap), so its outcomes and `clean_prediction_counts` are
compared in full. Every attack runs again as labelled (PGD with its steps, restarts and seed; AutoAttack's version
with its full attack list, seed and restarts) on a sample of its images drawn from both strata: the images recorded
robust and the images recorded fooled, so that a file that states more robustness than its weights have and one
that states less (deflation, a weaker attack under a stronger label) are both refused.

The sample. Drawn from fresh randomness at each check (`secrets`), so nobody can know in advance which images a
check will look at; the check's seed is kept with its verdicts (`Verdicts.seed`), and `seed=` replays a verdict.
Its size per stratum comes from one target (`sample_size`): a 1-point change of any figure over n images, up or
down, puts ceil(n / 100) changed images into one stratum; the sample draws at least one of them with probability
>= `POWER`.

The rule. Where the re-run can replay the recorded random draws image by image (`replayed`: a PGD run measured on a
CPU, checked on a CPU), a faithful file agrees on every sampled image (measured: benchmarks/spot-check-tolerance.log),
so one differing image refuses it, and the stated power is the power of the check. Where it cannot (AutoAttack,
whose random starts depend on which images share a batch; a GPU's results checked on a CPU), each image of a
stratum is taken to differ by chance with probability at most the chance of its attack's `remeasure` rule (the
attack table; one per stratum), and a stratum is refused where P(Binomial(sampled, chance) >= differing) < ALPHA.
AutoAttack's images recorded fooled that the re-run leaves correct are attacked again from other seeds (`retries`),
and one that every try leaves correct refuses the file: deflation keeps the stated power; inflation is held to the
chance rule, a weaker check, stated as such in docs/evaluation.md.

What it proves and what it does not: see docs/evaluation.md ("Re-measured before publication").
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sam_bench.attacks import NORMS, draws
from sam_bench.attacks.autoattack import ATTACK_NAMES, VERSIONS, attack_names, predict
from sam_bench.attacks.invariants import check_adversarial_examples
from sam_bench.attacks.pgd import pgd, random_perturbation
from sam_bench.eps import format_eps
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import attack_table, outcomes, results_file
from sam_bench.evaluation.attack_table import RUNNERS, Remeasure
from sam_bench.evaluation.autoattack_replay import first_restarts
from sam_bench.evaluation.evaluate import chunk_seed, to_float
from sam_bench.evaluation.model_ref import Bf16
from sam_bench.evaluation.recheck import label, measured_data, named_weights, recorded_threads
from sam_bench.evaluation.results_record import Evaluation, Results
from sam_bench.evaluation.specs import AttackSpec
from sam_bench.runtime import math_mode
from sam_bench.runtime.memory_format import EVALUATION, place
from sam_bench.runtime.provenance import resolve_device
from sam_bench.stats.inference import binomial_tail
from sam_bench.threat_models import check_budget

# The target every sample size is derived from: a change of CHANGE (1 point) of any figure, up or down, drawn
# into the sample (and so refused where the re-run replays the recorded draws) with probability >= 99% per check,
# designed at POWER = 99.9% so that 99 of 100 checks refuse it with room to spare (at 99% exactly, 98 of 100 is
# as likely as not); it costs about 1.5 times the images of a 99% design.
CHANGE = 0.01
POWER = 0.999
ALPHA = 1e-3  # where draws are not replayed: a stratum is refused where chance explains what differs less often


def remeasure(attack: str) -> Remeasure:
    """How an attack is measured again: its record's rule in the attack table (`Attack.remeasure`)."""
    rule = attack_table.attack(attack).remeasure
    if rule is None:
        raise BadInput(f"sam-bench has no rule to measure {attack!r} again; {FIX}")
    return rule


FIX = "evaluate the model again (sam-bench evaluate) instead of editing results, or restore the file"


def changed_images(n: int) -> int:
    """Images a change of CHANGE of a figure over n images flips at the least: ceil(CHANGE n), at least one."""
    return max(1, math.ceil(CHANGE * n - 1e-9))


def sample_size(stratum: int, n: int) -> int:
    """Images to draw from a stratum of `stratum` images of an evaluation over n images, so that where a 1-point
    change put k = changed_images(n) of them there, at least one is drawn with probability >= POWER:
    the smallest m with C(stratum - k, m) / C(stratum, m) <= 1 - POWER (every image where none is smaller).
    For a stratum much larger than k this is about ln(1 - POWER) / ln(1 - k / stratum): 687 where k / stratum
    is 1%, 66 where it is 10%."""
    k = changed_images(n)
    missed = 1.0  # P(none of the k drawn) after m draws without replacement
    for m in range(stratum):
        missed *= max(0.0, (stratum - k - m) / (stratum - m))
        if missed <= 1 - POWER:
            return m + 1
    return stratum


@dataclass(frozen=True)
class Stratum:
    """Sampled images that an evaluation recorded alike (all correct, or all wrong), measured again."""

    recorded_correct: bool
    sampled: int
    differing: int  # measured the other way now
    chance: float  # 0: the re-run replays the recorded draws, so any differing image is evidence against the file
    tries: int = 1  # how many times each differing image was measured again (retries from other seeds)
    # Of the differing images, how many an exact replay of part of the recorded run (Remeasure.replay: AutoAttack's
    # first two attacks) measures the other way as well: evidence against the file whatever the chance allows
    refuted: int = 0
    replayed_part: str = ""  # what that replay ran ("its first attacks, apgd-ce and apgd-t,"); "": no replay

    @property
    def p(self) -> float:
        """How likely chance alone makes this many of them differ."""
        if self.chance == 0:
            return 0.0 if self.differing else 1.0
        return binomial_tail(self.differing, self.sampled, self.chance)

    @property
    def refused(self) -> bool:
        return self.refuted > 0 or (self.differing > 0 if self.chance == 0 else self.p < ALPHA)


@dataclass(frozen=True)
class Verdict:
    """One evaluation of a results file against its weights, on its sample."""

    evaluation: str  # as recheck names it: 'clean', 'pgd Linf 2/255', 'autoattack Linf 8/255'
    rerun: str  # what ran again: 'clean', 'pgd', 'autoattack (standard: apgd-ce, apgd-t, fab-t, square)'
    strata: tuple[Stratum, ...]
    replayed: bool = False  # the recorded random draws replayed: a faithful file agrees on every image
    every_image: bool = False  # every image of the evaluation measured again, not a sample

    @property
    def sampled(self) -> int:
        return sum(s.sampled for s in self.strata)

    @property
    def agrees(self) -> bool:
        return not any(s.refused for s in self.strata)

    def refusal(self, where: str) -> str | None:
        """One line: which evaluation, how many of which images, which way; None where it agrees."""
        stratum = next((s for s in self.strata if s.refused), None)
        if stratum is None:
            return None
        if self.rerun == "clean":
            recorded, now = ("right", "wrong") if stratum.recorded_correct else ("wrong", "right")
            found, measure = f"the weights now get {stratum.differing} {now}", "accuracy"
        else:
            recorded = "robust" if stratum.recorded_correct else "fooled"
            done = "fools" if stratum.recorded_correct else "leaves correct"
            found, measure = f"{self.rerun} run again on the weights {done} {stratum.differing}", "robustness"
        if stratum.refuted:
            found += (
                f"; {stratum.refuted} of them {stratum.replayed_part} fools as well, replayed exactly as the recorded "
                "run ran it (the image's chunk, batches and seeds), which the record says it survived"
            )
        allowed = (
            f"each of them was left correct by {stratum.tries} tries from different seeds; a faithful record's fooled "
            "image is fooled again"
            if stratum.chance == 0 and stratum.tries > 1
            else "a re-run from the recorded seed agrees on every image"
            if stratum.chance == 0
            else f"chance allows at most {stratum.chance:.0%} of them to differ: p = {stratum.p:.1g}"
        )
        return (
            f"{where}: {self.evaluation}: of {stratum.sampled} sampled images it records {recorded}, {found} "
            f"({allowed}); the file states {'more' if stratum.recorded_correct else 'less'} {measure} than its "
            f"weights have; {FIX}"
        )


class Verdicts(list):
    """A check's verdicts, with the seed its samples were drawn from (`spot_check(seed=...)` replays it) and the
    evaluations a time limit left unmeasured (`skipped`: the check is partial where any is)."""

    def __init__(self, verdicts=(), *, seed: int, skipped: tuple[str, ...] = ()):
        super().__init__(verdicts)
        self.seed = seed
        self.skipped = skipped

    @property
    def partial(self) -> bool:
        return bool(self.skipped)


def fresh_seed() -> int:
    """A check's seed from the operating system's randomness: no file's bytes decide it."""
    return secrets.randbits(63)


def _seed(check_seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{check_seed}:{name}".encode()).digest()[:8], "big")


def stratified(correct: np.ndarray, eligible: np.ndarray, n: int, rng, every_image: bool = False) -> list[np.ndarray]:
    """Indices of the sample of an evaluation over n images: from the eligible images recorded correct and from
    those recorded wrong, `sample_size` of each (the recorded-correct stratum first); `every_image`: all of them."""
    right, wrong = np.flatnonzero(eligible & correct), np.flatnonzero(eligible & ~correct)
    if every_image:
        return [right, wrong]
    return [np.sort(rng.choice(pool, sample_size(len(pool), n), replace=False)) for pool in (right, wrong)]


def _rerun(evaluation: Evaluation) -> AttackSpec:
    """What runs again: the evaluation as labelled, AutoAttack with its version's attacks, seed and restarts."""
    settings = dict(evaluation.settings)
    if evaluation.attack == "autoattack":
        settings["restarts"] = first_restarts(settings)
    return AttackSpec(evaluation.attack, evaluation.norm, float(evaluation.eps_value or 0.0), settings)


def replayable(evaluation: Evaluation, recorded_device: str, device: torch.device) -> bool:
    """Whether the recorded random draws of an evaluation can be replayed here image by image: PGD measured on a
    CPU in recorded chunks and batches, checked on a CPU (torch's CPU generator draws the same numbers from the
    same seed everywhere)."""
    chunks = evaluation.chunks or {}
    return (
        remeasure(evaluation.attack).replayable
        and not draws.keyed(evaluation.settings)  # per-image draws: the runner draws them again itself
        and recorded_device == "cpu"
        and device.type == "cpu"
        and isinstance(chunks.get("size"), int)
        and isinstance(chunks.get("batch_size"), int)
    )


def replayed_starts(evaluation: Evaluation, clean: np.ndarray, wanted: np.ndarray, shape) -> list[torch.Tensor]:
    """The random starts the recorded PGD run drew for the images `wanted`, one tensor per restart: each chunk's
    generator seeded as `evaluate` seeds it, each batch drawing for its clean-correct images (those the runner
    attacks) as the runner and `pgd` draw, in order; only chunks that hold a wanted image are replayed."""
    s = evaluation.settings
    restarts = max(1, int(s["restarts"]))
    starts = torch.zeros(restarts, len(wanted), *shape)
    eps = float(evaluation.eps_value or 0.0)
    if not s["random_start"] or eps == 0 or s["steps"] == 0 or not len(wanted):
        return list(starts)  # pgd draws nothing: no start to replay
    chunks = evaluation.chunks or {}
    chunk, n = chunks["size"], evaluation.n_examples or len(clean)
    batch = min(chunks["batch_size"], chunk)
    position = {int(i): j for j, i in enumerate(wanted)}
    generator = torch.Generator()
    for first in range(0, n, chunk):
        last = min(first + chunk, n)
        inside = wanted[(wanted >= first) & (wanted < last)]
        if not len(inside):
            continue
        generator.manual_seed(chunk_seed(s, first))
        for b in range(first, int(inside.max()) + 1, batch):
            attacked = b + np.flatnonzero(clean[b : min(b + batch, last)])
            if not len(attacked):
                continue
            for r in range(restarts):
                noise = random_perturbation(torch.empty(len(attacked), *shape), eps, str(evaluation.norm), generator)
                for row, image in enumerate(attacked):
                    j = position.get(int(image))
                    if j is not None:
                        starts[r, j] = noise[row]
    return list(starts)


def pgd_from(model, x: torch.Tensor, y: torch.Tensor, spec: AttackSpec, starts: list[torch.Tensor]) -> torch.Tensor:
    """PGD as `pgd` runs it with restarts (per image the first restart that fools the model wins, else the last),
    each restart from its given random start."""
    s = spec.settings
    best, still_correct = x.clone(), torch.ones(len(x), dtype=torch.bool, device=x.device)
    for restart, start in enumerate(starts):
        x_adv = pgd(
            model,
            x,
            y,
            spec.eps,
            str(spec.norm),
            steps=s["steps"],
            step_size=s["step_size"],
            restarts=1,
            random_start=s["random_start"],
            start=start.to(x.device),
        )
        if len(starts) <= 1:
            return x_adv
        with torch.no_grad():
            fooled = model(x_adv).argmax(1) != y
        take = still_correct & fooled if restart < len(starts) - 1 else still_correct
        best[take] = x_adv[take]
        still_correct &= ~take
    return best


@dataclass
class _Model:
    """The weights a results file names, on the device and in the precision it was measured in; scored in true
    fp32 as `evaluate` scores, the attacks searching in the math they were recorded with."""

    net: torch.nn.Module
    device: torch.device
    search: str

    def predictions(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        with math_mode.evaluation():
            return predict(self.net, x.to(self.device), batch_size).cpu()

    def robust(self, spec: AttackSpec, x: torch.Tensor, y: torch.Tensor, seed: int, starts=None) -> np.ndarray:
        """Which images the attack leaves correct: PGD from the replayed `starts` where given, else the attack's
        runner from `seed`, the caller's random state kept."""
        x, y = x.to(self.device), y.to(self.device)
        devices = [self.device] if self.device.type == "cuda" else []
        with math_mode.evaluation():
            with torch.random.fork_rng(devices=devices), math_mode.search(self.search), tqdm(disable=True) as bar:
                torch.manual_seed(seed)
                if starts is not None:
                    x_adv = pgd_from(self.net, x, y, spec, starts)
                else:
                    x_adv = RUNNERS[spec.attack](self.net, x, y, spec, batch_size=len(x), bar=bar).x_adv
            check_adversarial_examples(x, x_adv, spec.eps, spec.norm)
            return (predict(self.net, x_adv, len(x)) == y).cpu().numpy()


def _images(data, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampled test images as `evaluate` feeds them to the model, with their labels."""
    return to_float(data.x_test[indices]), torch.from_numpy(np.asarray(data.y_test[indices], np.int64))


def _verdict(
    name: str,
    rerun: str,
    chance: float | tuple[float, float],
    recorded: np.ndarray,
    now: np.ndarray,
    parts,
    replayed,
    every_image=False,
    tries: int = 1,
    refuted: tuple[int, str] = (0, ""),
) -> Verdict:
    """The strata of a sample (`parts`, the recorded-correct one first) against `now`, the re-run's outcome of
    every sampled image in order; `chance`: one for both strata, or (recorded correct, recorded wrong);
    `refuted`: (images recorded correct that an exact replay measured wrong, what the replay ran)."""
    chances = chance if isinstance(chance, tuple) else (chance, chance)
    union = np.sort(np.concatenate(parts))
    strata = [
        Stratum(
            i == 0,
            len(part),
            int((recorded[part] != now[np.searchsorted(union, part)]).sum()),
            chances[i],
            1 if i == 0 else tries,
            *(refuted if i == 0 else (0, "")),
        )
        for i, part in enumerate(parts)
    ]
    return Verdict(name, rerun, tuple(s for s in strata if s.sampled), replayed, every_image)


# AutoAttack's breakdown is its own count, scored in the search math: it may differ from the fp32 outcomes on an
# image or two whose top logits tie within that math's rounding (1 of 10,000 in the committed GPU files).
BREAKDOWN_SLACK_IMAGES = 2


def check_breakdown(path: Path, evaluation: Evaluation) -> None:
    """An AutoAttack breakdown bounded by the outcomes it summarises, in one line where not: it starts at the
    clean accuracy, never rises from one attack to the next, and ends at the robust accuracy (each end within
    BREAKDOWN_SLACK_IMAGES)."""
    breakdown = evaluation.breakdown
    if breakdown is None:
        return
    values, n = [float(v) for v in breakdown.values()], evaluation.n_examples or 1
    ends = (values[0], float(evaluation.clean_acc or 0)), (values[-1], float(evaluation.robust_acc or 0))
    if any(abs(a - b) > (BREAKDOWN_SLACK_IMAGES + 0.5) / n for a, b in ends) or any(
        b > a for a, b in zip(values, values[1:])
    ):
        raise SamBenchError(
            f"{path}: {label(evaluation)}: its breakdown ({', '.join(f'{k} {v:g}' for k, v in breakdown.items())}) "
            f"is not a falling sequence from the clean accuracy {evaluation.clean_acc:g} to the robust accuracy "
            f"{evaluation.robust_acc:g}; {FIX}"
        )


def check_labels(path: Path, evaluation: Evaluation) -> None:
    """What an evaluation says it is agrees with itself, in one line where not: the budget a board shows (`eps`)
    is the one measured again (`eps_value`), an AutoAttack version other than custom lists that version's
    attacks, its breakdown each of them and bounded by its outcomes (check_breakdown)."""
    name = label(evaluation)
    rule = attack_table.attack(evaluation.attack).remeasure
    if evaluation.attack == "clean" or (rule is not None and rule.own is not None):  # no budget: its own rule's
        return
    norm, eps_value = evaluation.norm, evaluation.eps_value
    if norm is None or norm not in NORMS:
        raise SamBenchError(f"{path}: {name}: norm {norm!r} is none of {', '.join(NORMS)}; {FIX}")
    if eps_value is None:
        raise SamBenchError(f"{path}: {name}: records no eps_value; {FIX}")
    try:
        check_budget(float(eps_value), norm, "eps_value")
    except BadInput as err:
        raise SamBenchError(f"{path}: {name}: {err}; {FIX}") from None
    if evaluation.eps != format_eps(float(eps_value)):
        raise SamBenchError(
            f"{path}: {name}: eps is {evaluation.eps!r} but eps_value is {eps_value:g} "
            f"({format_eps(float(eps_value))}); {FIX}"
        )
    if evaluation.attack != "autoattack":
        return
    settings = evaluation.settings
    if settings["version"] not in VERSIONS:
        raise SamBenchError(f"{path}: {name}: {settings['version']!r} is no AutoAttack version; {FIX}")
    if not settings["attacks"] or any(a not in ATTACK_NAMES for a in settings["attacks"]):
        raise SamBenchError(
            f"{path}: {name}: lists no AutoAttack attacks it could have run ({settings['attacks']}); {FIX}"
        )
    restarts = first_restarts(settings)
    if not isinstance(restarts, int) or isinstance(restarts, bool) or restarts < 1:
        raise SamBenchError(
            f"{path}: {name}: its first attack's restarts ({restarts!r}) are no whole number >= 1; {FIX}"
        )
    if settings["version"] != "custom" and settings["attacks"] != attack_names(settings["version"], norm):
        raise SamBenchError(
            f"{path}: {name}: AutoAttack's {settings['version']} version runs "
            f"{', '.join(attack_names(settings['version'], norm))}, the file lists "
            f"{', '.join(settings['attacks'])}; {FIX}"
        )
    breakdown = evaluation.breakdown
    if breakdown is not None and list(breakdown) != ["clean", *settings["attacks"]]:
        raise SamBenchError(
            f"{path}: {name}: its breakdown names {', '.join(breakdown)}, not the clean pass and its attacks "
            f"({', '.join(settings['attacks'])}); {FIX}"
        )
    check_breakdown(path, evaluation)


def _rerun_name(evaluation: Evaluation) -> str:
    if evaluation.attack != "autoattack":
        return evaluation.attack
    return f"autoattack ({evaluation.settings['version']}: {', '.join(evaluation.settings['attacks'])})"


def verdicts(
    path: str | Path,
    *,
    zoo_dir=None,
    data_dir=None,
    device: str = "cpu",
    weights: str | None = None,
    seed: int | None = None,
    stop_at: float | None = None,
    every_image: bool = False,
    threads: int | None = None,
    on_evaluation: Callable[[str], None] | None = None,
    on_skipped: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Iterator[Verdict]:
    """Every evaluation of a results file (its clean pass first, on every image) measured again on its sample
    from the weights it names (`weights`: a run folder, checkpoint or zoo id that holds them, where the file's own
    reference is not at hand; their sha256 must be the recorded one), one verdict at a time. The samples are
    drawn from `seed` (`fresh_seed()` where None). With `stop_at` (a `time.time()` value) no attack starts after
    it: `on_skipped(name)` hears each evaluation left unmeasured. `on_evaluation(name)` is called before each.
    `every_image` measures every image of both strata (the tolerance measurement: tools/spot_check_tolerance.py);
    `threads` runs a CPU check with that many threads instead of the recorded count."""
    path = Path(path)
    check_seed = fresh_seed() if seed is None else seed
    results = Results(results_file.read(path), path)
    if not results.verified:
        raise BadInput(f"{path}: cannot be measured again: {results.unverified}")
    for ev in results.evaluations:
        if ev.attack not in RUNNERS:
            raise BadInput(f"{path}: records an attack sam-bench cannot run again ({ev.attack!r}); {FIX}")
        check_labels(path, ev)
    net, _ = named_weights(path, results, zoo_dir, weights)
    data = measured_data(path, results, data_dir)
    dev = resolve_device(device)
    net = place(net, dev, EVALUATION).eval()
    if results.precision == "bf16":
        net = Bf16(net, dev.type).eval()
    model = _Model(net, dev, results.search_math)
    recorded_device = str(results.environment.get("device", ""))
    threads = threads or (recorded_threads(results.environment) if dev.type == "cpu" else None)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)  # the recorded thread count: CPU arithmetic can differ with it
    try:
        yield from _measured(
            path,
            results,
            data,
            model,
            recorded_device,
            check_seed,
            stop_at,
            every_image,
            on_evaluation,
            on_skipped,
            data_dir,
            clock,
        )
    finally:
        torch.set_num_threads(before)


# The clean pass runs on every image where its first batch foretells the whole at most this many seconds (a
# 1/8-width PreActResNet-18's 10,000 images: seconds); beyond it (a full-width model's 10,000 images took 616 s on
# the shared 2-core CPU), on a sample of both strata drawn as an attack's, with the same power.
CLEAN_EVERY_IMAGE_S = 60.0


def _clean_pass(model, data, clean: np.ndarray, batch: int, seed: int, every_image: bool, clock):
    """(the images measured again, as strata: recorded correct, recorded wrong; their predictions in index order):
    every image where the first batch's time foretells at most CLEAN_EVERY_IMAGE_S for all (or `every_image`),
    else the first batch and a stratified sample of the others."""
    n = len(clean)
    first = np.arange(min(batch, n))
    started = clock()
    head = model.predictions(_images(data, first)[0], batch)
    foretold = (clock() - started) * n / max(1, len(first))
    if every_image or foretold <= CLEAN_EVERY_IMAGE_S:
        rest = np.arange(len(first), n)
    else:
        later = np.arange(n) >= len(first)
        rest = np.sort(np.concatenate(stratified(clean, later, n, np.random.default_rng(seed))))
    tail = model.predictions(_images(data, rest)[0], batch) if len(rest) else head[:0]
    measured = np.concatenate([first, rest])
    return [measured[clean[measured]], measured[~clean[measured]]], torch.cat([head, tail])


def _measured(
    path,
    results,
    data,
    model,
    recorded_device,
    check_seed,
    stop_at,
    every_image,
    on_evaluation,
    on_skipped,
    data_dir,
    clock,
):
    clean_record = results.evaluation("clean")
    assert clean_record is not None and clean_record.outcomes is not None, "a verified file has its clean outcomes"
    clean = outcomes.decode(clean_record.outcomes)
    n = len(clean)
    if on_evaluation is not None:
        on_evaluation("clean")
    batch = (clean_record.chunks or {}).get("batch_size")
    batch = batch if isinstance(batch, int) else 250
    exact = recorded_device == "cpu" and model.device.type == "cpu"  # as replayable(): a GPU may order sums anew
    chance = 0.0 if exact else remeasure("clean").chance
    parts, predicted = _clean_pass(model, data, clean, batch, _seed(check_seed, "clean"), every_image, clock)
    union = np.sort(np.concatenate(parts))
    now_clean = (predicted == torch.from_numpy(np.asarray(data.y_test[union], np.int64))).numpy()
    yield _verdict("clean", "clean", chance, clean, now_clean, parts, exact, every_image=len(union) == n)
    counts = results.clean_prediction_counts
    if exact and counts is not None and len(union) == n:  # derived from every image's prediction, or not at all
        derived = torch.bincount(predicted, minlength=len(counts)).tolist()
        if derived != list(counts):
            raise SamBenchError(
                f"{path}: clean_prediction_counts are {counts}, the weights predict {derived} on the same images; {FIX}"
            )
    for ev in results.evaluations:
        if ev.attack == "clean":
            continue  # the clean pass, measured above
        name = label(ev)
        if stop_at is not None and time.time() >= stop_at:
            if on_skipped is not None:
                on_skipped(name)
            continue
        if on_evaluation is not None:
            on_evaluation(name)
        seed = _seed(check_seed, name)
        rule = remeasure(ev.attack)
        if rule.own is not None:  # images of its own (the corruption pass): the attack's rule samples and measures
            args = (ev, model.net, data, model.device, np.random.default_rng(seed), every_image, stratified, data_dir)
            recorded, now, parts = rule.own(*args)
            yield _verdict(name, ev.attack, 0.0 if exact else remeasure("clean").chance, recorded, now, parts, exact)
            continue
        assert ev.outcomes is not None, "a verified file has every evaluation's outcomes"
        recorded = outcomes.decode(ev.outcomes)
        spec = _rerun(ev)
        parts = stratified(recorded, clean[: len(recorded)], len(recorded), np.random.default_rng(seed), every_image)
        union = np.sort(np.concatenate(parts))
        replay = replayable(ev, recorded_device, model.device)
        # PGD with per-image draws, recorded and checked on a CPU: the runner draws every image's starts again
        replay = replay or (rule.replayable and draws.keyed(ev.settings) and exact)
        shape = (data.x_test.shape[3], *data.x_test.shape[1:3])  # NHWC images, NCHW starts
        starts = replayed_starts(ev, clean, union, shape) if replay and not draws.keyed(ev.settings) else None
        images = _images(data, union)
        now = model.robust(spec, *images, seed=seed % 2**31, starts=starts) if len(union) else np.zeros(0, bool)
        refuted = (0, "")
        if not replay:
            now = _retried(model, spec, images, recorded[union], now, rule.retries, seed)
            refuted = _replayed(model, rule, ev, results.environment, data, union[recorded[union] & ~now])
        chances = (0.0, 0.0) if replay else rule.chances()
        tries = 1 if replay else 1 + rule.retries
        yield _verdict(name, _rerun_name(ev), chances, recorded, now, parts, replay, every_image, tries, refuted)


def _replayed(model, rule: Remeasure, evaluation: Evaluation, environment, data, differing: np.ndarray):
    """(how many of the images recorded correct that the re-run measured wrong an exact replay of the recorded
    run's replayable part measures wrong as well, what it ran); (0, "") where the attack has no such replay or it
    cannot run here."""
    if rule.replay is None or not len(differing):
        return 0, ""
    found = rule.replay(
        model.net, evaluation, environment, model.device, data.x_test, data.y_test, differing, model.search
    )
    if found is None:
        return 0, ""
    left, what = found
    return int((~left).sum()), what


def _retried(model, spec: AttackSpec, images, recorded: np.ndarray, now: np.ndarray, retries: int, seed: int):
    """`now` after the images recorded fooled that the re-run left correct were attacked again, up to `retries`
    times, each from another seed of the attack (`settings.seed`): an image any try fools agrees with its record."""
    settings = dict(spec.settings)
    now = now.copy()
    for retry in range(1, retries + 1):
        left = np.flatnonzero(~recorded & now)
        if not len(left):
            break
        again = AttackSpec(spec.attack, spec.norm, spec.eps, {**settings, "seed": int(settings.get("seed", 0)) + retry})
        x, y = images
        now[left] = model.robust(again, x[left], y[left], seed=(seed + retry) % 2**31)
    return now


def spot_check(path: str | Path, *, seed: int | None = None, **options) -> Verdicts:
    """Every verdict of a results file (`verdicts`), refused in one line (SamBenchError) at the first evaluation
    whose sample disagrees with the file: nothing after it runs. The verdicts carry the check's seed (fresh where
    `seed` is None; give it to replay the check) and the evaluations a time limit (`stop_at`) left unmeasured."""
    check_seed = fresh_seed() if seed is None else seed
    skipped: list[str] = []
    found = Verdicts(seed=check_seed)
    for verdict in verdicts(path, seed=check_seed, on_skipped=skipped.append, **options):
        refusal = verdict.refusal(f"{path} (check seed {check_seed})")
        if refusal is not None:
            raise SamBenchError(refusal)
        found.append(verdict)
    found.skipped = tuple(skipped)
    return found


def summary(verdicts: list[Verdict]) -> str:
    """'8 evaluations agree with the weights on 416 images measured again (seed 123; replay with --replay 123)',
    and which a time limit left unmeasured."""
    images = sum(v.sampled for v in verdicts)
    line = f"{len(verdicts)} evaluations agree with the weights on {images:,} images measured again"
    seed = getattr(verdicts, "seed", None)
    if seed is not None:
        line += f" (check seed {seed})"
    sampled_clean = next((v for v in verdicts if v.rerun == "clean" and not v.every_image), None)
    if sampled_clean is not None:
        line += (
            f"; the clean pass on a sample of {sampled_clean.sampled:,} images (on every image it would take over "
            f"{CLEAN_EVERY_IMAGE_S:g} s here)"
        )
    skipped = getattr(verdicts, "skipped", ())
    if skipped:
        line += f"; PARTIAL: the time limit left {', '.join(skipped)} unmeasured"
    return line
