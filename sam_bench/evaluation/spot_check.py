"""A results file's evaluations measured again from the weights it names, before its figures are published
(`leaderboard add`, `leaderboard submit`, `report --verify`, `sam-bench verify`).

A file agrees with its own outcomes where it is read (results_file), but only the weights can say whether the
labels beside them (which attack, which budget, which weights) are true. The clean pass runs again on every image
(where that is cheap); every attack runs again as labelled on a sample of both strata, the images recorded robust
and those recorded fooled, so that inflation and deflation are both refused. Both run through the package's one
`benchmark`, on a test set of the chosen images alone (check_model); apart from it run only what an attack's record
measures itself (`Remeasure.own`: the corruption pass) and the exact replay of whole recorded chunks of AutoAttack
files without per-image draws (`_replayed`). Each evaluation is held to the rule check_rules chooses for
it; the sample and when what differs refuses the file: stratum_check. What is an attack's own is asked of its
record (attack_table's `Remeasure`). What it proves and what it does not: docs/evaluation.md
("Re-measured before publication")."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch

from sam_bench.attacks import NORMS
from sam_bench.data import Dataset
from sam_bench.eps import format_eps
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import attack_table, check_rules, outcomes, results_file
from sam_bench.evaluation.attack_spec import AttackSpec
from sam_bench.evaluation.attack_table import RUNNERS
from sam_bench.evaluation.check_model import CheckedModel, images, retried
from sam_bench.evaluation.check_rules import ALWAYS, Here, Rule, remeasure
from sam_bench.evaluation.pinned import pin
from sam_bench.evaluation.recheck import label, measured_data, named_weights, recorded_threads
from sam_bench.evaluation.recorded_before import listed
from sam_bench.evaluation.results_record import Evaluation, Results
from sam_bench.evaluation.stratum_check import FIX, Verdict, Verdicts, fresh_seed, seed_of, stratified, verdict_of
from sam_bench.runtime.memory_format import EVALUATION, place
from sam_bench.runtime.provenance import resolve_device
from sam_bench.threat_models import check_budget


def check_labels(path: Path, evaluation: Evaluation) -> tuple[AttackSpec, str] | None:
    """What an evaluation says it is agrees with itself, in one line where not: the budget a board shows (`eps`)
    is the one measured again (`eps_value`), and what its attack's record asks of it (`Remeasure.rerun`:
    AutoAttack's version, attacks and breakdown). Returns what runs again and its name in words (None for the
    clean pass and passes of their own)."""
    name = label(evaluation)
    rule = attack_table.attack(evaluation.attack).remeasure
    if evaluation.attack == "clean" or (rule is not None and rule.own is not None):  # no budget: its own rule's
        return None
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
    settings, rerun = dict(evaluation.settings), evaluation.attack
    if rule is not None and rule.rerun is not None:
        settings, rerun = rule.rerun(path, name, evaluation)
    return AttackSpec(evaluation.attack, norm, float(eps_value), settings), rerun


@dataclass(frozen=True)
class _Check:
    """What every evaluation's re-measurement in one check of a results file shares."""

    path: Path
    results: Results
    data: Dataset
    model: CheckedModel
    listed: str | None  # the sha256 of the file's bytes where they are on the list recorded before per-image draws
    here: Here
    seed: int
    every_image: bool
    data_dir: str | Path | None

    def rule(self, evaluation: Evaluation) -> Rule:
        return check_rules.rule(evaluation, self.results.environment, self.listed, self.here)


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
    """Every evaluation of a results file (the clean pass first) measured again on its sample from the weights it
    names (or `weights`, a reference that holds them: their sha256 must be the recorded one), one verdict at a time,
    the samples drawn from `seed` (fresh where None). After `stop_at` (a `time.time()`) no attack starts:
    `on_skipped(name)` hears each one left; `on_evaluation(name)` is called before each. `every_image`: both
    strata whole (tools/spot_check_tolerance.py); `threads`: a CPU check's threads instead of the recorded count."""
    path = Path(path)
    pinned = pin(path)  # the bytes checked are the bytes whose sha256 decides the rules (check_rules)
    results = Results(results_file.check(pinned.json(), str(path)), path)
    if not results.verified:
        raise BadInput(f"{path}: cannot be measured again: {results.unverified}")
    for ev in results.evaluations:
        if ev.attack not in RUNNERS:
            raise BadInput(f"{path}: records an attack sam-bench cannot run again ({ev.attack!r}); {FIX}")
    reruns = [check_labels(path, ev) for ev in results.evaluations]
    net, _ = named_weights(path, results, zoo_dir, weights)
    data = measured_data(path, results, data_dir)
    dev = resolve_device(device)
    model = CheckedModel(place(net, dev, EVALUATION).eval(), dev, results.search_math, results.precision, data.family)
    check_seed = fresh_seed() if seed is None else seed
    sha = pinned.sha256 if pinned.sha256 in listed() else None
    check = _Check(path, results, data, model, sha, Here.now(dev), check_seed, every_image, data_dir)
    recorded = recorded_threads(results.environment)
    runnable = isinstance(recorded, int) and 1 <= recorded <= check_rules.MAX_THREADS
    threads = threads or (recorded if dev.type == "cpu" and runnable else None)
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)  # the recorded thread count: CPU arithmetic can differ with it
    try:
        if on_evaluation is not None:
            on_evaluation("clean")
        clean = yield from _clean_verdict(check, clock)
        for ev, rerun in zip(results.evaluations, reruns):
            if ev.attack == "clean":
                continue  # the clean pass, measured above
            name = label(ev)
            if stop_at is not None and time.time() >= stop_at:
                if on_skipped is not None:
                    on_skipped(name)
                continue
            if on_evaluation is not None:
                on_evaluation(name)
            yield _attack_verdict(check, ev, name, rerun, clean)
    finally:
        torch.set_num_threads(before)


# The clean pass runs on every image where its first batch foretells the whole at most this many seconds (a
# 1/8-width PreActResNet-18's 10,000 images: seconds); beyond it (a full-width model's 10,000 images took 616 s on
# the shared 2-core CPU), on a sample of both strata drawn as an attack's, with the same power.
CLEAN_EVERY_IMAGE_S = 60.0


def _clean_pass(model, data, clean: np.ndarray, batch: int, seed: int, every_image: bool, clock, sizes=None):
    """(the images measured again, as strata: recorded correct, recorded wrong; which of them the weights classify
    correctly now, in index order; their predictions counted per class): every image where the first batch's time
    foretells at most CLEAN_EVERY_IMAGE_S for all (or `every_image`), else the first batch and a stratified sample
    of the others (`sizes`: the rule's, as `stratified` takes)."""
    n = len(clean)
    first = np.arange(min(batch, n))
    started = clock()
    head, counts = model.clean(*images(data, first), batch)
    foretold = (clock() - started) * n / max(1, len(first))
    if every_image or foretold <= CLEAN_EVERY_IMAGE_S:
        rest = np.arange(len(first), n)
    else:
        later = np.arange(n) >= len(first)
        rest = np.sort(np.concatenate(stratified(clean, later, n, np.random.default_rng(seed), sizes=sizes)))
    tail, more = model.clean(*images(data, rest), batch) if len(rest) else (head[:0], [0] * len(counts))
    measured = np.concatenate([first, rest])
    parts = [measured[clean[measured]], measured[~clean[measured]]]
    return parts, np.concatenate([head, tail]), [a + b for a, b in zip(counts, more)]


def _clean_verdict(check: _Check, clock):
    """Yields the clean pass's verdict, then its `clean_prediction_counts` compared where every image was
    measured again by an exact rule; returns its recorded outcomes."""
    clean_record = check.results.evaluation("clean")
    assert clean_record is not None and clean_record.outcomes is not None, "a verified file has its clean outcomes"
    clean = outcomes.decode(clean_record.outcomes)
    n, data = len(clean), check.data
    batch = (clean_record.chunks or {}).get("batch_size")
    batch = batch if isinstance(batch, int) else 250
    rule = check.rule(clean_record)
    seed = seed_of(check.seed, "clean")
    parts, now_clean, derived = _clean_pass(
        check.model, data, clean, batch, seed, check.every_image, clock, rule.sizes()
    )
    every_image = sum(map(len, parts)) == n
    yield verdict_of("clean", "clean", rule, clean, now_clean, parts, every_image=every_image)
    counts = check.results.clean_prediction_counts
    if rule.exact and counts is not None and every_image:  # derived from every image's prediction, or not at all
        if derived != list(counts):
            raise SamBenchError(
                f"{check.path}: clean_prediction_counts are {counts}, the weights predict {derived} on the same "
                f"images; {FIX}"
            )
    return clean


def _attack_verdict(check: _Check, ev: Evaluation, name: str, rerun, clean: np.ndarray) -> Verdict:
    """One attack's evaluation measured again on its sample by its rule (`rerun`: what runs again, its name in
    words; an attack whose images are its own, the corruption pass, measures its sample itself: `Remeasure.own`)."""
    rule, seed, data, model = check.rule(ev), seed_of(check.seed, name), check.data, check.model
    record = remeasure(ev.attack)
    if record.own is not None:  # images of its own: the attack's rule samples and measures
        sample = partial(stratified, sizes=rule.sizes())
        rng = np.random.default_rng(seed)
        recorded, now, parts = record.own(
            ev, model.measured, data, model.device, rng, check.every_image, sample, check.data_dir
        )
        return verdict_of(name, ev.attack, rule, recorded, now, parts)
    assert ev.outcomes is not None, "a verified file has every evaluation's outcomes"
    recorded = outcomes.decode(ev.outcomes)
    spec, rerun_name = rerun
    rng = np.random.default_rng(seed)
    parts = stratified(recorded, clean[: len(recorded)], len(recorded), rng, check.every_image, rule.sizes())
    union = np.sort(np.concatenate(parts))
    attack = None
    if rule.chunk_starts:  # recorded before per-image draws: its chunks' draws, batch by batch (PGD's)
        _need_chunks(check.path, ev, "its chunks' random draws")
        shape = (data.x_test.shape[3], *data.x_test.shape[1:3])  # NHWC images, NCHW starts
        assert record.chunk_starts is not None, f"{ev.attack}'s rule replays chunk starts its record has"
        attack = record.chunk_starts(ev, clean, union, shape, rule.gpu)
    sampled = images(data, union)
    now, fooled_at = (
        model.outcome(spec, *sampled, seed=seed % 2**31, attack=attack) if len(union) else (np.zeros(0, bool), None)
    )
    first = now
    now = retried(model, spec, sampled, recorded[union], now, rule.retries, seed)
    refuted = (0, "")
    if rule.chunk_replay:
        refuted = _replayed(check, rule, ev, union[recorded[union] & ~now])
    tail = None
    if rule.replayed and fooled_at is not None:  # fooled, in the re-run, only by attacks that do not replay per image
        late = (fooled_at >= len(rule.replayed)) & (fooled_at < len(ev.params.attacks))
        tail = union[recorded[union] & ~now & late]
    every_image, replayed = check.every_image, rule.chunk_starts and rule.exact
    return verdict_of(name, rerun_name, rule, recorded, now, parts, every_image, refuted, tail, first, replayed)


def _need_chunks(path, ev: Evaluation, what: str) -> None:
    """The recorded chunks and batches an exact replay needs, or a one-line refusal."""
    chunks = ev.chunks or {}
    if not (isinstance(chunks.get("size"), int) and isinstance(chunks.get("batch_size"), int)):
        raise SamBenchError(
            f"{path}: {label(ev)}: records no chunk and batch sizes, so {what} cannot be replayed, and its rule "
            f"needs them; {FIX}"
        )


def _replayed(check: _Check, rule: Rule, ev: Evaluation, differing: np.ndarray) -> tuple[int, str]:
    """(how many of `differing`, images recorded robust that the re-run fooled, an exact replay of the recorded run's
    first attacks from their chunks fools as well, what it ran: the record's `replay`): where the recorded kernels
    are this CPU's (WHERE_RECORDED, as the file says), or whatever it says (ALWAYS); (0, "") where it cannot."""
    replay = remeasure(ev.attack).replay
    if replay is None or not len(differing):
        return 0, ""
    always = rule.chunk_replay == ALWAYS
    if always:
        _need_chunks(check.path, ev, "its first attacks")
    m, x, y, env = check.model, check.data.x_test, check.data.y_test, check.results.environment
    found = replay(m.measured, ev, env, m.device, x, y, differing, m.search, always=always)
    if found is None:
        return 0, ""
    left, what = found
    return int((~left).sum()), what


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
