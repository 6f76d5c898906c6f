"""Robustness numbers for a trained model: clean accuracy, PGD and AutoAttack over several eps. What to
run is `specs`, the attacks themselves `runners`, the models `model_ref`; this module runs the chunks,
keeps their state and assembles the record (docs/results-schema.md).

    model, info = load_model_ref("runs/c10_prn18_sam_0.1")
    data = load_dataset(info.dataset_name)
    results = evaluate(model, data, make_attacks("pgd", "Linf", ["1/255", "8/255"]), model_info=info.record)

Every attack's output goes through `attacks.invariants` and is re-scored here; the attack's own count is kept
beside ours."""

from __future__ import annotations

import math
import sys
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from sam_bench.attacks.autoattack import predict
from sam_bench.attacks.draws import chunk_seed
from sam_bench.attacks.invariants import (
    check_accuracies,
    check_adversarial_examples,
    check_deterministic,
    check_eval_mode,
)
from sam_bench.data import Dataset, to_float
from sam_bench.eps import format_eps
from sam_bench.errors import BadInput
from sam_bench.evaluation import autoattack_estimate, carry_over, outcomes
from sam_bench.evaluation.attack_table import RUNNERS, cost
from sam_bench.evaluation.batching import AUTO, batch_size_for, check_size, chunk_size_for
from sam_bench.evaluation.chunk_state import STATE_SCHEMA, ChunkState, chunk_key, combine, disagreement
from sam_bench.evaluation.degenerate import diagnose
from sam_bench.evaluation.model_ref import Bf16, LoadedModel, weights_sha256
from sam_bench.evaluation.results_record import Evaluation
from sam_bench.evaluation.runners import AttackOutput
from sam_bench.evaluation.specs import AttackSpec
from sam_bench.runtime import clock, distributed, math_mode
from sam_bench.runtime.memory_format import EVALUATION, place
from sam_bench.runtime.provenance import cpu_model, device_name, environment, resolve_device
from sam_bench.threat_models import doubtful_budget

SCHEMA = "sam-bench/eval-results/v1"
BF16_WARNING = (
    "bf16 evaluation: low precision can weaken gradient-based attacks and overstate robust "
    "accuracy; report fp32 numbers"
)


def _seeded_attack(model, spec: AttackSpec, x, y, batch_size: int, bar, seed: int, search_math: str) -> AttackOutput:
    """The attack's runner from `seed`, the caller's random state left as it was: a chunk's result
    depends only on where it starts. It searches in `search_math` (math_mode.search); what it finds is
    scored by the caller, in true fp32."""
    runner = spec.runner or RUNNERS[spec.attack]  # the attack's record's (attack_table), unless the spec brings one
    rng_devices = [x.device] if x.device.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices), math_mode.search(search_math):
        torch.manual_seed(seed)
        return runner(model, x, y, spec, batch_size=batch_size, bar=bar)


# The timed probe's share of a chunk: it attacks at most this fraction of the chunk's images (and at most a
# batch), so a call that can afford a chunk can afford the probe before it.
PROBE_SHARE = 8


def _probe_images(chunk_images: int, batch_size: int) -> int:
    return max(1, min(batch_size, chunk_images // PROBE_SHARE))


def _timed_first_batch(
    model, spec: AttackSpec, x, y, batch_size: int, device, seed: int, search_math: str
) -> tuple[int, float]:
    """(images, seconds) of this attack here on the first images of the chunk about to start (`_probe_images`): with
    a time limit an attack's first chunk must not start blind (one AutoAttack chunk on a robust model can outlast a
    whole command). On a GPU fewer images keep it less busy, so the estimate errs long. The result is dropped and
    the RNG left as it was: the chunk gives the same numbers with or without this probe."""
    count = _probe_images(len(y), batch_size)
    started = clock.now()
    with tqdm(disable=True) as quiet:
        _seeded_attack(model, spec, x[:count].to(device), y[:count].to(device), batch_size, quiet, seed, search_math)
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return count, clock.now() - started


def _search_mode(search_math: str) -> dict:
    """What the attacks searched in (math_mode.current() under math_mode.search), for results files."""
    with math_mode.search(search_math):
        return {"search": search_math, **math_mode.current()}


def _why_late(label: str, images: int, needed_s: float, left_s: float, probe_first: bool = False) -> str:
    """The next chunk against the time left, in words: "pgd Linf 1/255 on 32 images, estimated at 160.0
    minutes with 10.0 left"; `probe_first`: estimated before its timed probe, which it needs first."""
    needed = "more than the time left" if needed_s == float("inf") else f"{needed_s / 60:.1f} minutes"
    if probe_first and needed_s != float("inf"):
        needed = f"up to {needed} (its timed probe first)"
    return f"{label} on {images:,} images, estimated at {needed} with {max(left_s, 0.0) / 60:.1f} left"


class EvaluationStopped(Exception):
    """The time limit came before the last chunk: the finished ones are in the state file. `why` says what the
    next chunk was estimated to take against the time left (the console keeps it: why a chunk waited);
    `limit_minutes`, the smallest --max-minutes (counted from the command's start, as runtime.clock counts it)
    that lets that chunk run in a call like this one, None where nothing estimates it."""

    def __init__(self, done: int, total: int, why: str = "", limit_minutes: float | None = None):
        super().__init__(f"time limit reached with {done} of {total} chunks done")
        self.done, self.total, self.why, self.limit_minutes = done, total, why, limit_minutes


def robustbench_entry(evaluations: list[dict], n_test_total: int) -> dict | None:
    """RobustBench's model_info fields, from AutoAttack (standard) at the leaderboard's budget."""
    for e in evaluations:
        if Evaluation.of(e).robustbench_autoattack:
            return {
                "threat_model": e["norm"],
                "eps": e["eps"],
                "clean_acc": f"{100 * e['clean_acc']:.2f}",
                "autoattack_acc": f"{100 * e['robust_acc']:.2f}",
                "n_examples": e["n_examples"],
                "full_test_set": e["n_examples"] == n_test_total,
            }
    return None


@math_mode.evaluation()  # scored in true fp32 on GPUs too (no TF32), with no autotuning
def evaluate(
    model: torch.nn.Module,
    dataset: Dataset,
    attacks: list[AttackSpec],
    *,
    n_examples: int | None = None,
    device: str | torch.device = "cpu",
    precision: str = "fp32",
    batch_size: int | str = AUTO,
    chunk_size: int | str = AUTO,
    state_path: str | Path | None = None,
    model_info: LoadedModel | dict | None = None,
    progress: bool = True,
    stop_at: float | None = None,
    search_math: str = "tf32",
    earlier: dict | None = None,
) -> dict:
    """Evaluate `model` (inputs in [0,1]) on the first `n_examples` test images of `dataset`: the clean pass, then
    `attacks` (none: the clean pass alone).

    Every clean prediction and adversarial example is classified in true fp32, and that is the recorded outcome;
    the attacks search in `search_math`: "tf32" (TF32 convolutions on GPUs) or "ieee" (runtime.math_mode).
    `state_path` keeps finished chunks for a later call with the same model, data and settings (the caller removes
    it once the results are written). `earlier` (a results record of this model) carries over the attacks it holds
    computed as this call would compute them (`carry_over`). With `stop_at` (a `time.time()` value) no chunk starts
    that is expected to end after it (at the rate of the chunk before, or of a timed probe): `EvaluationStopped`
    instead, and a later call continues from the state file. Under torchrun the chunks are dealt out to the
    processes and gathered, so every process returns what one process would have computed (a chunk's seed and
    batches depend only on where it starts); rank 0 keeps the state file."""
    ctx = distributed.current()
    main = ctx is None or ctx.is_main
    n_total = len(dataset.y_test)
    n = n_total if n_examples is None else n_examples
    batch_size, chunk_size = _checked(dataset, n, precision, search_math, batch_size, chunk_size)
    if ctx is not None:
        device = ctx.device  # each process its own GPU
    device = device if isinstance(device, torch.device) else resolve_device(device)
    notes: list[str] = []

    def warn(message: str) -> None:
        if message not in notes:
            notes.append(message)
            warnings.warn(message, stacklevel=3)

    for doubt in filter(None, (doubtful_budget(spec.eps, spec.norm) for spec in attacks)):
        warn(doubt)  # legal but doubtful budgets (sam_bench.eps): said before any work
    data_sha = dataset.fingerprint()
    info = model_block(model, model_info, dataset, data_sha, warn)
    x_all, y_all = to_float(dataset.x_test[:n]), torch.from_numpy(np.asarray(dataset.y_test[:n], np.int64))
    model, probe = _placed(model, dataset, x_all[: min(n, 32)], device, precision, warn)
    chunk_given = chunk_size != AUTO
    batch_size, chunk_size = _sizes(model, probe, device, n, ctx, batch_size, chunk_size)

    state = ChunkState(Path(state_path) if state_path is not None else None)
    if not main:
        state.path = None  # read the finished chunks, leave writing to rank 0
    context = {
        "schema": STATE_SCHEMA,
        "model": info["weights_sha256"],
        "data": data_sha,
        "precision": precision,
        "math_mode": math_mode.current(),
        **({"search_math": search_math} if search_math != "ieee" else {}),  # (keys of strict states as before)
    }
    image_bounds = [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
    spec_chunks, spec_bounds = _attack_chunks(attacks, n, chunk_size if chunk_given else None, device, ctx)

    clean_started = clock.now()
    clean_pred = _clean_predictions(model, x_all, image_bounds, batch_size, device, progress and main, stop_at, ctx)
    forward_s = (clock.now() - clean_started) / n  # one forward pass, per image: what a probe is estimated from

    where = device_name(device) + (f", {cpu_model()}" if device.type == "cpu" else "")  # CPUs differ in speed
    run = _Run(
        model,
        dataset,
        x_all,
        y_all,
        clean_pred,
        device,
        state,
        context,
        ctx,
        stop_at,
        search_math,
        progress and main,
        where,
        forward_s,
        clock.now(),
    )
    made = {"model": info, "dataset": {"sha256": data_sha}, "precision": precision, "math_mode": context["math_mode"]}
    earlier = carry_over.matching(earlier, {**made, "search_math_mode": _search_mode(search_math)})
    evaluations = []
    for i, (spec, bounds, size) in enumerate(zip(attacks, spec_bounds, spec_chunks)):
        kept = carry_over.carried(earlier, spec, bounds[-1][1], *run.truth(bounds[-1][1]), dataset.num_classes, warn)
        before, total = sum(map(len, spec_bounds[:i])), sum(map(len, spec_bounds))
        evaluations.append(
            kept if kept is not None else run.attack(spec, bounds, size, batch_size, before, total, warn)
        )
    return finished_record(
        info, dataset, n, data_sha, precision, search_math, clean_pred, y_all, evaluations, device, notes
    )


def _placed(model, dataset: Dataset, probe, device, precision: str, warn) -> tuple[torch.nn.Module, torch.Tensor]:
    """The model on `device` in `precision`, in eval mode, its outputs found deterministic on the `probe` images and
    one per class of `dataset`; the probe on the device."""
    model = place(model, device, EVALUATION).eval()
    if precision == "bf16":
        warn(BF16_WARNING)
        model = Bf16(model, device.type).eval()
    check_eval_mode(model, "before the evaluation")
    probe = probe.to(device)
    check_deterministic(model, probe)
    with torch.no_grad():
        n_outputs = model(probe[:1]).shape[1]
    if n_outputs != dataset.num_classes:
        raise BadInput(f"the model has {n_outputs} outputs but {dataset.name} has {dataset.num_classes} classes")
    return model, probe


def _attack_chunks(attacks, n: int, given: int | None, device, ctx) -> tuple[list[int], list[list]]:
    """(each attack's chunk size, its chunks' bounds, checked before any work): the `given` size, else the
    device's, on a GPU AutoAttack's own smaller ones (batching.chunk_size_for); the evaluation's chunks, cut at the
    attack's own `n_examples`."""
    sizes = [given or chunk_size_for(device, n, 1 if ctx is None else ctx.world, spec.attack) for spec in attacks]
    bounds = []
    for spec, size in zip(attacks, sizes):
        last = n if spec.n_examples is None else spec.n_examples
        if not (isinstance(last, int) and not isinstance(last, bool) and 1 <= last <= n):
            raise BadInput(
                f"{spec.attack}: n_examples must be a whole number from 1 to the evaluation's {n} images, "
                f"got {spec.n_examples!r}"
            )
        bounds.append([(s, min(s + size, last)) for s in range(0, last, size)])
    return sizes, bounds


def _sizes(model, probe, device, n: int, ctx, batch_size, chunk_size) -> tuple[int, int]:
    """`auto` sizes resolved (batching.py): the chunk for the device, the largest batch that fits; under
    torchrun one batch size for all processes (it decides the random draws)."""
    if chunk_size == AUTO:
        chunk_size = chunk_size_for(device, n, 1 if ctx is None else ctx.world)
    assert isinstance(chunk_size, int)  # check_size let through a positive int or AUTO, resolved here
    if batch_size == AUTO:
        batch_size = batch_size_for(model, probe, chunk_size)
        if ctx is not None:
            batch_size = min(ctx.gather(batch_size))
    assert isinstance(batch_size, int)
    return batch_size, chunk_size


def _clean_predictions(
    model, x_all, image_bounds, batch_size: int, device, progress: bool, stop_at: float | None = None, ctx=None
) -> torch.Tensor:
    """The clean pass, chunk by chunk in the same batches as the re-scoring, so that eps 0 and an unchanged image
    get bit-identical logits. Under a time limit no chunk starts that would end after it (at the rate of the chunks
    before, or of one timed batch): EvaluationStopped instead (nothing of it is kept: it is repeated whole)."""
    chunks: list[torch.Tensor] = []
    seconds_per_image, done, started = 0.0, 0, clock.now()
    for s, e in tqdm(image_bounds, desc="clean", unit="chunk", disable=not progress, leave=False):
        if stop_at is not None:
            if not done:
                timed = min(batch_size, e - s)
                probe_started = clock.now()
                predict(model, x_all[s : s + timed].to(device), batch_size)
                seconds_per_image = (clock.now() - probe_started) / timed
                started = clock.now()
            needed = seconds_per_image * (e - s)
            late = not clock.fits(stop_at, needed)
            if late if ctx is None else ctx.agree(late):
                total = image_bounds[-1][1]
                left = total - s
                why = _why_late("the clean pass", left, seconds_per_image * left, stop_at - clock.now())
                limit = math.ceil((clock.now() - clock.STARTED + seconds_per_image * left) / 6) / 10
                raise EvaluationStopped(0, len(image_bounds), why, limit)
        chunks.append(predict(model, x_all[s:e].to(device), batch_size).cpu())
        done += e - s
        seconds_per_image = (clock.now() - started) / done
    return torch.cat(chunks)


def _checked(dataset: Dataset, n: int, precision, search_math, batch_size, chunk_size) -> tuple:
    """The evaluation's options refused in one line where they cannot work; (batch_size, chunk_size)."""
    n_total = len(dataset.y_test)
    if not 1 <= n <= n_total:
        raise BadInput(f"--n-examples must be between 1 and {n_total} (the {dataset.name} test set), got {n}")
    if precision not in ("fp32", "bf16"):
        raise BadInput(f"unknown precision {precision!r}; choose fp32 or bf16")
    if search_math not in math_mode.SEARCH_MODES:
        raise BadInput(f"unknown search math {search_math!r}; choose {' or '.join(math_mode.SEARCH_MODES)}")
    try:
        sizes = check_size(batch_size, "--batch-size"), check_size(chunk_size, "--chunk-size")
    except ValueError as err:
        raise BadInput(str(err)) from None
    return sizes


def model_block(model, model_info, dataset: Dataset, data_sha: str, warn) -> dict:
    """The results' `model` block: what the caller knows of the model, its weights' sha256 always."""
    info = model_info.record if isinstance(model_info, LoadedModel) else dict(model_info or {})
    sha = info.get("weights_sha256") or weights_sha256(model)
    unknown = {"ref": None, "kind": "module", "zoo_id": None, "arch": None, "method": None, "training": None}
    info = {**unknown, **info, "weights_sha256": sha}
    if (
        isinstance(model_info, LoadedModel)
        and model_info.dataset_sha256
        and model_info.dataset_name == dataset.name
        and model_info.dataset_sha256 != data_sha
    ):
        warn(f"the {dataset.name} data differ from the data this model was trained with (another copy?)")
    return info


@dataclass
class _Run:
    """What every attack of one evaluation shares."""

    model: torch.nn.Module
    dataset: Dataset
    x_all: torch.Tensor
    y_all: torch.Tensor
    clean_pred: torch.Tensor
    device: torch.device
    state: ChunkState
    context: dict
    ctx: distributed.Distributed | None
    stop_at: float | None
    search_math: str
    progress: bool
    where: str  # the device, as a stored probe must match it to be taken (its speed is this device's)
    forward_s: float  # a forward pass's seconds per image (the clean pass's)
    ready: float  # when the attacks began: what a call spends before them, to name the limit a chunk needs

    def truth(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(which of the first n images the clean pass got right, their labels)."""
        return (self.clean_pred[:n] == self.y_all[:n]).numpy(), self.y_all[:n].numpy()

    def _resumable(self, key: str, start: int, end: int, label: str, warn) -> bool:
        """Whether the state file holds this chunk, agreeing with itself and with this evaluation's clean pass
        (`chunk_state.disagreement`); a chunk that disagrees is dropped, attacked again and the results say so."""
        record = self.state.chunks.get(key)
        if record is None:
            return False
        clean_correct = (self.clean_pred[start:end] == self.y_all[start:end]).numpy()
        why = disagreement(record, start, end, clean_correct)
        if why is None:
            return True
        self.state.chunks.pop(key, None)  # attacked again and stored afresh
        warn(
            f"{label}: the saved chunk of images {start}..{end - 1} {why} (an edited or damaged state file); "
            "attacked again"
        )
        return False

    def _limit_for(self, needed_s: float) -> float | None:
        """The smallest --max-minutes, in tenths, for a call like this one to reach the attacks and then spend
        `needed_s` on them."""
        if needed_s == float("inf"):
            return None
        return math.ceil((self.ready - clock.STARTED + needed_s) / 6) / 10

    def _probed(self, spec, label, chunk) -> tuple[int, float]:
        """(images, seconds) of the timed probe before the next chunk (`chunk`: the attack's bounds and keys, the
        chunk's index, the batch, the chunks done before and in all): one an earlier call kept on this device, else
        one run now and kept for a later call. Under a time limit the probe counts against the limit too: where it
        is not expected to end before it (past it already, or its estimate longer than the time left),
        EvaluationStopped instead."""
        bounds, keys, index, batch, done_before, total = chunk
        stored = self.state.probes.get(keys[index])
        if stored is not None and stored["where"] == self.where:
            return stored["images"], stored["seconds"]
        s, e = bounds[index]
        if self.stop_at is not None:
            count, passes = _probe_images(e - s, batch), cost(spec, self.dataset.num_classes)
            estimate = None if passes is None else count * passes * self.forward_s  # at most: no image fooled early
            late = not clock.fits(self.stop_at, estimate or 0.0)  # a runner of its own: only past the limit
            if late if self.ctx is None else self.ctx.agree(late):
                needed = float("inf") if estimate is None else estimate + estimate / count * (e - s)  # probe, chunk
                why = _why_late(label, e - s, needed, self.stop_at - clock.now(), probe_first=True)
                raise EvaluationStopped(done_before, total, why, self._limit_for(needed))
        seed = chunk_seed(spec.params.seed, s)
        images, seconds = _timed_first_batch(
            self.model, spec, self.x_all[s:e], self.y_all[s:e], batch, self.device, seed, self.search_math
        )
        self.state.put_probe(keys[index], self.where, images, seconds)
        return images, seconds

    def _stop_before_a_late_chunk(self, spec, label, chunk, seconds_per_image: float | None) -> float:
        """Raise EvaluationStopped where the next chunk (`chunk`, as `_probed` takes it) is not expected to end
        before the limit at `seconds_per_image` (the attack's last chunk's; where None, its timed probe's); the rate
        it was judged at. Rank 0's clock decides for all."""
        bounds, keys, index, batch, done_before, total = chunk
        s, e = bounds[index]
        if seconds_per_image is None:
            images, seconds = self._probed(spec, label, chunk)
            seconds_per_image = seconds / images
        needed = seconds_per_image * (e - s)
        late = not clock.fits(self.stop_at, needed)
        if late if self.ctx is None else self.ctx.agree(late):
            assert self.stop_at is not None  # no limit: no chunk is late
            why = _why_late(label, e - s, needed, self.stop_at - clock.now())
            raise EvaluationStopped(done_before, total, why, self._limit_for(needed))
        return seconds_per_image

    def _chunk(self, spec, bounds: tuple[int, int], batch: int, bar) -> dict:
        """The chunk of images [s, e) attacked from its seed: its record (chunk_state)."""
        s, e = bounds
        x, y, clean_pred = (t[s:e].to(self.device) for t in (self.x_all, self.y_all, self.clean_pred))
        started, cpu_started = time.time(), time.process_time()
        out = _seeded_attack(self.model, spec, x, y, batch, bar, chunk_seed(spec.params.seed, s), self.search_math)
        check_eval_mode(self.model, f"after the {spec.attack} attack")
        largest = check_adversarial_examples(x, out.x_adv, spec.eps, spec.ball)
        robust = predict(self.model, out.x_adv, batch) == y  # our own count, not the attack's
        clean = clean_pred == y
        check_accuracies(int(clean.sum()), int(robust.sum()), spec.eps)
        reported = out.reported_correct
        return {
            "n": len(y),
            "clean_correct": int(clean.sum()),
            "robust_correct": int(robust.sum()),
            "robust_per_class": torch.bincount(y[robust], minlength=self.dataset.num_classes).tolist(),
            "reported_correct": None if reported is None else int(reported.sum()),
            "disagreements": None if reported is None else int((reported != robust).sum()),
            "breakdown": out.breakdown,
            "max_perturbation": largest,
            "seconds": time.time() - started,
            "cpu_seconds": time.process_time() - cpu_started,  # what the chunk cost when other work shared the cores
            "correct": outcomes.encode(robust, s),
            "warnings": list(out.warnings),
        }

    def attack(self, spec, bounds, chunk_size: int, batch_size: int, chunks_before: int, chunks_total: int, warn):
        """One attack over its chunks (those of the state file skipped), each process a chunk per round; its
        results entry. Raises EvaluationStopped before a chunk that would end after the time limit."""
        label = f"{spec.attack} {spec.norm or ''} {format_eps(spec.eps) if spec.norm else ''}".strip()
        n_spec = bounds[-1][1]
        spec_batch = min(batch_size, chunk_size)
        keys = [chunk_key(self.context, spec, spec_batch, s, e) for s, e in bounds]
        resumed = [self._resumable(key, s, e, label, warn) for key, (s, e) in zip(keys, bounds)]
        done = sum(e - s for (s, e), r in zip(bounds, resumed) if r)
        todo = [i for i, r in enumerate(resumed) if not r]
        ctx = self.ctx
        world, rank = (1, 0) if ctx is None else (ctx.world, ctx.rank)
        seconds_per_image = None  # of this attack's last chunk (or its timed probe): how long the next will take
        if todo and ctx is None and self.progress and autoattack_estimate.announces(spec):  # its expected time, first
            images, seconds = self._probed(spec, label, (bounds, keys, todo[0], spec_batch, 0, len(bounds)))
            left = sum(bounds[i][1] - bounds[i][0] for i in todo)
            said = autoattack_estimate.estimate(label, left, images, seconds, self.device.type)
            print(said, file=sys.stderr, flush=True)
            seconds_per_image = seconds / images
        with tqdm(
            total=n_spec, initial=done, desc=label, unit="img", disable=not self.progress, dynamic_ncols=True
        ) as bar:
            for first in range(0, len(todo), world):  # a round: one chunk per process
                if self.stop_at is not None:
                    done_before = chunks_before + len(bounds) - len(todo) + first
                    chunk = (bounds, keys, todo[first], spec_batch, done_before, chunks_total)
                    seconds_per_image = self._stop_before_a_late_chunk(spec, label, chunk, seconds_per_image)
                mine = todo[first + rank] if first + rank < len(todo) else None
                record = None if mine is None else self._chunk(spec, bounds[mine], spec_batch, bar)
                for i, other in enumerate([(mine, record)] if ctx is None else ctx.gather((mine, record))):
                    if other[0] is not None:
                        self.state.put(keys[other[0]], other[1])
                        seconds_per_image = other[1]["seconds"] / other[1]["n"]
                        if i != rank:
                            bar.update(bounds[other[0]][1] - bounds[other[0]][0])
        chunks = [self.state.chunks[k] for k in keys]  # all done: every process put the others' records too
        clean_correct, labels = self.truth(n_spec)
        evaluation = combine(spec, chunks, clean_correct, labels, self.dataset.num_classes, warn)
        evaluation["chunks"] = {
            "size": chunk_size,
            "count": len(bounds),
            "resumed": sum(resumed),
            "batch_size": spec_batch,
        }
        probe_seconds = self.state.probe_seconds(keys)
        if probe_seconds is not None:
            evaluation["chunks"]["probe_seconds"] = probe_seconds
        return evaluation


def finished_record(
    info, dataset: Dataset, n, data_sha, precision, search_math, clean_pred, y_all, evaluations, device, notes
):
    """The results record (docs/results-schema.md) of a finished evaluation."""
    n_total = len(dataset.y_test)
    clean_acc = int((clean_pred == y_all).sum()) / n
    prediction_counts = torch.bincount(clean_pred, minlength=dataset.num_classes).tolist()
    return {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": info,
        "dataset": {
            "name": dataset.name,
            "family": dataset.family,
            "split": "test",
            "n_examples": n,
            "n_test_total": n_total,
            "sha256": data_sha,
        },
        "precision": precision,
        "math_mode": math_mode.current(),
        "search_math_mode": _search_mode(search_math),
        "clean_acc": clean_acc,
        "clean_prediction_counts": prediction_counts,
        "clean_outcomes": outcomes.encode(clean_pred == y_all),
        "degenerate": diagnose(clean_acc, dataset.num_classes, prediction_counts),
        "evaluations": evaluations,
        "robustbench": robustbench_entry(evaluations, n_total),
        "environment": environment(device),
        "warnings": notes,
    }
