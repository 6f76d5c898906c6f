"""The sampling statistics of a spot check (spot_check.py): which images of an evaluation it measures again, how
they are counted, and when what differs refuses the file.

The sample is drawn from fresh randomness at each check (`secrets`), so nobody can know in advance which images a
check looks at; its seed is kept with the verdicts (`Verdicts.seed`), and `seed=` replays them. Each stratum
(recorded robust, recorded fooled) is sampled as its rule's sizes say (check_rules, check_power). A stratum is
refused where P(Binomial(sampled, chance) >= differing) < ALPHA, where an exact replay of part of the recorded run
measures a differing image the other way as well, or where the images only attacks whose draws a batch shares
fooled (AutoAttack's Square) are more than their own chance allows."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import numpy as np

from sam_bench.evaluation.check_power import ALPHA, sample_size
from sam_bench.stats.inference import binomial_tail

FIX = "evaluate the model again (sam-bench evaluate) instead of editing results, or restore the file"


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
    # AutoAttack with per-image draws: of the differing images, how many only its attacks whose draws a batch shares
    # (Square) fooled, held to `tail_chance` apart from the others; None: no such split
    tail: int | None = None
    tail_chance: float = 0.0
    first_try: int | None = None  # differing images before the retries (where there were any)
    images: tuple[int, ...] = ()  # the differing images' indices in the test set

    @property
    def p(self) -> float:
        """How likely chance alone makes this many of them differ (those the tail holds apart excluded)."""
        differing = self.differing - (self.tail or 0)
        if self.chance == 0:
            return 0.0 if differing else 1.0
        return binomial_tail(differing, self.sampled, self.chance)

    @property
    def p_tail(self) -> float:
        """How likely chance alone makes this many of them differ through the attacks that do not replay."""
        if not self.tail:
            return 1.0
        return binomial_tail(self.tail, self.sampled, self.tail_chance) if self.tail_chance > 0 else 0.0

    @property
    def refused(self) -> bool:
        return self.refuted > 0 or self.p < ALPHA or self.p_tail < ALPHA


@dataclass(frozen=True)
class Verdict:
    """One evaluation of a results file against its weights, on its sample."""

    evaluation: str  # as recheck names it: 'clean', 'pgd Linf 2/255', 'autoattack Linf 8/255'
    rerun: str  # what ran again: 'clean', 'pgd', 'autoattack (standard: apgd-ce, apgd-t, fab-t, square)'
    strata: tuple[Stratum, ...]
    replayed: bool = False  # the recorded random draws replayed: a faithful file agrees on every image
    every_image: bool = False  # every image of the evaluation measured again, not a sample
    rule: str = ""  # the rule it was held to (check_rules: exact replay, other arithmetic, ...)
    why: str = ""  # why that rule applied

    @property
    def sampled(self) -> int:
        return sum(s.sampled for s in self.strata)

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
        if stratum.chance == 0 and stratum.tries > 1:
            allowed = (
                f"each of them was left correct by {stratum.tries} tries from different seeds; a faithful record's "
                "fooled image is fooled again"
            )
        elif stratum.chance == 0 and stratum.p < ALPHA:
            allowed = "a re-run from the recorded seed agrees on every image"
        elif stratum.p_tail < ALPHA and stratum.p >= ALPHA:
            allowed = (
                f"{stratum.tail} of them fooled only by attacks whose draws a batch shares, where chance allows at "
                f"most {stratum.tail_chance:.0%}: p = {stratum.p_tail:.1g}"
            )
        else:
            allowed = f"chance allows at most {100 * stratum.chance:.2g}% of them to differ: p = {stratum.p:.1g}"
        held = f"; held to the rule '{self.rule}': {self.why}" if self.rule else ""
        return (
            f"{where}: {self.evaluation}: of {stratum.sampled} sampled images it records {recorded}, {found} "
            f"({allowed}){held}; the file states {'more' if stratum.recorded_correct else 'less'} {measure} than its "
            f"weights have; {FIX}"
        )


class Verdicts(list):
    """A check's verdicts, with the seed its samples were drawn from (`spot_check(seed=...)` replays it) and the
    evaluations a time limit left unmeasured (`skipped`: the check is partial where any is)."""

    def __init__(self, verdicts=(), *, seed: int, skipped: tuple[str, ...] = ()):
        super().__init__(verdicts)
        self.seed, self.skipped = seed, skipped

    @property
    def partial(self) -> bool:
        return bool(self.skipped)


def fresh_seed() -> int:
    """A check's seed from the operating system's randomness: no file's bytes decide it."""
    return secrets.randbits(63)


def seed_of(check_seed: int, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{check_seed}:{name}".encode()).digest()[:8], "big")


def stratified(
    correct: np.ndarray, eligible: np.ndarray, n: int, rng, every_image: bool = False, sizes=None
) -> list[np.ndarray]:
    """Indices of the sample of an evaluation over n images: from the eligible images recorded correct and from
    those recorded wrong, each stratum's size (`sizes`: one (stratum, n) -> images per stratum, a rule's; default
    `sample_size`, as for an exact replay), the recorded-correct stratum first; `every_image`: all of them."""
    right, wrong = np.flatnonzero(eligible & correct), np.flatnonzero(eligible & ~correct)
    if every_image:
        return [right, wrong]
    sizes = sizes or (sample_size, sample_size)
    return [np.sort(rng.choice(pool, size(len(pool), n), replace=False)) for pool, size in zip((right, wrong), sizes)]


def verdict_of(
    name: str,
    rerun: str,
    rule,
    recorded: np.ndarray,
    now: np.ndarray,
    parts,
    every_image=False,
    refuted: tuple[int, str] = (0, ""),
    tail: np.ndarray | None = None,
    first: np.ndarray | None = None,
    replayed: bool = False,
) -> Verdict:
    """The strata of a sample (`parts`, the recorded-correct one first) against `now`, the re-run's outcome of
    every sampled image in order, held to `rule`; `refuted`: (images recorded correct that an exact replay measured
    wrong, what the replay ran); `tail`: the differing recorded-correct images that only attacks whose draws a batch
    shares fooled; `first`: the outcomes before retries."""
    union = np.sort(np.concatenate(parts))
    strata = []
    for i, part in enumerate(parts):
        at = np.searchsorted(union, part)
        differs = recorded[part] != now[at]
        retried = i == 1 and rule.retries > 0
        strata.append(
            Stratum(
                i == 0,
                len(part),
                int(differs.sum()),
                rule.chances[i],
                1 + rule.retries if retried else 1,
                *(refuted if i == 0 else (0, "")),
                tail=None if i or tail is None else len(tail),
                tail_chance=rule.tail_chance or 0.0,
                first_try=int((recorded[part] != first[at]).sum()) if retried and first is not None else None,
                images=tuple(int(j) for j in part[differs]),
            )
        )
    exact = replayed or (rule.exact and rule.tail_chance is None and not rule.retries)
    return Verdict(name, rerun, tuple(s for s in strata if s.sampled), exact, every_image, rule=rule.kind, why=rule.why)
