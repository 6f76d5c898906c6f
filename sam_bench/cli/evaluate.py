"""`sam-bench evaluate`: robustness numbers for runs, checkpoints and zoo models (sam_bench.evaluation.evaluate)."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import click

from sam_bench import threat_models
from sam_bench.cli.options import (
    SEED,
    THREAT_MODEL,
    data_dir_option,
    device_option,
    given_on_command_line,
    max_minutes_option,
    names_option,
    out_option,
    quiet_option,
    set_threads,
    stacked,
    threads_option,
    zoo_dir_option,
)
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import attack_table, evaluators
from sam_bench.evaluation.evaluators.base import percent
from sam_bench.runtime import clock


def _size(ctx, param, value):
    """click callback: 'auto' or a positive integer."""
    with contextlib.suppress(ValueError):
        if value == "auto" or int(value) >= 1:
            return value if value == "auto" else int(value)
    raise BadInput(f"--{param.name.replace('_', '-')} {value!r} is neither a positive integer nor auto")


def format_table(results: list[dict]) -> str:
    """One row per model, attack and eps; AutoAttack's breakdown on the line below its row."""
    from sam_bench.evaluation.model_ref import model_name
    from sam_bench.evaluation.results_record import Results
    from sam_bench.stats.inference import wilson

    def with_interval(fraction: float, n: int) -> str:  # the 95% Wilson interval over the n test images
        low, high = wilson(round(fraction * n), n)
        return f"{percent(fraction)} ({100 * low:.1f}-{100 * high:.1f})"

    rows = [("model", "attack", "norm", "eps", "clean (95% CI)", "robust (95% CI)", "n", "seconds")]
    notes = {}
    for r in results:
        name = model_name(r["model"]["ref"] or "model")
        for e in Results.of(r).evaluations:
            attack, s, n = e.attack, e.params, e.n_examples or 0
            if attack == "pgd":
                attack = f"pgd-{s.steps}" + (f"x{s.restarts}" if s.restarts > 1 else "")
            elif attack == "autoattack":
                attack = f"aa-{s.version}"
            clean, robust = with_interval(e.clean_acc or 0.0, n), with_interval(e.robust_acc, n)
            eps = str(e.eps) if e.norm else "-"
            rows.append((name, attack, e.norm or "-", eps, clean, robust, str(e.n_examples), f"{e.seconds or 0.0:.1f}"))
            if e.breakdown:
                notes[len(rows) - 1] = "  after: " + ", ".join(f"{k} {percent(v)}" for k, v in e.breakdown.items())
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for i, row in enumerate(rows):
        cells = (cell.ljust(w) if j < 4 else cell.rjust(w) for j, (cell, w) in enumerate(zip(row, widths)))
        lines.append("  ".join(cells).rstrip())
        if i in notes:
            lines.append(notes[i])
    return "\n".join(lines)


def _boards_said(specs, info, data, leaderboard: bool, zoo_dir) -> list[str]:
    """One line per AutoAttack budget (per PGD budget too with --leaderboard): the board its result can go on,
    or that none will take it and why (sam_bench.leaderboard.budgets.destination)."""
    from sam_bench.eps import format_eps
    from sam_bench.leaderboard import budgets
    from sam_bench.zoo import store as zoo

    zoo_id = info.record.get("zoo_id") if info.record.get("kind") == "zoo" else None
    model_norm = zoo.find_entry(zoo_id, zoo_dir).threat_model if zoo_id else None
    lines = []
    for spec in specs:
        if attack_table.is_headline(spec.attack) or (attack_table.is_column(spec.attack) and leaderboard):
            eps = format_eps(spec.eps)
            version = spec.params.version
            board, line = budgets.destination(spec.attack, spec.norm, eps, version, data.family, data.name, model_norm)
            if board is not None and zoo_id is None:
                line += " (once the model is in the zoo: sam-bench zoo add)"
            lines.append(line)
    return lines


def _stopped_note(stopped, state: Path, max_minutes: float) -> str:
    """What a time limit stopped, what the next chunk needs, and the --max-minutes that lets it run."""
    note = f"stopped, {stopped}" + (f"; the next chunk, {stopped.why}" if stopped.why else "")
    limit = stopped.limit_minutes
    if limit is not None:
        note += f": --max-minutes {limit:.1f} or more lets it run"
    if limit is not None and limit > max_minutes:  # the same command would stop there again
        return f"{note}; run it again with such a limit to continue (the chunks done are kept in {state})"
    return f"{note}; the chunks done are kept in {state}: run the same command again to continue"


# the options of the evaluators that have their own (Evaluator.options)
_own_options = stacked(
    *[
        click.option(
            f"--{o.name.replace('_', '-')}", o.name, type=click.Choice(o.choices), default=o.default, help=o.help
        )
        for e in evaluators.EVALUATORS.values()
        for o in e.options
    ]
)


def _norm_help() -> str:
    """`--threat-model`'s help: what it runs for each threat model whose evaluator has words of its own."""
    own = [
        f"{name} runs {words} (--attack {name})"
        for name in threat_models.names()
        if (words := evaluators.of(name).words)
    ]
    return "; ".join(["The attack's threat model", *own]) + "."


_JOB_SETTINGS = ("n_examples", "precision", "search_math", "batch_size", "chunk_size")  # handed to the Job as given


@click.command("evaluate", short_help="Clean, PGD or AutoAttack accuracy of models, with checked attacks.")
@click.argument("models", nargs=-1, required=True)
@click.option(
    "--attack",
    type=click.Choice(attack_table.names()),
    default=attack_table.headline().name,
    help=", ".join(a.help for a in attack_table.TABLE.values()) + ".",
)
@click.option("--norm", "--threat-model", "norm", type=THREAT_MODEL, default=threat_models.LINF, help=_norm_help())
@_own_options
@click.option(
    "--eps",
    default=None,
    help="Comma-separated budgets, e.g. 0,1/255,8/255 [default: 8/255 for Linf, 0.5 for L2: RobustBench's].",
)
@click.option("--steps", type=int, default=10, help="PGD steps.")
@click.option("--step-size", default=None, help="PGD step size, e.g. 0.5/255 [default: eps/4].")
@click.option(
    "--restarts",
    type=int,
    default=1,
    help="PGD random restarts; for AutoAttack --version custom, restarts of APGD and FAB (the other "
    "versions fix their own).",
)
@click.option(
    "--version",
    "version",
    type=click.Choice(attack_table.AUTOATTACK.versions),
    default="standard",
    help="AutoAttack version.",
)
@click.option(
    "--attacks",
    default=None,
    callback=names_option,
    help="AutoAttack attacks for --version custom, e.g. apgd-ce,apgd-t (implies custom).",
)
@click.option("--seed", type=SEED, default=0, help="Seed of AutoAttack and PGD's random start.")
@click.option("--n-examples", type=int, default=None, help="Evaluate the first N test images [default: all].")
@click.option("--dataset", default=None, help="Test set [default: the one the model was trained on].")
@data_dir_option
@zoo_dir_option()
@device_option(default="auto")
@threads_option("torch's, every core")
@click.option(
    "--precision",
    type=click.Choice(["fp32", "bf16"]),
    default="fp32",
    help="bf16 is faster on GPUs but can weaken gradient attacks.",
)
@click.option(
    "--search-math",
    type=click.Choice(["tf32", "ieee"]),
    default="tf32",
    help="How the attacks search on GPUs: tf32 (torch's default: TF32 convolutions, several times faster) "
    "or ieee (true fp32 throughout). Every example found is classified again in true fp32, which decides "
    "the result either way; on a CPU neither changes a number.",
)
@click.option(
    "--batch-size",
    default="auto",
    callback=_size,
    metavar="N|auto",
    help="Images per batch; auto: as many as fit on a GPU (up to the chunk size), 250 on a CPU.",
)
@click.option(
    "--chunk-size",
    default="auto",
    callback=_size,
    metavar="N|auto",
    help="Images per resumable unit of work; auto: 2,000 on a GPU, 500 on a CPU.",
)
@out_option("Results JSON [default: results/<model>_<attack>_<norm>.json]; a folder when several models are given.")
@click.option("--plot", default=None, help="Draw robust accuracy against eps for all MODELS into this image file.")
@click.option("--leaderboard", is_flag=True, help="Also write the zoo models' leaderboard entries from the results.")
@click.option("--leaderboard-dir", default=None, help="Leaderboards to write [default: the project's leaderboards/].")
@max_minutes_option(
    "no chunk starts that would end later (judged from the chunk before); what is done is saved and "
    "the same command continues."
)
@quiet_option
@click.pass_context
def evaluate_command(
    ctx,
    models,
    dataset,
    data_dir,
    zoo_dir,
    device,
    threads,
    plot,
    leaderboard,
    leaderboard_dir,
    max_minutes,
    quiet,
    **options,  # the attacks' (read by request.build from ctx.params), the evaluators' own and the Job's
):
    """Clean accuracy, PGD or AutoAttack robustness of MODELS (run directories, .safetensors
    checkpoints with their metadata, or model-zoo ids), written as results JSON.

    An interrupted evaluation continues where it stopped when the same command runs again.
    On several GPUs: torchrun --nproc_per_node N -m sam_bench evaluate ... (chunks are shared out)."""
    from sam_bench.evaluation import results_record
    from sam_bench.evaluation.chunk_state import state_path
    from sam_bench.evaluation.evaluate import EvaluationStopped
    from sam_bench.evaluation.evaluators import benchmark
    from sam_bench.evaluation.request import build
    from sam_bench.runtime import distributed

    set_threads(threads)  # before anything runs: the results record the count they were measured with
    given = {name for name in ctx.params if given_on_command_line(ctx, name)}
    request = build(ctx.params, given, say=lambda line: click.echo(line, err=True))
    norm, specs, loaded, datasets = request.norm, request.specs, request.loaded, request.datasets
    stop_at = clock.stop_at(max_minutes)  # minutes from the command's start
    evaluator = evaluators.of(norm)

    group = distributed.start(device)
    main = group is None or group.is_main
    if main:  # before any work: which board each result can go on, or why none will take it
        for (_model, info), ref in zip(loaded, models):
            for line in _boards_said(specs, info, datasets.get(dataset or info.dataset_name), leaderboard, zoo_dir):
                click.echo(f"{ref}: {line}")
    all_results = []
    with warnings.catch_warnings():
        # every warning said as one line, once (by rank 0)
        warnings.showwarning = lambda message, *_, **__: click.echo(f"warning: {message}", err=True) if main else None
        for (model, info), ref, path in zip(loaded, models, request.outputs):
            state = state_path(path)
            try:
                written = benchmark(
                    ref,
                    norm,
                    specs,
                    datasets.get(dataset or info.dataset_name),
                    device,
                    out=path,
                    loaded=(model, info),
                    options={o.name: options[o.name] for o in evaluator.options},
                    data_dir=data_dir,
                    zoo_dir=zoo_dir,
                    **{name: options[name] for name in _JOB_SETTINGS},
                    progress=not quiet,
                    stop_at=stop_at,
                )
            except EvaluationStopped as stopped:
                if main:
                    click.echo(f"{ref}: {_stopped_note(stopped, state, max_minutes)}")
                plot = None  # drawn once every model is done
                break
            except KeyboardInterrupt:
                raise SamBenchError(
                    f"interrupted; finished chunks are kept in {state}: run the same command again to continue"
                    if state.is_file()
                    else "interrupted before the first chunk finished, so nothing is kept; "
                    "run the same command again to start over"
                ) from None
            if written is None:
                continue  # rank 0 writes
            moved, results = written
            said = evaluator.said(results_record.Results.of(results))
            if not said:
                all_results.append(results)  # in the attacks' table below
            click.echo(f"{ref}: {said + ': ' if said else ''}wrote {moved}")
            if leaderboard:  # the gate of `leaderboard add`, then the boards of its kind's own
                from sam_bench.leaderboard.own_boards import own_board
                from sam_bench.leaderboard.publication import add_all

                # results resumed from kept chunks say what those files say
                heard = None if quiet else click.echo  # the gate's check, evaluation by evaluation, with the time left
                added = add_all([moved], leaderboard_dir, zoo_dir, data_dir=data_dir, device=device, progress=heard)
                for done in added:
                    click.echo(f"{ref}: leaderboard entry {done.entry}{'' if done.changed else ' (unchanged)'}")
                board = own_board(norm)
                for page in board.render(leaderboard_dir) if board is not None else []:
                    click.echo(f"{ref}: rendered {page}")
    distributed.stop()
    if not main or not all_results:
        return
    click.echo(format_table(all_results))
    if plot is not None:
        from sam_bench.evaluation.plots import plot_robustness

        click.echo(f"plot: {plot_robustness(all_results, plot)}")
