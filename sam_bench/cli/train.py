"""`sam-bench train`: one model into a run directory (sam_bench.training.loop.train)."""

from __future__ import annotations

from dataclasses import fields

import click
from click.core import ParameterSource

from sam_bench import clock
from sam_bench.cli.options import arch_kwargs_option, eps_option
from sam_bench.errors import SamBenchError
from sam_bench.training import method_table  # the records only: no torch for --help


@click.command("train", short_help="Train a standard, SAM, ASAM, AT or SAM-AT model into a run directory.")
@click.option(
    "--method",
    type=click.Choice(method_table.names()),
    default="standard",
    show_default=True,
    help=method_table.help_text(),
)
@click.option("--rho", type=float, default=None, help="SAM/ASAM radius (default 0.05 for sam, 0.5 for asam).")
@click.option(
    "--arch",
    default="preactresnet18",
    show_default=True,
    help="preactresnet18, wideresnet-28-10, wideresnet-16-4 or timm:<name>.",
)
@click.option(
    "--width",
    type=float,
    default=1.0,
    show_default=True,
    help="Channel multiplier for the built-in architectures (0.25: a quarter of the channels).",
)
@click.option(
    "--arch-kwargs",
    default=None,
    callback=arch_kwargs_option,
    metavar="K=V,...",
    help="timm constructor arguments, e.g. depth=6,embed_dim=96,num_heads=3 "
    "(kept in the run's metadata and zoo entry).",
)
@click.option(
    "--dataset",
    type=click.Choice(["cifar10", "cifar100", "cifar10-sample", "synthetic", "synthetic100"]),
    default="cifar10-sample",
    show_default=True,
    help="cifar10-sample is the bundled real sample.",
)
@click.option("--data-dir", default=None, help="Folder with <dataset>.npz or torchvision's folders, or an .npz file.")
@click.option("--n-train", type=int, default=None, help="Train on a fixed random subset of N images.")
@click.option("--epochs", type=int, default=100, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--lr", type=float, default=0.1, show_default=True)
@click.option("--momentum", type=float, default=0.9, show_default=True)
@click.option("--weight-decay", type=float, default=5e-4, show_default=True)
@click.option(
    "--schedule",
    type=click.Choice(["piecewise", "cosine"]),
    default="piecewise",
    show_default=True,
    help="piecewise: the paper's lr x0.1 at 75% and x0.01 at 90% of the epochs.",
)
@click.option("--attack-norm", type=click.Choice(["Linf", "L2"]), default="Linf", show_default=True)
@click.option("--attack-eps", default="8/255", show_default=True, callback=lambda c, p, v: eps_option(v))
@click.option("--attack-steps", type=int, default=10, show_default=True)
@click.option(
    "--attack-step-size",
    default=None,
    callback=lambda c, p, v: eps_option(v),
    help="Default 2.5 * eps / steps (PGD); 1.25 * eps (fgsm-rs), eps (n-fgsm, fgsm).",
)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default="auto",
    show_default=True,
    help="auto: bf16 autocast on GPU, fp32 on CPU.",
)
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model (GPU).")
@click.option(
    "--checkpoint-every",
    "checkpoint_every_s",
    type=float,
    default=60.0,
    show_default=True,
    metavar="SECONDS",
    help="Seconds between checkpoints (0: every epoch); one is always written when "
    "the call stops and after the last epoch.",
)
@click.option(
    "--sam-perturbation",
    type=click.Choice(["global", "per-worker"]),
    default="global",
    show_default=True,
    help="Under torchrun: SAM's ascent step from the all-reduced gradient (as one process) or from "
    "each process's own (m-sharpness, m = batch size / processes).",
)
@click.option(
    "--overfit-guard",
    type=int,
    default=None,
    metavar="N",
    help="PGD accuracy on the last N test images after every epoch, a collapsed run flagged "
    "(default: 512 for fgsm-rs, n-fgsm and fgsm, off for the others; 0: off).",
)
@click.option("--out", required=True, help="Run directory to create (or to continue with --resume).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last finished epoch.")
@click.option(
    "--max-minutes",
    type=float,
    default=None,
    help="Finish and save (resumable) before this many minutes after the command started: "
    "no epoch starts that would end later.",
)
@click.option("--stop-after-epochs", type=int, default=None, help="Stop cleanly after N epochs in this call.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def train(ctx, out, resume, max_minutes, stop_after_epochs, quiet, compile_, **options):
    """Train a standard, SAM, ASAM, AT or SAM-AT model into a run directory.

    On several GPUs (or CPU processes): torchrun --nproc_per_node N -m sam_bench train ...
    (--batch-size is then the global batch)."""
    from pathlib import Path

    from sam_bench import distributed, files
    from sam_bench.errors import BadInput
    from sam_bench.training.loop import TrainConfig, resolve_resume_config
    from sam_bench.training.loop import train as run_training

    if max_minutes is not None and not 0 < max_minutes < float("inf"):
        raise BadInput(f"--max-minutes must be a number of minutes > 0, got {max_minutes}")
    if stop_after_epochs is not None and stop_after_epochs < 1:
        raise BadInput(f"--stop-after-epochs must be >= 1, got {stop_after_epochs}")
    if not resume and not method_table.uses_attack(options["method"]):  # given, it would be recorded but never used
        for name in ("attack_norm", "attack_eps", "attack_steps", "attack_step_size"):
            if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
                raise BadInput(
                    f"--{name.replace('_', '-')} applies to at and sam-at (the methods that train on attacks), "
                    f"not to {options['method']}; leave it out"
                )
    options["compile"] = compile_
    config_keys = {f.name for f in fields(TrainConfig)}
    if resume:
        explicit = {
            k: v
            for k, v in options.items()
            if k in config_keys
            and ctx.get_parameter_source("compile_" if k == "compile" else k) == ParameterSource.COMMANDLINE
        }
        cfg = resolve_resume_config(Path(out), explicit)
    else:
        cfg = TrainConfig(**{k: v for k, v in options.items() if k in config_keys})
    finished_before = resume and files.read_json(Path(out) / "metadata.json").get("status") == "complete"
    group = distributed.start(cfg.device)
    try:
        meta = run_training(
            cfg,
            out,
            resume=resume,
            stop_after_epochs=stop_after_epochs,
            stop_at=clock.stop_at(max_minutes),
            progress=not quiet,
        )  # minutes from the command's start
    except KeyboardInterrupt:
        kept = Path(out) / "checkpoint.pt"
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
        final = meta["final"]
        click.echo(
            f"done: {out} (test acc {final['test_acc']:.2%}, {meta['wall_time_s']:.0f} s, "
            f"{meta['images_per_s']:.0f} img/s)"
        )
    else:
        click.echo(
            f"stopped after epoch {meta['epochs_done']}/{cfg.epochs}; continue with "
            f"sam-bench train --out {out} --resume"
        )
