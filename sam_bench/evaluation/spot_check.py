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

The rule. Each evaluation is held to the rule check_rules chooses for it, from what this machine can reproduce and
from what the file is (on the list of files recorded before per-image draws or not), never loosened by a field the
file states of itself: an exact replay (one differing image refuses the file), a measured rate of other arithmetic
for draws replayed per image, or the rules that fit files recorded before per-image draws. Each stratum's sample is
sized from the rule (check_power): a 1-point change of any figure over n images, up or down, puts ceil(n / 100)
changed images into one stratum, refused with probability >= `POWER` under the rule's chance. A stratum is refused
where P(Binomial(sampled, chance) >= differing) < ALPHA (any differing image where the chance is 0). AutoAttack's
images recorded fooled that the re-run leaves correct are attacked again from other seeds (`retries`), and one that
every try leaves correct refuses the file; its images recorded robust that only its attacks whose draws a batch
shares fooled (Square) are held to their own chance. Every verdict names its rule and why it applied.

What it proves and what it does not: see docs/evaluation.md ("Re-measured before publication").
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sam_bench.attacks import NORMS
from sam_bench.attacks.autoattack import ATTACK_NAMES, VERSIONS, attack_names, predict
from sam_bench.attacks.invariants import check_adversarial_examples
from sam_bench.attacks.pgd import pgd, random_perturbation
from sam_bench.eps import format_eps
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import attack_table, autoattack_replay, check_rules, outcomes, results_file
from sam_bench.evaluation.attack_table import RUNNERS, Remeasure
from sam_bench.evaluation.autoattack_replay import first_restarts, replayed_robust
from sam_bench.evaluation.check_power import ALPHA, CHANGE, POWER, changed_images, sample_size
from sam_bench.evaluation.check_rules import ALWAYS, WHERE_RECORDED, Here, Rule
from sam_bench.evaluation.evaluate import chunk_seed, to_float
from sam_bench.evaluation.model_ref import Bf16
from sam_bench.evaluation.pinned import pin
from sam_bench.evaluation.recheck import label, measured_data, named_weights, recorded_threads
from sam_bench.evaluation.recorded_before import is_listed
from sam_bench.evaluation.results_record import Evaluation, Results
from sam_bench.evaluation.specs import AttackSpec
from sam_bench.runtime import math_mode
from sam_bench.runtime.memory_format import EVALUATION, place
from sam_bench.runtime.provenance import resolve_device
from sam_bench.stats.inference import binomial_tail

__all__ = ["ALPHA", "CHANGE", "POWER", "changed_images", "sample_size", "spot_check", "summary", "verdicts"]
from sam_bench.threat_models import check_budget


def remeasure(attack: str) -> Remeasure:
    """How an attack is measured again: its record's rule in the attack table (`Attack.remeasure`)."""
    rule = attack_table.attack(attack).remeasure
    if rule is None:
        raise BadInput(f"sam-bench has no rule to measure {attack!r} again; {FIX}")
    return rule


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


def _rerun(evaluation: Evaluation) -> AttackSpec:
    """What runs again: the evaluation as labelled, AutoAttack with its version's attacks, seed and restarts."""
    settings = dict(evaluation.settings)
    if evaluation.attack == "autoattack":
        settings["restarts"] = first_restarts(settings)
    return AttackSpec(evaluation.attack, evaluation.norm, float(evaluation.eps_value or 0.0), settings)


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
        return self.outcome(spec, x, y, seed, starts)[0]

    def outcome(self, spec: AttackSpec, x, y, seed: int, starts=None) -> tuple[np.ndarray, np.ndarray | None]:
        """(which images the attack leaves correct, per image the position of the attack that fooled it where the
        runner says: AutoAttack's)."""
        x, y = x.to(self.device), y.to(self.device)
        devices = [self.device] if self.device.type == "cuda" else []
        fooled_at = None
        with math_mode.evaluation():
            with torch.random.fork_rng(devices=devices), math_mode.search(self.search), tqdm(disable=True) as bar:
                torch.manual_seed(seed)
                if starts is not None:
                    x_adv = pgd_from(self.net, x, y, spec, starts)
                else:
                    out = RUNNERS[spec.attack](self.net, x, y, spec, batch_size=len(x), bar=bar)
                    x_adv, fooled_at = out.x_adv, getattr(out, "fooled_at", None)
            check_adversarial_examples(x, x_adv, spec.eps, spec.norm)
            robust = (predict(self.net, x_adv, len(x)) == y).cpu().numpy()
        return robust, None if fooled_at is None else fooled_at.cpu().numpy()


def _images(data, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampled test images as `evaluate` feeds them to the model, with their labels."""
    return to_float(data.x_test[indices]), torch.from_numpy(np.asarray(data.y_test[indices], np.int64))


def _verdict(
    name: str,
    rerun: str,
    rule: Rule,
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
    pinned = pin(path)  # the bytes checked are the bytes whose sha256 decides the rules (check_rules)
    results = Results(results_file.check(pinned.json(), str(path)), path)
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
    recorded = recorded_threads(results.environment)
    runnable = isinstance(recorded, int) and 1 <= recorded <= check_rules.MAX_THREADS
    threads = threads or (recorded if dev.type == "cpu" and runnable else None)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)  # the recorded thread count: CPU arithmetic can differ with it
    try:
        yield from _measured(
            path,
            results,
            data,
            model,
            (is_listed(pinned.sha256), Here.now(dev)),
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


def _clean_pass(model, data, clean: np.ndarray, batch: int, seed: int, every_image: bool, clock, sizes=None):
    """(the images measured again, as strata: recorded correct, recorded wrong; their predictions in index order):
    every image where the first batch's time foretells at most CLEAN_EVERY_IMAGE_S for all (or `every_image`),
    else the first batch and a stratified sample of the others (`sizes`: the rule's, as `stratified` takes)."""
    n = len(clean)
    first = np.arange(min(batch, n))
    started = clock()
    head = model.predictions(_images(data, first)[0], batch)
    foretold = (clock() - started) * n / max(1, len(first))
    if every_image or foretold <= CLEAN_EVERY_IMAGE_S:
        rest = np.arange(len(first), n)
    else:
        later = np.arange(n) >= len(first)
        rest = np.sort(np.concatenate(stratified(clean, later, n, np.random.default_rng(seed), sizes=sizes)))
    tail = model.predictions(_images(data, rest)[0], batch) if len(rest) else head[:0]
    measured = np.concatenate([first, rest])
    return [measured[clean[measured]], measured[~clean[measured]]], torch.cat([head, tail])


def _measured(
    path,
    results,
    data,
    model,
    where: tuple[bool, Here],
    check_seed,
    stop_at,
    every_image,
    on_evaluation,
    on_skipped,
    data_dir,
    clock,
):
    listed, here = where
    env = results.environment
    clean_record = results.evaluation("clean")
    assert clean_record is not None and clean_record.outcomes is not None, "a verified file has its clean outcomes"
    clean = outcomes.decode(clean_record.outcomes)
    n = len(clean)
    if on_evaluation is not None:
        on_evaluation("clean")
    batch = (clean_record.chunks or {}).get("batch_size")
    batch = batch if isinstance(batch, int) else 250
    rule = check_rules.rule(clean_record, env, listed, here)
    seed = _seed(check_seed, "clean")
    parts, predicted = _clean_pass(model, data, clean, batch, seed, every_image, clock, rule.sizes())
    union = np.sort(np.concatenate(parts))
    now_clean = (predicted == torch.from_numpy(np.asarray(data.y_test[union], np.int64))).numpy()
    yield _verdict("clean", "clean", rule, clean, now_clean, parts, every_image=len(union) == n)
    counts = results.clean_prediction_counts
    if rule.exact and counts is not None and len(union) == n:  # derived from every image's prediction, or not at all
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
        rule = check_rules.rule(ev, env, listed, here)
        own = remeasure(ev.attack).own
        if own is not None:  # images of its own (the corruption pass): the attack's rule samples and measures
            sampled = partial(stratified, sizes=rule.sizes())
            args = (ev, model.net, data, model.device, np.random.default_rng(seed), every_image, sampled, data_dir)
            recorded, now, parts = own(*args)
            yield _verdict(name, ev.attack, rule, recorded, now, parts)
            continue
        yield _attack_verdict(path, ev, rule, data, model, clean, seed, every_image, env)


def _attack_verdict(path, ev: Evaluation, rule: Rule, data, model, clean, seed: int, every_image: bool, env) -> Verdict:
    """One attack's evaluation measured again on its sample by its rule."""
    assert ev.outcomes is not None, "a verified file has every evaluation's outcomes"
    recorded = outcomes.decode(ev.outcomes)
    spec = _rerun(ev)
    rng = np.random.default_rng(seed)
    parts = stratified(recorded, clean[: len(recorded)], len(recorded), rng, every_image, rule.sizes())
    union = np.sort(np.concatenate(parts))
    starts = None
    if rule.chunk_starts:  # PGD recorded before per-image draws: its chunks' draws, batch by batch
        _need_chunks(path, ev, "its chunks' random draws")
        shape = (data.x_test.shape[3], *data.x_test.shape[1:3])  # NHWC images, NCHW starts
        starts = replayed_starts(ev, clean, union, shape)
    images = _images(data, union)
    now, fooled_at = (
        model.outcome(spec, *images, seed=seed % 2**31, starts=starts) if len(union) else (np.zeros(0, bool), None)
    )
    first = now
    now = _retried(model, spec, images, recorded[union], now, rule.retries, seed)
    refuted = (0, "")
    if rule.chunk_replay:
        differing = union[recorded[union] & ~now]
        refuted = _chunk_replayed(path, model, rule, ev, data, differing, env)
    tail = None
    if rule.replayed and fooled_at is not None:  # fooled, in the re-run, only by attacks that do not replay per image
        late = (fooled_at >= len(rule.replayed)) & (fooled_at < len(ev.settings["attacks"]))
        tail = union[recorded[union] & ~now & late]
    return _verdict(
        label(ev), _rerun_name(ev), rule, recorded, now, parts, every_image, refuted, tail, first, rule.chunk_starts
    )


def _need_chunks(path, ev: Evaluation, what: str) -> None:
    """The recorded chunks and batches an exact replay needs, or a one-line refusal."""
    chunks = ev.chunks or {}
    if not (isinstance(chunks.get("size"), int) and isinstance(chunks.get("batch_size"), int)):
        raise SamBenchError(
            f"{path}: {label(ev)}: records no chunk and batch sizes, so {what} cannot be replayed, and its rule "
            f"needs them; {FIX}"
        )


def _chunk_replayed(path, model, rule: Rule, ev: Evaluation, data, differing: np.ndarray, env) -> tuple[int, str]:
    """(how many of `differing`, images recorded robust that the re-run fooled, an exact replay of the recorded run's
    first attacks from their chunks fools as well, what it ran): where the recorded kernels are this CPU's
    (WHERE_RECORDED, as the file says), or whatever it says (ALWAYS)."""
    if not len(differing):
        return 0, ""
    if rule.chunk_replay == WHERE_RECORDED:
        return _replayed(model, remeasure(ev.attack), ev, data, differing, env)
    assert rule.chunk_replay == ALWAYS
    _need_chunks(path, ev, "its first attacks")
    names = autoattack_replay.replayed_attacks(ev)
    what = f"its first attack, {names[0]}," if len(names) == 1 else f"its first attacks, {' and '.join(names)},"
    left = replayed_robust(model.net, ev, data.x_test, data.y_test, differing, model.search)
    return int((~left).sum()), what


def _replayed(model, rule: Remeasure, evaluation: Evaluation, data, differing: np.ndarray, environment):
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
    """'8 evaluations agree with the weights on 416 images measured again (check seed 123)', the rules they were
    held to and why, and which a time limit left unmeasured."""
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
    held: dict[tuple[str, str], list[str]] = {}
    for v in verdicts:
        if v.rule:
            held.setdefault((v.rule, v.why), []).append(v.evaluation)
    for (rule, why), names in held.items():
        line += f"; {', '.join(names)} held to the rule '{rule}': {why}"
    skipped = getattr(verdicts, "skipped", ())
    if skipped:
        line += f"; PARTIAL: the time limit left {', '.join(skipped)} unmeasured"
    return line
