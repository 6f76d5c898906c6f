"""`sam-bench train`: one model into a run directory (sam_bench.training.loop.train); its options for the run's
settings are built from TrainConfig's fields (name, default, help) and the run-metadata schema (type, choices)."""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import Field, fields
from pathlib import Path

import click

from sam_bench.cli.options import (
    arch_kwargs_option,
    data_dir_option,
    device_option,
    eps_option,
    given_on_command_line,
    max_minutes_option,
    out_option,
    quiet_option,
    stacked,
)
from sam_bench.eps import parse_eps
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.files import cannot_write
from sam_bench.jobs import lease
from sam_bench.runtime import clock
from sam_bench.threat_models import doubtful_budget
from sam_bench.training import config as settings  # torch-free: --help imports no torch
from sam_bench.training import method_table

# What the dataclass (defaults, help) and the schema (types, choices) do not say
_SHARED = {"device": device_option, "data_dir": lambda default: data_dir_option}  # declared in cli/options.py
# Settings given as text that the CLI turns into values
_PARSE = {"arch_kwargs": arch_kwargs_option, "attack_eps": eps_option, "attack_step_size": eps_option}
_CLICK_TYPES = {"integer": int, "number": float, "string": str}


def setting_option(f: Field):
    """The click option of one TrainConfig field (the schema's `$defs/config`); the methods from the method table."""
    if f.name in _SHARED:
        return _SHARED[f.name](f.default)
    spec = settings.schema_of(f.name)
    kwargs = dict(default=f.default, help=f.metadata["help"] or None, metavar=f.metadata["metavar"])
    if f.name == "method":
        kwargs.update(type=click.Choice(method_table.names()), help=method_table.help_text())
    elif f.name in _PARSE:
        kwargs.update(callback=_PARSE[f.name])
    elif "enum" in spec:
        kwargs.update(type=click.Choice(spec["enum"], case_sensitive=False))  # linf as Linf
    elif spec.get("type") == "boolean":
        kwargs.update(is_flag=True)
    else:
        kinds = [k for k in ([spec["type"]] if isinstance(spec["type"], str) else spec["type"]) if k != "null"]
        kwargs.update(type=_CLICK_TYPES[kinds[0]])
    return click.option(settings.option_name(f.name), f.name, **kwargs)


@click.command("train", short_help="Train an ST, SAM, AT, TRADES or AWP model (any method) into a run directory.")
@stacked(*[setting_option(f) for f in fields(settings.TrainConfig)])  # every setting, in the dataclass's order
@out_option("Run directory to create (or to continue with --resume).", required=True)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last finished epoch.")
@max_minutes_option("no epoch starts that would end later; what is done is saved (resumable).")
@click.option("--stop-after-epochs", type=int, help="Stop cleanly after N epochs in this call.")
@click.option(
    "--seeds",
    callback=lambda ctx, param, value: parse_seeds(value),
    metavar="LIST",
    help="Train these seeds' runs in one process (e.g. 0,1,2,3 or 0-3), each into OUT/seed-<seed> (in place of "
    "--seed): with --step-mode grouped as one stacked network, else side by side, each on a CUDA stream of its "
    "own on a GPU, each run exactly as it trains alone.",
)
@quiet_option
@click.pass_context
def train(ctx, out, resume, max_minutes, stop_after_epochs, seeds, quiet, **options):
    """Train an ST, SAM, AT, TRADES or AWP model (any method) into a run directory.

    On several GPUs (or CPU processes): torchrun --nproc_per_node N -m sam_bench train ...
    (--batch-size is then the global batch)."""
    from sam_bench.runtime import distributed
    from sam_bench.training.loop import CHECKPOINT, resolve_resume_config, stored_run
    from sam_bench.training.loop import train as run_training

    if stop_after_epochs is not None and stop_after_epochs < 1:
        raise BadInput(f"--stop-after-epochs must be >= 1, got {stop_after_epochs}")
    if not resume:
        _refuse_inert_settings(ctx, options)
        _warn_doubtful_budget(options)
    if seeds is not None and given_on_command_line(ctx, "seed"):
        raise BadInput("--seeds trains a group in place of --seed; give one of them")
    if resume:  # the options given: the rest comes from the run's recorded settings
        explicit = {k: v for k, v in options.items() if given_on_command_line(ctx, k)}
        cfg = None if seeds is not None else resolve_resume_config(Path(out), explicit)
        if cfg is None or cfg.step_mode == "grouped":  # --seeds, or a group of one, resumed
            return _train_seeds(out, seeds, explicit, True, max_minutes, stop_after_epochs, quiet)
    else:
        if seeds is not None or options["step_mode"] == "grouped":
            return _train_seeds(out, seeds, options, False, max_minutes, stop_after_epochs, quiet)
        cfg = settings.TrainConfig(**options)  # the options are exactly its fields
    finished_before = resume and stored_run(Path(out))["status"] == "complete"
    group = distributed.start(cfg.device)
    try:
        with claimed(out, group):
            meta = run_training(
                cfg,
                out,
                resume=resume,
                stop_after_epochs=stop_after_epochs,
                stop_at=clock.stop_at(max_minutes),
                progress=not quiet,
            )  # minutes from the command's start
    except KeyboardInterrupt:
        kept = Path(out) / CHECKPOINT
        raise SamBenchError(
            f"interrupted; the last checkpoint is kept in {kept}: continue with sam-bench train --out {out} --resume"
            if kept.is_file()
            else f"interrupted before the first checkpoint, so nothing is kept to continue from; start it again "
            f"with --resume added (the folder exists now): sam-bench train --out {out} --resume"
        ) from None
    finally:
        # Whatever happened: a process leaving with its group alive aborts in Gloo's threads at exit
        # ("terminate called without an active exception"), hiding the error it left with.
        distributed.stop()
    if group is not None and not group.is_main:
        return
    if finished_before:
        click.echo(f"already finished: {out} (test acc {meta['final']['test_acc']:.2%}); nothing to train")
    elif meta.get("status") == "complete":
        click.echo(
            f"done: {out} (test acc {meta['final']['test_acc']:.2%}, {meta['wall_time_s']:.0f} s, "
            f"{meta['images_per_s']:.0f} img/s)"
        )
    else:
        click.echo(
            f"stopped after epoch {meta['epochs_done']}/{cfg.epochs}; continue with "
            f"sam-bench train --out {out} --resume"
        )


@contextmanager
def claimed(out, group=None, members=()):
    """The run folder `out` (and a group's `members`) for this command alone: a claim `<out>.claim` beside its real
    path (jobs.lease) while it trains; a live holder refuses it at once, naming that process (two trainings into one
    folder would both say "done" over one run). Under torchrun rank 0 claims for all, and all refuse together."""
    main = group is None or group.is_main
    with ExitStack() as held:
        for folder in (out, *members):
            where = Path(f"{Path(folder).resolve()}{lease.CLAIM_SUFFIX}")
            try:
                claim = lease.try_claim(where) if main else None
            except OSError as err:  # no claim can be made beside --out: nothing could be written there either
                raise cannot_write(where, err) from None
            if claim is not None:
                held.callback(claim.release)
            refused = main and claim is None
            if group is not None:
                refused = group.agree(refused)
            if refused:
                holder, _ = lease.state(where)
                who = holder.describe() if holder is not None else "another process"
                raise SamBenchError(
                    f"--out {folder} is being trained by {who} (its claim: {where}); wait for it, or give another --out"
                )
        yield


def _warn_doubtful_budget(options: dict) -> None:
    """A legal but doubtful training budget (threat_models.doubtful_budget) is said before the training starts."""
    if method_table.uses_attack(options["method"]):
        doubt = doubtful_budget(parse_eps(options["attack_eps"]), options["attack_norm"])
        if doubt is not None:
            click.echo(f"warning: --attack-eps: {doubt}", err=True)


def _refuse_inert_settings(ctx, options: dict) -> None:
    """Settings given on the command line that this run could not use: they would be recorded (and change its
    settings key) without changing what it trains."""
    from sam_bench import data
    from sam_bench.runtime import distributed

    method = options["method"]
    if not method_table.uses_attack(method):
        for name in ("attack_norm", "attack_eps", "attack_steps", "attack_step_size"):
            if given_on_command_line(ctx, name):
                attacking = ", ".join(m for m in method_table.names() if method_table.uses_attack(m))
                raise BadInput(
                    f"--{name.replace('_', '-')} applies to the methods that train on attacks ({attacking}), "
                    f"not to {method}; leave it out"
                )
    if options["data_dir"] is not None and options["dataset"] not in data.FROM_FILES:
        raise BadInput(
            f"--data-dir is where {' or '.join(data.FROM_FILES)} is read from; --dataset {options['dataset']} reads "
            "no files: name the data set that is there (e.g. --dataset cifar10), or leave --data-dir out"
        )
    if given_on_command_line(ctx, "sam_perturbation"):
        if not method_table.uses_sam(method):
            with_sam = ", ".join(m for m in method_table.names() if method_table.uses_sam(m))
            raise BadInput(f"--sam-perturbation applies to the SAM methods ({with_sam}), not to {method}; leave it out")
        alone = not (distributed.launched_by_torchrun() or distributed.launched_by_srun())
        if options["sam_perturbation"] == "per-worker" and alone:
            raise BadInput(
                "--sam-perturbation per-worker splits SAM's ascent step between torchrun's processes; one process "
                "alone takes the global one: run it under torchrun --nproc_per_node N, or leave the option out"
            )
    warmup = options["awp_warmup"]
    if given_on_command_line(ctx, "awp_warmup") and method_table.uses_awp(method) and warmup >= options["epochs"]:
        raise BadInput(
            f"--awp-warmup {warmup} is not below --epochs {options['epochs']}: the weight perturbation would never "
            "start; give fewer warm-up epochs"
        )


def parse_seeds(value: str | None) -> list[int] | None:
    """--seeds: `0,1,2`, `0-3` or both (`0-3,7`), each seed once."""
    if value is None:
        return None
    seeds: list[int] = []
    try:
        for part in value.split(","):
            low, _, high = part.strip().partition("-")
            seeds += range(int(low), int(high or low) + 1)
    except ValueError:
        raise BadInput(f"--seeds takes seeds such as 0,1,2 or 0-3, not {value!r}") from None
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise BadInput(f"--seeds takes each seed (>= 0) once, at least one: {value!r}")
    return seeds


def _train_seeds(out, seeds, options, resume, max_minutes, stop_after_epochs, quiet):
    """--seeds (or a group of one): the seeds' runs in one process, each in its folder: as one stacked network
    (--step-mode grouped: training.grouped_runs) or side by side (training.side_by_side)."""
    from sam_bench.training.grouped_runs import train_grouped
    from sam_bench.training.loop import resolve_resume_config
    from sam_bench.training.side_by_side import train_side_by_side

    outs = [Path(out)] if seeds is None else [Path(out) / f"seed-{s}" for s in seeds]
    if resume:
        cfgs = [resolve_resume_config(o, options) for o in outs]
    else:
        cfgs = [settings.TrainConfig(**{**options, "seed": s}) for s in (seeds or [options["seed"]])]
    modes = sorted({c.step_mode == "grouped" for c in cfgs})
    if len(modes) > 1:
        raise BadInput(f"--resume: some of the runs in {out} trained as a group (--step-mode grouped) and some did not")
    limits = dict(resume=resume, stop_after_epochs=stop_after_epochs, stop_at=clock.stop_at(max_minutes))
    try:
        with claimed(out, members=outs if seeds is not None else ()):  # the seeds' folder and its runs
            if modes[0]:
                metas = train_grouped(cfgs, outs, progress=not quiet, **limits)
                errors = [None] * len(metas)
                of_group = " of the group"
            else:
                outcomes = train_side_by_side(cfgs, outs, progress=not quiet, **limits)  # the first's bar
                metas, errors, of_group = [o.value for o in outcomes], [o.error for o in outcomes], ""
    except KeyboardInterrupt:
        raise SamBenchError(
            "interrupted; each run keeps its last checkpoint, if it wrote one: "
            "continue with the same command and --resume"
        ) from None
    for folder, meta, error in zip(outs, metas, errors, strict=True):
        if error is not None:
            click.echo(f"failed: {folder}: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
        elif meta.get("status") == "complete":
            click.echo(
                f"done: {folder} (test acc {meta['final']['test_acc']:.2%}, {meta['wall_time_s']:.0f} s{of_group})"
            )
        else:
            click.echo(f"stopped after epoch {meta['epochs_done']}/{meta['config']['epochs']}: {folder}")
    failed = [e for e in errors if e is not None]
    if failed:
        if not isinstance(failed[0], SamBenchError):
            raise failed[0]  # not a run's own failure but a fault here: its traceback
        kind = BadInput if isinstance(failed[0], BadInput) else SamBenchError
        if len(failed) == len(outs):
            raise kind("every run failed (said above)")
        raise kind(f"{len(failed)} of {len(outs)} runs failed (said above); the others went on without them")
    if any(meta.get("status") != "complete" for meta in metas):
        click.echo("continue with the same command and --resume")
