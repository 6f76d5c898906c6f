"""A results file's evaluations measured again on a seeded sample of their images, from the weights the file names,
before its figures are published (`leaderboard add`, `leaderboard submit`, `report --verify`).

A results file is checked against its own evidence where it is read (results_file): every accuracy agrees with its
per-image outcomes. What an outcome vector *is* (which attack, at which budget, of which weights) is written beside
it in the same file, and an edit of those labels, or outcomes forged together with every figure, agrees with itself.
Only the weights can say whether the file is theirs: this module runs each evaluation again on a sample of its
images and compares image by image.

The sample. Seeded by the file's sha256 and the evaluation's name, so one file always gets the same sample (and, on
one machine, the same verdict). Stratified by what the file records: up to half of it from the images recorded
correct (for an attack: left correct, "robust") and the rest from those recorded wrong (for an attack: correct on
clean images but fooled), each stratum filled from the other where one is short. A model with 1% robust images still
has its robust images looked at; clean-wrong images say nothing about an attack and are left out of its sample.

What runs again. The clean pass and PGD exactly as recorded (settings, precision, search math), from another random
start; AutoAttack by its first attack alone (APGD-CE for the standard version), with its recorded restarts, on the
images the file records robust. That first attack sees every clean-correct image in the full AutoAttack too, so it
can only fool images the full AutoAttack also fools (up to its random start): an image the file records robust that
it fools is evidence against the file; an image recorded fooled that it leaves correct is expected (a later attack
fooled it) and is not counted.

The rule, in one place (`CHANCE`, `ALPHA`). In a genuine file, an image of a stratum comes out differently on a
re-run only by chance: a clean pass draws nothing at random (another batch can move a logit in its last bits, and
only a near tie at the top flips); an attack draws its random start. Each image of a stratum is taken to differ with
probability at most `CHANCE` of its kind; the file is refused where the differing images of a stratum are more than
that explains: P(Binomial(sampled, CHANCE) >= differing) < ALPHA. The attacks' chance is set from the repository's
committed evaluations: on the CPU that measured them, another PGD-10 random start fooled at most 6% of a stratum of
30 or more images recorded robust (1 of 3 in the smallest, where no count can decide anything) and APGD-CE alone
none of the images the full AutoAttack left robust; a full-width model measured on a GPU (its attacks searching in
TF32) and re-run on a CPU, at most 19% (6 of 32, PGD at L2 128/255), its clean pass not one image; 0.25 leaves room
for weaker attacks. For the images recorded fooled, a PGD re-run is held to the same chance (a file that states less
robustness than its weights have is as wrong as one that states more); AutoAttack's weaker re-run is not.

What it proves and what it does not: see docs/evaluation.md ("Re-measured before publication").
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sam_bench import files
from sam_bench.attacks import NORMS
from sam_bench.attacks.autoattack import ATTACK_NAMES, VERSIONS, attack_names, predict
from sam_bench.attacks.invariants import check_adversarial_examples
from sam_bench.eps import format_eps
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import outcomes, results_file
from sam_bench.evaluation.attack_table import RUNNERS
from sam_bench.evaluation.evaluate import to_float
from sam_bench.evaluation.model_ref import Bf16
from sam_bench.evaluation.recheck import label, measured_data, named_weights
from sam_bench.evaluation.results_record import Evaluation, Results
from sam_bench.evaluation.specs import AttackSpec
from sam_bench.runtime import math_mode
from sam_bench.runtime.memory_format import EVALUATION, place
from sam_bench.runtime.provenance import resolve_device
from sam_bench.stats.inference import binomial_tail
from sam_bench.threat_models import check_budget

# Images measured again per evaluation: PGD's are cheap, AutoAttack's first attack takes 100 steps an image.
SAMPLE = {"clean": 64, "pgd": 64, "autoattack": 32}
# The most a genuine file's image of a stratum differs from its re-run by chance, per kind of evaluation
CHANCE = {"clean": 0.02, "pgd": 0.25, "autoattack": 0.25}
ALPHA = 1e-3  # a stratum is refused where chance explains what differs less often than this
FIX = "evaluate the model again (sam-bench evaluate) instead of editing results, or restore the file"


@dataclass(frozen=True)
class Stratum:
    """Sampled images that an evaluation recorded alike (all correct, or all wrong), measured again."""

    recorded_correct: bool
    sampled: int
    differing: int  # measured the other way now
    chance: float

    @property
    def p(self) -> float:
        """How likely chance alone makes this many of them differ."""
        return binomial_tail(self.differing, self.sampled, self.chance)

    @property
    def refused(self) -> bool:
        return self.p < ALPHA


@dataclass(frozen=True)
class Verdict:
    """One evaluation of a results file against its weights, on its sample."""

    evaluation: str  # as recheck names it: 'clean', 'pgd Linf 2/255', 'autoattack Linf 8/255'
    rerun: str  # what ran again: 'clean', 'pgd', or AutoAttack's first attack
    strata: tuple[Stratum, ...]

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
        return (
            f"{where}: {self.evaluation}: of {stratum.sampled} sampled images it records {recorded}, {found} "
            f"(chance allows at most {stratum.chance:.0%} of them to differ: p = {stratum.p:.1g}); the file states "
            f"{'more' if stratum.recorded_correct else 'less'} {measure} than its weights have; {FIX}"
        )


def _seed(file_sha: str, name: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{file_sha}:{name}".encode()).digest()[:8], "big")


def stratified(correct: np.ndarray, eligible: np.ndarray, size: int, rng, both: bool = True) -> list[np.ndarray]:
    """Indices of a sample of `size` eligible images: up to half recorded correct and the rest recorded wrong,
    each stratum filled from the other where it is short (`both` False: the recorded-correct stratum alone)."""
    right, wrong = np.flatnonzero(eligible & correct), np.flatnonzero(eligible & ~correct)
    if not both:
        return [np.sort(rng.choice(right, min(size, len(right)), replace=False))]
    n_right = min(len(right), max(size // 2, size - len(wrong)))
    n_wrong = min(len(wrong), size - n_right)
    return [np.sort(rng.choice(pool, n, replace=False)) for pool, n in ((right, n_right), (wrong, n_wrong))]


def _first_restarts(settings: Mapping):
    """The restarts AutoAttack's first attack ran with, as recorded (results from before they were: 1)."""
    return ((settings.get("config") or {}).get(settings["attacks"][0]) or {}).get("restarts", 1)


def _rerun(evaluation: Evaluation, seed: int) -> AttackSpec:
    """What runs again: PGD as recorded; AutoAttack's first attack alone, configured as the recorded version ran it
    (its restarts), from `seed`."""
    settings = evaluation.settings
    if evaluation.attack == "autoattack":
        first = settings["attacks"][0]
        settings = {"version": "custom", "attacks": [first], "seed": seed, "restarts": _first_restarts(settings)}
    return AttackSpec(evaluation.attack, evaluation.norm, float(evaluation.eps_value or 0.0), settings)


@dataclass
class _Model:
    """The weights a results file names, on the device and in the precision it was measured in; scored in true
    fp32 as `evaluate` scores, the attacks searching in the math they were recorded with."""

    net: torch.nn.Module
    device: torch.device
    search: str

    def correct(self, x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
        with math_mode.evaluation():
            return (predict(self.net, x.to(self.device), len(x)).cpu() == y).numpy()

    def robust(self, spec: AttackSpec, x: torch.Tensor, y: torch.Tensor, seed: int) -> np.ndarray:
        """Which images the attack leaves correct, the attack run from `seed` with the caller's random state kept."""
        x, y = x.to(self.device), y.to(self.device)
        devices = [self.device] if self.device.type == "cuda" else []
        with math_mode.evaluation():
            with torch.random.fork_rng(devices=devices), math_mode.search(self.search), tqdm(disable=True) as bar:
                torch.manual_seed(seed)
                x_adv = RUNNERS[spec.attack](self.net, x, y, spec, batch_size=len(x), bar=bar).x_adv
            check_adversarial_examples(x, x_adv, spec.eps, spec.norm)
            return (predict(self.net, x_adv, len(x)) == y).cpu().numpy()


def _images(data, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampled test images as `evaluate` feeds them to the model, with their labels."""
    return to_float(data.x_test[indices]), torch.from_numpy(np.asarray(data.y_test[indices], np.int64))


def _verdict(name: str, rerun: str, kind: str, recorded: np.ndarray, now: np.ndarray, parts) -> Verdict:
    """The strata of a sample (`parts`, the recorded-correct one first) against `now`, the re-run's outcome of
    every sampled image in order."""
    union = np.sort(np.concatenate(parts))
    strata = [
        Stratum(i == 0, len(part), int((recorded[part] != now[np.searchsorted(union, part)]).sum()), CHANCE[kind])
        for i, part in enumerate(parts)
    ]
    return Verdict(name, rerun, tuple(s for s in strata if s.sampled))


def check_labels(path: Path, evaluation: Evaluation) -> None:
    """What an evaluation says it is agrees with itself, in one line where not: the budget a board shows (`eps`)
    is the one measured again (`eps_value`), and an AutoAttack version other than custom lists that version's
    attacks, its breakdown each of them (only the first attack runs again: the others are taken from the file)."""
    name = label(evaluation)
    if evaluation.attack == "clean":
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
    restarts = _first_restarts(settings)
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


def verdicts(
    path: str | Path,
    *,
    zoo_dir=None,
    data_dir=None,
    device: str = "cpu",
    weights: str | None = None,
    on_evaluation: Callable[[str], None] | None = None,
) -> Iterator[Verdict]:
    """Every evaluation of a results file (its clean pass first) measured again on its seeded sample from the
    weights it names (`weights`: a run folder, checkpoint or zoo id that holds them, where the file's own
    reference is not at hand; their sha256 must be the recorded one), one verdict at a time.
    `on_evaluation(name)` is called before each, for progress lines."""
    path = Path(path)
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
    if results["precision"] == "bf16":
        net = Bf16(net, dev.type).eval()
    model = _Model(net, dev, (results.get("search_math_mode") or {}).get("search", "ieee"))
    file_sha = files.sha256_file(path)

    clean_record = results.evaluation("clean")
    assert clean_record is not None, "a verified file has its clean pass"
    assert clean_record.outcomes is not None, "a verified file has its clean outcomes"
    clean = outcomes.decode(clean_record.outcomes)
    if on_evaluation is not None:
        on_evaluation("clean")
    parts = stratified(
        clean, np.ones(len(clean), bool), SAMPLE["clean"], np.random.default_rng(_seed(file_sha, "clean"))
    )
    union = np.sort(np.concatenate(parts))
    yield _verdict("clean", "clean", "clean", clean, model.correct(*_images(data, union)), parts)
    for ev in results.evaluations:
        if ev.attack == "clean":
            continue  # the clean pass, measured above
        name = label(ev)
        if on_evaluation is not None:
            on_evaluation(name)
        seed = _seed(file_sha, name)
        assert ev.outcomes is not None, "a verified file has every evaluation's outcomes"
        recorded = outcomes.decode(ev.outcomes)
        weaker = ev.attack == "autoattack"  # its first attack alone: only the images it records robust count
        spec = _rerun(ev, seed % 2**31)
        parts = stratified(recorded, clean[: len(recorded)], SAMPLE[ev.attack], np.random.default_rng(seed), not weaker)
        union = np.sort(np.concatenate(parts))
        now = model.robust(spec, *_images(data, union), seed=seed % 2**31) if len(union) else np.zeros(0, bool)
        rerun = spec.settings["attacks"][0] if weaker else ev.attack
        yield _verdict(name, rerun, ev.attack, recorded, now, parts)


def spot_check(path: str | Path, **options) -> list[Verdict]:
    """Every verdict of a results file (`verdicts`), refused in one line (SamBenchError) at the first evaluation
    whose sample disagrees with the file beyond chance: nothing after it runs."""
    found = []
    for verdict in verdicts(path, **options):
        refusal = verdict.refusal(str(path))
        if refusal is not None:
            raise SamBenchError(refusal)
        found.append(verdict)
    return found


def summary(verdicts: list[Verdict]) -> str:
    """'8 evaluations agree with the weights on 416 sampled images'."""
    images = sum(v.sampled for v in verdicts)
    return f"{len(verdicts)} evaluations agree with the weights on {images:,} images measured again"
