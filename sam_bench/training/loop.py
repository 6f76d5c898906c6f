"""The training loop: schedule, precision, progress, per-epoch log, atomic resumable checkpoints, into a run
folder (its files: docs/training.md). Under torchrun (sam_bench.runtime.distributed) every process runs this loop
on its slice of each global batch; rank 0 writes the files and shows the progress.
"""

from __future__ import annotations

import json
import warnings
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from sam_bench import files, schema
from sam_bench.data import DeviceLoader, load_dataset
from sam_bench.eps import format_eps, parse_eps
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.models import create_model, make_spec
from sam_bench.runtime import clock, distributed, math_mode
from sam_bench.runtime.compile_cache import compiled_afresh
from sam_bench.runtime.memory_format import place, training_format
from sam_bench.runtime.provenance import environment, resolve_device
from sam_bench.training import guard, run_check, step_mode
from sam_bench.training import method_table as table
from sam_bench.training.config import RUNTIME_KEYS, TrainConfig
from sam_bench.training.epoch import (  # the settings, declared torch-free
    evaluate_clean,
    expected_epoch_seconds,
    train_one_epoch,
)
from sam_bench.training.optim import SAM

CHECKPOINT = "checkpoint.pt"  # a run folder's last epoch's full state, which --resume continues from


def autocast_for(precision: str, device: torch.device):
    """A context factory for the forward passes: bf16 autocast for `bf16`, and for `auto` on a GPU."""
    if precision == "bf16" or (precision == "auto" and device.type == "cuda"):
        return partial(torch.autocast, device.type, dtype=torch.bfloat16)
    return nullcontext


def precision_used(precision: str, device: torch.device | str) -> str:
    """What `autocast_for` makes of a precision setting on a device: "bf16" or "fp32"."""
    return "bf16" if precision == "bf16" or (precision == "auto" and torch.device(device).type == "cuda") else "fp32"


def _check_same_precision(out: Path, stored: dict, precision: str, device: torch.device) -> None:
    """A run continues in the precision it started in: `auto` means bf16 on a GPU and fp32 on a CPU,
    and a run that silently switched would be neither recipe."""
    config = stored.get("config") or {}
    before = stored.get("precision_used") or precision_used(
        config.get("precision", "auto"), stored.get("device", "cpu")
    )
    if before != precision:
        raise BadInput(
            f"--resume: {out} trained in {before} so far and would continue in {precision} on {device}; "
            f"continue it on a device where --precision {config.get('precision', 'auto')} means {before}"
        )


def _rng_state(device: torch.device, generator: torch.Generator | None = None) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    if generator is not None:  # the static step's own (training/step_mode.py)
        state["step"] = generator.get_state()
    return state


def _set_rng_state(state: dict, device: torch.device, generator: torch.Generator | None = None) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
    if generator is not None:
        if "step" not in state:
            raise ValueError("no state of the static step's generator (was the run trained with --step-mode eager?)")
        generator.set_state(state["step"])


def build_optimizer(cfg: TrainConfig, model: torch.nn.Module):
    kwargs: dict[str, Any] = dict(lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    if table.uses_sam(cfg.method):
        assert cfg.rho is not None, "validate() sets the method's default rho"
        return SAM(model.parameters(), torch.optim.SGD, rho=cfg.rho, adaptive=cfg.method == "asam", **kwargs)
    return torch.optim.SGD(model.parameters(), **kwargs)


def _check_out_dir(out: Path, resume: bool) -> None:
    if resume:
        if not (out / "metadata.json").is_file():
            raise BadInput(f"--resume: {out} holds no run to resume (no metadata.json)")
        return
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out {out} is a file, not a folder; give the run a directory of its own (new or empty)")
    if out.exists() and any(out.iterdir()):
        raise BadInput(
            f"--out {out} already holds files (another run?); pass --resume to continue it or choose an empty directory"
        )


def stored_run(out: Path) -> dict:
    """The metadata of the run in `out` that --resume continues, refused in one line unless it fits the run-metadata
    schema and its log bears it out (run_check: an edited `config.lr` is not trained on)."""
    _check_out_dir(out, resume=True)
    path = out / "metadata.json"
    fix = "--resume cannot continue it: restore the file, or train the run again in a new folder"
    stored = schema.check("run-metadata", files.read_json(path), str(path), fix=fix)
    run_check.check(stored, run_check.read_log(out), f"--resume: {path}")
    return stored


def resolve_resume_config(out: Path, overrides: dict) -> TrainConfig:
    """The stored recipe of a run, with runtime settings changed; a changed recipe is refused."""
    stored = stored_run(out)["config"]
    for key, value in overrides.items():
        if key in RUNTIME_KEYS:
            stored[key] = value
        elif key in stored and stored[key] != value:
            raise BadInput(
                f"--resume: --{key.replace('_', '-')} {value} differs from the run's "
                f"{stored[key]}; start a new run to change the recipe"
            )
    return TrainConfig.from_dict(stored)


@math_mode.restores_switches  # it turns cuDNN's autotuner on for a GPU: what runs after it starts as before
def train(
    cfg: TrainConfig,
    out: str | Path,
    resume: bool = False,
    stop_after_epochs: int | None = None,
    progress: bool = True,
    stop_at: float | None = None,
) -> dict:
    """Train (or continue) the run in `out`; returns its metadata. With `stop_after_epochs`, or a time limit
    (`stop_at`, a `time.time()` value), the call ends early after a finished epoch, leaving a resumable
    checkpoint: an epoch starts only when it is expected to finish, checkpoint included, before the limit."""
    out = Path(out)
    cfg.validate()
    if cfg.step_mode == "grouped":
        raise BadInput(
            "--step-mode grouped trains several seeds together: sam-bench train --step-mode grouped --seeds 0,1,... "
            "(training.grouped_runs.train_grouped)"
        )
    ctx = distributed.current()  # None: this process trains alone
    main = ctx is None or ctx.is_main
    finished = checked_out(cfg, out, resume, ctx)
    if finished is not None:
        return finished  # nothing left to do
    run = Run.build(cfg, out, resume, ctx, progress and main)
    if main:
        out.mkdir(parents=True, exist_ok=True)
        files.write_json(out / "metadata.json", run.metadata)
    for epoch in range(run.start_epoch, cfg.epochs):
        if run.epoch(epoch, stop_at, stop_after_epochs):
            return run.stopped(epoch)
    return run.finish()


def checked_out(cfg: TrainConfig, out: Path, resume: bool, ctx) -> dict | None:
    """The run folder checked before any data is loaded; a finished run's metadata (nothing to do), else None."""
    _check_out_dir(out, resume)
    files.check_writable(out / "metadata.json")  # before the data load and the first epoch
    if resume and (ctx is None or ctx.is_main):
        _checkpoint_missing(out)
    if ctx is not None:
        distributed.check_batch(cfg.batch_size, ctx)
        ctx.barrier()  # every process has checked `out` before rank 0 writes there
    if not resume:
        return None
    stored = stored_run(out)
    if stored["status"] != "complete":
        return None
    if (out / "model.safetensors").is_file():
        return stored
    raise SamBenchError(
        f"--resume: {out} finished training but its model.safetensors is gone; nothing "
        "was retrained (remove the folder to train it again)"
    )


def _checkpoint_missing(out: Path) -> None:
    """Said where a resumed run stands at epochs its checkpoint would resume but the checkpoint is not there:
    those epochs are trained again from the start."""
    meta = files.read_json(out / "metadata.json")
    epochs = int(meta.get("epochs_done") or 0)
    if meta.get("status") != "complete" and epochs and not (out / CHECKPOINT).is_file():
        warnings.warn(
            f"{out}: {epochs} epochs were trained, but their {CHECKPOINT} is not here: the run trains from its start",
            stacklevel=2,
        )


@dataclass
class Run:
    """One call of a training: what it trains and with what, where it stopped last, and its clock."""

    cfg: TrainConfig
    out: Path
    ctx: Any
    progress: bool
    device: torch.device
    autocast: Any
    model: torch.nn.Module
    forward_model: Any  # the model, compiled (a callable) or wrapped for several processes
    eval_model: Any
    optimizer: Any
    shard: Any
    train_loader: DeviceLoader
    test_loader: DeviceLoader
    guard_loader: DeviceLoader | None
    guard_images: int
    guard_attack: dict
    metadata: dict
    start_epoch: int = 0
    history: list = field(default_factory=list)
    elapsed: float = 0.0
    epochs_this_call: int = 0
    # Checkpoints come every cfg.checkpoint_every_s seconds of this call; a stop must leave time for one.
    # What is scheduled against the limit is timed on sam_bench.runtime.clock (the tests set it).
    last_checkpoint: float = 0.0
    last_save_s: float = 0.0
    saved_epoch: int = 0
    generator: torch.Generator | None = None  # the static step's (None: eager, the global RNG)
    step: Any = None  # the static or graphed step, step(x, y, lr); None: the eager one (training/step_mode.py)

    @property
    def main(self) -> bool:
        return self.ctx is None or self.ctx.is_main

    @classmethod
    def build(cls, cfg: TrainConfig, out: Path, resume: bool, ctx, progress: bool) -> Run:
        """The data, model, optimizer and loaders, in the order that fixes their random draws; the metadata;
        the checkpoint restored when resuming."""
        device = ctx.device if ctx is not None else resolve_device(cfg.device)
        if device.type == "cuda":
            # Fixed input shapes: cuDNN's autotuner picks each convolution's fastest algorithm once.
            # (Evaluation turns it off for its own duration, math_mode.evaluation, and train puts back what it
            # found when it returns: its batch sizes vary and its choice of algorithms must not.)
            torch.backends.cudnn.benchmark = True
        step_mode.check(cfg.step_mode, cfg.method, device, ctx is not None)
        autocast = autocast_for(cfg.precision, device)
        precision = precision_used(cfg.precision, device)
        if resume:
            _check_same_precision(out, stored_run(out), precision, device)
        data = load_dataset(cfg.dataset, cfg.data_dir)
        x_train, y_train = _training_images(cfg, data)
        torch.manual_seed(cfg.seed)
        spec = make_spec(cfg.arch, data.num_classes, data.mean, data.std, cfg.width, cfg.arch_kwargs)
        model = create_model(spec)
        if ctx is not None:
            model = distributed.synchronise_batchnorm(model, device)
        layout = training_format(model, device)  # NHWC where it is fast and safe; batches follow the model
        model = place(model, device, layout)
        train_loader = DeviceLoader(
            x_train, y_train, cfg.batch_size, device, train=True, seed=cfg.seed, memory_format=layout
        )
        x_test, y_test = (data.x_test, data.y_test) if ctx is None else (ctx.share(data.x_test), ctx.share(data.y_test))
        test_loader = DeviceLoader(x_test, y_test, max(cfg.batch_size, 500), device, train=False, memory_format=layout)
        guard_images = guard.images_for(cfg.method, cfg.overfit_guard, len(data.y_test))
        if guard_images > len(data.y_test):
            raise BadInput(f"--overfit-guard {guard_images} exceeds the {len(data.y_test)} test images")
        guard_loader: DeviceLoader | None = None
        if guard_images:  # the last test images
            last = slice(-guard_images, None)
            guard_loader = DeviceLoader(data.x_test[last], data.y_test[last], 500, device, False, memory_format=layout)
        optimizer = build_optimizer(cfg, model)
        train_model, shard = (model, None) if ctx is None else distributed.wrap(model, ctx, cfg.sam_perturbation)
        forward_model = compiled_afresh(train_model) if cfg.compile else train_model
        metadata = {
            "config": asdict(cfg),
            "arch": spec,
            "dataset": data.describe(),
            "method": cfg.method,
            "passes_per_step": table.passes_per_step(cfg.method, cfg.attack_steps),
            **_single_step_record(cfg),
            "n_train_used": len(y_train),
            **environment(device),
            "status": "running",
            "processes": 1 if ctx is None else ctx.world,
            "memory_format": "channels_last" if layout == torch.channels_last else "contiguous",
            "precision_used": precision,
            "cudnn_benchmark": device.type == "cuda",
        }
        run = cls(
            cfg,
            out,
            ctx,
            progress,
            device,
            autocast,
            model,
            forward_model,
            model if ctx is not None else forward_model,
            optimizer,
            shard,
            train_loader,
            test_loader,
            guard_loader,
            guard_images,
            guard.budget(cfg.attack_norm, cfg.attack_eps),
            metadata,
            generator=step_mode.generator_for(cfg.step_mode, cfg.seed, device),
        )
        if resume and (out / CHECKPOINT).is_file():
            run.restore()
        # After the restore: the static step keeps the restored momentum buffers as its own
        run.step = step_mode.make_step(
            cfg.step_mode, cfg.method, forward_model, optimizer, cfg.attack(), autocast, run.generator
        )
        run.last_checkpoint, run.saved_epoch = clock.now(), run.start_epoch
        return run

    def restore(self) -> None:
        """Model, optimizer, random state, epoch and history from the run's checkpoint."""
        path = self.out / CHECKPOINT
        try:
            ckpt = files.torch_load(path)
        except SamBenchError as err:
            raise SamBenchError(
                f"{err}; delete it and run the same command again to train this run from its start"
            ) from None
        try:
            self.model.load_state_dict(ckpt["model"])
            self.optimizer.load_state_dict(ckpt["optimizer"])
            _set_rng_state(ckpt["rng"], self.device, self.generator)
            self.start_epoch, self.history = int(ckpt["epoch"]), list(ckpt["history"])
            self.elapsed = float(ckpt["elapsed"])
        except (KeyError, RuntimeError, ValueError, TypeError) as err:
            raise SamBenchError(f"{path}: does not match this run ({err})") from None
        stored = stored_run(self.out)
        if stored["dataset"].get("sha256") != self.metadata["dataset"]["sha256"]:
            raise SamBenchError(f"--resume: the data set differs from the one {self.out} was trained on")

    def epoch(self, epoch: int, deadline: float | None, stop_after_epochs: int | None) -> bool:
        """Train one epoch, measure it, checkpoint when due; True when the call stops after it."""
        epoch_start = clock.now()
        record = train_one_epoch(
            self.cfg,
            self.forward_model,
            self.optimizer,
            self.train_loader,
            epoch,
            self.autocast,
            self.progress,
            self.out,
            len(self.train_loader),
            self.shard,
            self.saved_epoch,
            self.step,
        )
        self.measure(epoch, record)
        stop = self.stops_after(epoch, epoch_start, record, deadline, stop_after_epochs, self.last_save_s)
        if self.ctx is not None:
            stop = self.ctx.agree(stop)  # rank 0's clock decides for all
        self.close_epoch(epoch, stop)
        return stop

    def measure(self, epoch: int, record: dict) -> None:
        """An epoch's training record completed: the clean test pass, the overfitting guard; into the history."""
        record["test_acc"] = evaluate_clean(self.eval_model, self.test_loader, self.autocast, self.ctx)
        if self.guard_loader is not None:  # every process measures the same images (no collective calls)
            record.update(guard.measure(self.model, self.guard_loader, self.guard_attack, self.autocast))
            self.metadata["overfit_guard"] = guard.summary(
                self.guard_images, self.guard_attack, self.history + [record]
            )
        self.elapsed += record["seconds"]
        self.history.append(record)
        if self.progress:
            self._say(epoch, record)

    def stops_after(
        self,
        epoch: int,
        epoch_start: float,
        record: dict,
        deadline: float | None,
        stop_after_epochs: int | None,
        save_s: float,
    ) -> bool:
        """Whether this call stops after the epoch: its epoch count reached, or the next epoch and `save_s` of
        checkpointing would not end before the limit (a group of runs passes all of theirs)."""
        next_epoch_s = expected_epoch_seconds(
            clock.now() - epoch_start, record, len(self.train_loader), first_of_call=self.epochs_this_call == 0
        )
        self.epochs_this_call += 1
        return epoch + 1 < self.cfg.epochs and (
            (stop_after_epochs is not None and self.epochs_this_call >= stop_after_epochs)
            or not clock.fits(deadline, next_epoch_s + save_s)
        )

    def close_epoch(self, epoch: int, stop: bool) -> None:
        """The checkpoint, when the call stops, when one is due, or after the last epoch."""
        due = clock.now() - self.last_checkpoint >= self.cfg.checkpoint_every_s  # (only rank 0 writes: its clock)
        if self.main and (stop or due or epoch + 1 == self.cfg.epochs):
            self.checkpoint(epoch + 1)

    def _say(self, epoch: int, record: dict) -> None:
        guarded = f" guard PGD acc {record['guard_pgd_acc']:.2%}" if self.guard_loader is not None else ""
        tqdm.write(
            f"epoch {epoch + 1}/{self.cfg.epochs}: loss {record['train_loss']:.4f} "
            f"train acc {record['train_acc']:.2%} test acc {record['test_acc']:.2%}{guarded} "
            f"({record['seconds']:.1f} s, {record['images_per_s']:.0f} img/s)"
        )
        if self.metadata.get("overfit_guard", {}).get("epoch") == epoch + 1:
            tqdm.write(f"catastrophic overfitting: {guard.RULE} (epoch {epoch + 1})")

    def checkpoint(self, epochs_done: int) -> None:
        """The checkpoint and the log, written together: the log lists exactly the epochs a resumed run keeps."""
        saving = clock.now()
        files.torch_save(
            self.out / CHECKPOINT,
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "rng": _rng_state(self.device, self.generator),
                "epoch": epochs_done,
                "history": self.history,
                "elapsed": self.elapsed,
            },
        )
        files.write_text(self.out / "log.jsonl", "".join(json.dumps(r) + "\n" for r in self.history))
        self.last_checkpoint, self.last_save_s, self.saved_epoch = clock.now(), clock.now() - saving, epochs_done

    def stopped(self, epoch: int) -> dict:
        """The metadata of a call that stops after `epoch` (its checkpoint written: resumable)."""
        self.metadata.update(epochs_done=epoch + 1, wall_time_s=self.elapsed)
        if self.main:
            files.write_json(self.out / "metadata.json", self.metadata)
        return self.metadata

    def finish(self) -> dict:
        """The final weights and the run's complete metadata."""
        if not self.history:
            raise SamBenchError(f"{self.out}: nothing trained (0 epochs)")
        weights = self.out / "model.safetensors"
        if self.main:
            # The header stays {"arch"}: a run retrained to check bit-identity must give the same file (its sha256
            # is what runs record). What it trained with is known without it: train always normalizes with its
            # data set family's statistics (trained_normalization).
            files.save_safetensors(weights, self.model.state_dict(), {"arch": self.cfg.arch})
        if self.ctx is not None:
            self.ctx.barrier()  # the weights are on disk for every process
        last = self.history[-1]
        self.metadata.update(
            status="complete",
            epochs_done=self.cfg.epochs,
            wall_time_s=self.elapsed,
            cpu_time_s=sum(r.get("cpu_seconds", 0.0) for r in self.history),  # epochs logged before it existed: 0
            images_per_s=sum(r["images"] for r in self.history) / max(self.elapsed, 1e-9),
            final={"train_loss": last["train_loss"], "train_acc": last["train_acc"], "test_acc": last["test_acc"]},
            weights="model.safetensors",
            weights_sha256=files.sha256_file(weights),
        )
        if self.main:
            files.write_json(self.out / "metadata.json", self.metadata)
        return self.metadata


def _training_images(cfg: TrainConfig, data) -> tuple:
    """The training images: all of them, or `n_train` drawn with the run's seed (its own generator)."""
    x_train, y_train = data.x_train, data.y_train
    if cfg.n_train is not None:
        if cfg.n_train > len(y_train):
            raise BadInput(f"--n-train {cfg.n_train} exceeds the {len(y_train)} training images")
        keep = torch.randperm(len(y_train), generator=torch.Generator().manual_seed(cfg.seed))[: cfg.n_train].numpy()
        x_train, y_train = x_train[keep], y_train[keep]
    if cfg.batch_size > len(y_train):  # 10^8 would train one step per epoch on every image, said nowhere
        raise BadInput(
            f"--batch-size {cfg.batch_size:,} exceeds the {len(y_train):,} images the run trains on; "
            f"choose at most {len(y_train):,}"
        )
    return x_train, y_train


def _single_step_record(cfg: TrainConfig) -> dict:
    """A single-step method's attack beyond its config fields: the noise it starts from and whether
    its step is projected back into the eps ball."""
    rule = table.method(cfg.method).single_step
    if rule is None:
        return {}
    return {
        "single_step_attack": {
            "noise": format_eps(rule.noise * parse_eps(cfg.attack_eps)),  # half-width of the uniform start
            "step_size": cfg.attack_step_size,
            "projected": rule.projected,
        }
    }
