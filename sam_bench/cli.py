"""`sam-bench`: a thin click skin over the library; every command is a plain Python call too."""
from __future__ import annotations

import sys
from dataclasses import fields

import click
from click.core import ParameterSource

from . import __version__, clock
from .cli_options import arch_kwargs_option, eps_option
from .errors import BadInput, SamBenchError


class CliError(click.ClickException):
    """A SamBenchError as click shows it: 'Error: <one line>' and its exit code."""

    def __init__(self, err: SamBenchError):
        super().__init__(str(err))
        self.exit_code = err.exit_code


class Group(click.Group):
    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except SamBenchError as err:
            raise CliError(err) from None


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="sam-bench")
def cli():
    """Train, attack and rank standard, SAM and adversarially trained models (RobustBench-compatible)."""


@cli.command(short_help="Train a standard, SAM, ASAM, AT or SAM-AT model into a run directory.")
@click.option("--method", type=click.Choice(["standard", "sam", "asam", "at", "sam-at"]), default="standard",
              show_default=True, help="standard: SGD; sam/asam: (adaptive) SAM; at: PGD adversarial training; "
                                      "sam-at: SAM on PGD examples.")
@click.option("--rho", type=float, default=None, help="SAM/ASAM radius (default 0.05 for sam, 0.5 for asam).")
@click.option("--arch", default="preactresnet18", show_default=True,
              help="preactresnet18, wideresnet-28-10, wideresnet-16-4 or timm:<name>.")
@click.option("--width", type=float, default=1.0, show_default=True,
              help="Channel multiplier for the built-in architectures (0.25: a quarter of the channels).")
@click.option("--arch-kwargs", default=None, callback=arch_kwargs_option,
              metavar="K=V,...", help="timm constructor arguments, e.g. depth=6,embed_dim=96,num_heads=3 "
                                      "(kept in the run's metadata and zoo entry).")
@click.option("--dataset", type=click.Choice(["cifar10", "cifar100", "cifar10-sample", "synthetic", "synthetic100"]),
              default="cifar10-sample", show_default=True, help="cifar10-sample is the bundled real sample.")
@click.option("--data-dir", default=None, help="Folder with <dataset>.npz or torchvision's folders, or an .npz file.")
@click.option("--n-train", type=int, default=None, help="Train on a fixed random subset of N images.")
@click.option("--epochs", type=int, default=100, show_default=True)
@click.option("--batch-size", type=int, default=128, show_default=True)
@click.option("--lr", type=float, default=0.1, show_default=True)
@click.option("--momentum", type=float, default=0.9, show_default=True)
@click.option("--weight-decay", type=float, default=5e-4, show_default=True)
@click.option("--schedule", type=click.Choice(["piecewise", "cosine"]), default="piecewise", show_default=True,
              help="piecewise: the paper's lr x0.1 at 75% and x0.01 at 90% of the epochs.")
@click.option("--attack-norm", type=click.Choice(["Linf", "L2"]), default="Linf", show_default=True)
@click.option("--attack-eps", default="8/255", show_default=True, callback=lambda c, p, v: eps_option(v))
@click.option("--attack-steps", type=int, default=10, show_default=True)
@click.option("--attack-step-size", default=None, callback=lambda c, p, v: eps_option(v),
              help="Default 2.5 * eps / steps.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--precision", type=click.Choice(["auto", "fp32", "bf16"]), default="auto", show_default=True,
              help="auto: bf16 autocast on GPU, fp32 on CPU.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model (GPU).")
@click.option("--checkpoint-every", "checkpoint_every_s", type=float, default=60.0, show_default=True,
              metavar="SECONDS", help="Seconds between checkpoints (0: every epoch); one is always written when "
                                      "the call stops and after the last epoch.")
@click.option("--sam-perturbation", type=click.Choice(["global", "per-worker"]), default="global", show_default=True,
              help="Under torchrun: SAM's ascent step from the all-reduced gradient (as one process) or from "
                   "each process's own (m-sharpness, m = batch size / processes).")
@click.option("--out", required=True, help="Run directory to create (or to continue with --resume).")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last finished epoch.")
@click.option("--max-minutes", type=float, default=None,
              help="Finish and save (resumable) before this many minutes after the command started: "
                   "no epoch starts that would end later.")
@click.option("--stop-after-epochs", type=int, default=None, help="Stop cleanly after N epochs in this call.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.pass_context
def train(ctx, out, resume, max_minutes, stop_after_epochs, quiet, compile_, **options):
    """Train a standard, SAM, ASAM, AT or SAM-AT model into a run directory.

    On several GPUs (or CPU processes): torchrun --nproc_per_node N -m sam_bench train ...
    (--batch-size is then the global batch)."""
    from pathlib import Path

    from . import distributed, files
    from .train import TrainConfig, resolve_resume_config, train as run_training

    options["compile"] = compile_
    config_keys = {f.name for f in fields(TrainConfig)}
    if resume:
        explicit = {k: v for k, v in options.items() if k in config_keys and
                    ctx.get_parameter_source("compile_" if k == "compile" else k) == ParameterSource.COMMANDLINE}
        cfg = resolve_resume_config(Path(out), explicit)
    else:
        cfg = TrainConfig(**{k: v for k, v in options.items() if k in config_keys})
    finished_before = resume and files.read_json(Path(out) / "metadata.json").get("status") == "complete"
    group = distributed.start(cfg.device)
    try:
        meta = run_training(cfg, out, resume=resume, stop_after_epochs=stop_after_epochs,
                            stop_at=clock.stop_at(max_minutes), progress=not quiet)  # minutes from the command's start
    except KeyboardInterrupt:
        kept = Path(out) / "checkpoint.pt"
        raise SamBenchError(
            f"interrupted; the last checkpoint is kept in {kept}: continue with sam-bench train --out {out} --resume"
            if kept.is_file() else f"interrupted before the first checkpoint; sam-bench train --out {out} --resume "
                                   "starts it again") from None
    distributed.stop()
    if group is not None and not group.is_main:
        return
    if finished_before:
        click.echo(f"already finished: {out} (test acc {meta['final']['test_acc']:.2%}); nothing to train")
    elif meta.get("status") == "complete":
        final = meta["final"]
        click.echo(f"done: {out} (test acc {final['test_acc']:.2%}, {meta['wall_time_s']:.0f} s, "
                   f"{meta['images_per_s']:.0f} img/s)")
    else:
        click.echo(f"stopped after epoch {meta['epochs_done']}/{cfg.epochs}; continue with "
                   f"sam-bench train --out {out} --resume")


from .cli_executors import executor_options, reproduce_settings, show_status  # noqa: E402


@cli.command(short_help="Run a recipe's grid: train, zoo, evaluate, leaderboard, report.")
@click.argument("recipe")
@click.option("--scale", required=True, help="A scale of the recipe: smoke, cpu or full for the paper's recipes.")
@click.option("--data-dir", default=None, help="Where the data set is (see sam-bench train --help).")
@click.option("--out", default=None, help="Reproduction folder (default reproductions/<recipe>-<scale>).")
@click.option("--device", default="auto", show_default=True)
@click.option("--zoo-dir", default=None, help="Model zoo to register into (default: the project's model_zoo/).")
@click.option("--leaderboard-dir", default=None, help="Leaderboards to write (default: the project's leaderboards/).")
@click.option("--max-minutes", type=float, default=None,
              help="Finish and save (resumable) before this many minutes after the command started.")
@click.option("--only", default=None, metavar="NAMES",
              help="Work on these models of the grid only (comma-separated: NAME for all its seeds, NAME:SEED for "
                   "one); the report covers every run with results. Runs with disjoint --only can share one grid.")
@click.option("--compile", "compile_", is_flag=True,
              help="torch.compile every model's training (GPU; also the recipe's train key `compile: true`).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@executor_options
def reproduce(recipe, scale, data_dir, out, device, zoo_dir, leaderboard_dir, max_minutes, only, compile_, quiet,
              **executor_args):
    """Train, evaluate, register and report a recipe's grid (e.g. paper-cifar10 --scale smoke).

    RECIPE is a recipe shipped with sam-bench (paper-cifar10, paper-cifar100) or a YAML file.
    Interrupted work resumes and finished work is skipped when the same command runs again."""
    from .reproduce import reproduce as run

    if show_status(recipe, scale, out, data_dir, device, zoo_dir, leaderboard_dir, executor_args):
        return
    try:
        complete, report = run(recipe, scale, data_dir=data_dir, out=out, device=device, zoo_dir=zoo_dir,
                               leaderboard_dir=leaderboard_dir, stop_at=clock.stop_at(max_minutes), progress=not quiet,
                               only=[n.strip() for n in only.split(",") if n.strip()] if only else None,
                               compile=compile_ or None, **reproduce_settings(recipe, scale, executor_args))
    except KeyboardInterrupt:
        raise SamBenchError("interrupted; finished epochs and evaluation chunks are kept: run the same command "
                            "to continue") from None
    if not complete:
        click.echo(f"stopped (run the same command again to continue): report so far in {report}")
        return
    from pathlib import Path

    from .reproduce import artifacts

    found = artifacts(Path(report).parent, zoo_dir, leaderboard_dir)
    click.echo(f"done: report in {report}")
    for what in ("plots", "zoo", "leaderboard pages"):
        if found[what]:
            click.echo(f"  {what + ':':<18} " + "\n  {:<18} ".format("").join(str(p) for p in found[what]))


@cli.command(short_help="Rewrite a reproduction's REPORT.md and plots from its results.")
@click.argument("folder")
@click.option("--readme", default=None, metavar="FILE",
              help="Also replace the folder's summary between '<!-- sam-bench summary <folder> start -->' and "
                   "'... end -->' in this file.")
def report(folder, readme):
    """Rewrite REPORT.md and the plots of a reproduction folder from its results files."""
    from .report import write_report

    click.echo(f"wrote {write_report(folder)}")
    if readme:
        from .summary import update_readme

        click.echo(f"wrote {update_readme(readme, folder)}")


# The bigger command groups live in their own modules; registered here so `sam-bench --help` lists them.
from .cli_bench import bench_command  # noqa: E402
from .cli_cost import cost_command  # noqa: E402
from .cli_evaluate import evaluate_command  # noqa: E402
from .cli_pack import pack_command, unpack_command  # noqa: E402
from .cli_theory import theory_command  # noqa: E402
from .cli_zoo import leaderboard_group, zoo_group  # noqa: E402

for command in (evaluate_command, zoo_group, leaderboard_group, bench_command, pack_command, unpack_command,
                cost_command, theory_command):
    cli.add_command(command)


def main():
    cli(prog_name="sam-bench")


if __name__ == "__main__":
    sys.exit(main())
