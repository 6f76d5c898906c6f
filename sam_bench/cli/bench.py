"""`sam-bench bench`: training and evaluation throughput beside the paper's loop (sam_bench.bench.throughput)."""

from __future__ import annotations

from pathlib import Path

import click

from sam_bench import files
from sam_bench.cli.options import (
    SEED,
    arch_kwargs_option,
    data_dir_option,
    device_option,
    given_on_command_line,
    max_minutes_option,
    out_option,
    quiet_option,
)
from sam_bench.errors import BadInput
from sam_bench.evaluation.specs import split
from sam_bench.runtime import clock

_PROBE_ONLY: list[str] = []  # the options of --probe alone (`_NEEDS`)


def _probe_option(*decls, **attrs):
    _PROBE_ONLY.append(decls[0][2:].replace("-", "_"))
    return click.option(*decls, **attrs)


@click.command("bench", short_help="Training and attack throughput, side by side with the paper's loop.")
@device_option(default="auto")
@click.option(
    "--methods",
    default="standard,sam,at",
    help="Comma-separated training methods to time (standard, sam, asam, at, sam-at); the paper's loop "
    "runs for standard, sam and at.",
)
@click.option("--batch-size", type=int, default=512, help="Batch size of sam-bench's loop.")
@click.option("--arch", default="preactresnet18", help="Architecture timed (as train --arch takes it).")
@click.option("--width", type=float, default=1.0, help="Channel multiplier (0.25 for CPU runs).")
@click.option(
    "--arch-kwargs",
    metavar="K=V,...",
    callback=arch_kwargs_option,
    help="timm constructor arguments, e.g. depth=4,embed_dim=64,num_heads=2.",
)
@click.option("--steps", type=int, default=20, help="Timed training steps per repetition.")
@click.option("--repeats", type=int, default=5, help="Timed repetitions (median and spread).")
@click.option("--warmup", type=int, default=2, help="Untimed steps before the repetitions.")
@click.option("--n-images", type=int, default=50_000, help="Synthetic training images.")
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16"]),
    default="auto",
    help="Training precision of sam-bench's loop (auto: bf16 autocast on GPU, as `train`).",
)
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model in sam-bench's loop.")
@click.option(
    "--rho",
    type=float,
    help="SAM radius of every SAM method timed, both loops [default: each method's own: 0.05 for sam and sam-at, "
    "0.5 for asam].",
)
@click.option("--skip-paper-loop", is_flag=True, help="Do not run the paper's loop (no x-paper ratios).")
@click.option("--paper-batch-size", type=int, default=128, help="The paper's batch size.")
@click.option(
    "--paper-workers", type=int, default=0, help="DataLoader workers of the paper's loop (its code passes none: 0)."
)
@click.option("--skip-eval", is_flag=True, help="Do not measure PGD and AutoAttack throughput.")
@click.option("--pgd-images", type=int, default=4096, help="Images per PGD-10 repetition.")
@click.option("--aa-images", type=int, default=1000, help="Images per AutoAttack run.")
@click.option("--aa-batch-size", type=int, default=500, help="AutoAttack's batch size.")
@click.option(
    "--aa-train-epochs",
    type=int,
    default=10,
    help="Epochs of the briefly trained standard and AT models (on the bundled CIFAR-10 sample).",
)
@click.option("--aa-train-images", type=int, help="Train those on the first N sample images [all 1500].")
@click.option(
    "--models",
    help="Comma-separated run dirs / checkpoints / zoo ids to run AutoAttack on, instead of briefly trained models.",
)
@data_dir_option
@click.option(
    "--seed", type=SEED, default=0, help="Seed of the synthetic images, the weights, the data order and the attacks."
)
@click.option(
    "--threads",
    type=int,
    help="torch CPU threads [default: torch's; 1 with --quick, as on a shared machine more threads only contend].",
)
@click.option("--commit", help="Record this sam-bench commit (for a copied tree without .git).")
@out_option("Results JSON [default: benchmarks/<device>.json; benchmarks/<device>-quick.json with --quick].")
@click.option(
    "--quick",
    is_flag=True,
    help="Tiny CPU settings for CI (seconds): width 0.0625, batch 16, 2 steps, "
    "1 thread, 2 repeats, AutoAttack on 4 images; explicit options still win.",
)
@max_minutes_option(
    "a part (a method's timing, PGD, an AutoAttack run) starts only when expected to end in time; "
    "the results file says which parts were not measured."
)
@quiet_option
@click.option(
    "--markdown-from",
    "markdown_from",
    metavar="FILE",
    help="Measure nothing: print an existing results file's tables as Markdown (for the README).",
)
@click.option(
    "--write-into",
    "write_into",
    multiple=True,
    metavar="DOC",
    help="With --markdown-from: replace the file's block in DOC (between '<!-- bench NAME start -->' and "
    "'<!-- bench NAME end -->', NAME the file's name without .json) instead of printing it; repeatable.",
)
@click.option(
    "--probe",
    is_flag=True,
    help="Pick the step mode and K (models trained at once) for a long run on this device: eager / static / graph "
    "/ compiled steps, K concurrent processes and TF32 vs strict-fp32 attack search, in interleaved rounds within "
    "--budget-s (docs/benchmarks.md).",
)
@_probe_option(
    "--budget-s",
    type=float,
    default=180.0,
    help="With --probe: seconds the probe may take, set-up and compilation included.",
)
@_probe_option(
    "--modes", default="eager,static,graph,compiled", help="With --probe: step modes to time (graph only on CUDA)."
)
@_probe_option("--concurrency", default="1,2,4", help="With --probe: K concurrent processes.")
@_probe_option("--concurrent-methods", default="standard", help="With --probe: methods timed K at once.")
@_probe_option(
    "--concurrent-modes",
    default="eager",
    help="With --probe: step modes the K processes train in (eager, static, graph; graph only on CUDA).",
)
@_probe_option(
    "--beside",
    help="With --probe: the K values at which one evaluation process runs beside K training processes "
    "(comma-separated, each one of --concurrency; '' for none) [default: every K of --concurrency].",
)
@_probe_option(
    "--concurrent-s",
    type=float,
    default=1.0,
    help="With --probe: seconds each repetition of K processes (and an evaluation beside them) runs.",
)
@_probe_option(
    "--in-process",
    is_flag=True,
    help="With --probe: time the K of --concurrency also side by side in one process, each on a CUDA stream of its "
    "own (reproduce --parallel K --in-process), with the GPU memory they hold.",
)
@_probe_option(
    "--grouped",
    default="4",
    help="With --probe: N models' convolutions as one grouped network against N separate (comma-separated N; "
    "'' for none).",
)
@_probe_option(
    "--grouped-methods",
    default="standard",
    help="With --probe and --grouped: methods whose N seeds' steps are timed as one grouped step against N static "
    "steps ('' for none).",
)
@_probe_option("--attack-images", type=int, default=512, help="With --probe: images per attack run.")
@click.pass_context
def bench_command(
    ctx,
    skip_paper_loop,
    skip_eval,
    compile_,
    models,
    out,
    quick,
    quiet,
    markdown_from,
    write_into,
    max_minutes,
    probe,
    **options,
):
    """Measure training images/s per method and PGD / AutoAttack throughput on this device, with the
    paper's own training loop (DataLoader + PIL transforms, fp32, batch 128) timed in the same run.

    Writes a JSON record (device, torch version, commit, settings, every repetition, median,
    min/max, x-paper ratios) and prints a table."""
    from sam_bench.bench.table import format_table
    from sam_bench.bench.throughput import QUICK, SCHEMA, run_bench

    _refuse_options_without_their_mode(ctx)
    probe_options = {name: options.pop(name) for name in _PROBE_ONLY}
    if markdown_from is not None:
        from sam_bench.bench import results_block

        result = files.read_json(markdown_from)
        if not isinstance(result, dict) or result.get("schema") != SCHEMA:
            raise BadInput(f"{markdown_from}: not a sam-bench bench results file")
        text = results_block.markdown(result, markdown_from)
        for doc in write_into:
            results_block.write_into(Path(doc), Path(markdown_from).stem, text)
            click.echo(f"wrote its block into {doc}", err=True)
        if not write_into:
            click.echo(text)
        return
    if probe:
        explicit = {p for p in ("batch_size", "steps") if given_on_command_line(ctx, p)}
        _probe(options, probe_options, explicit, out, quiet)
        return
    if quick:  # explicit options win over the quick defaults
        options.update({param: value for param, value in QUICK.items() if not given_on_command_line(ctx, param)})
    options.update(
        paper_loop=not skip_paper_loop, evaluation=not skip_eval, compile=compile_, models=split(models) or ()
    )
    _, out, log = _device_out_log(options["device"], out, "-quick" if quick else "", quiet, "bench")
    result = run_bench(log=log, out=out, stop_at=clock.stop_at(max_minutes), **options)
    click.echo(format_table(result))
    if result["status"] == "stopped":
        click.echo(f"time limit: not measured: {'; '.join(result['not_measured'])}")
    click.echo(f"wrote {out}")


# Options that act only in another option's mode: given without it, they would be ignored without a word
_NEEDS = {"write_into": "markdown_from", **dict.fromkeys(_PROBE_ONLY, "probe")}
_MEASURED_BY_EVAL = ("models", "pgd_images", "aa_images", "aa_batch_size", "aa_train_epochs", "aa_train_images")


def _refuse_options_without_their_mode(ctx: click.Context) -> None:
    def option(name: str) -> str:
        return "--" + name.replace("_", "-")

    if ctx.params["markdown_from"] is not None and ctx.params["probe"]:
        raise BadInput("--markdown-from prints a results file and --probe measures: give one of them")
    for name, needed in _NEEDS.items():
        if given_on_command_line(ctx, name) and not ctx.params[needed]:
            raise BadInput(f"{option(name)} works only with {option(needed)}; give both, or leave it out")
    if ctx.params["skip_eval"]:
        for name in _MEASURED_BY_EVAL:
            if given_on_command_line(ctx, name):
                raise BadInput(f"{option(name)} sets the attack timings that --skip-eval leaves out; give one of them")


def _device_out_log(device: str, out, suffix: str, quiet: bool, who: str):
    """The device, the record's path (default benchmarks/<device><suffix>.json) and the progress lines' writer."""
    from sam_bench.bench.environment import device_slug
    from sam_bench.runtime.provenance import device_name, resolve_device

    resolved = resolve_device(device)
    if out is None:
        out = Path("benchmarks") / f"{device_slug(device_name(resolved))}{suffix}.json"

    def log(message):
        if not quiet:
            click.echo(f"{who}: {message}", err=True)

    return resolved, out, log


def _counts(text: str | None, takes: str) -> list[int] | None:
    """Comma-separated counts (None: the option not given); `takes`: the option's words when one is no number."""
    if text is None:
        return None
    try:
        return [int(k) for k in split(text) or []]
    except ValueError:
        raise BadInput(f"{takes}; got {text!r}") from None


def _probe(options, p, explicit, out, quiet):
    """`bench --probe` (`p`: its own options): a thin skin over `sam_bench.bench.probe_parts.probe`."""
    from sam_bench.bench.probe_parts import DEFAULTS, probe

    counts = _counts(p["concurrency"], "--concurrency takes comma-separated process counts, e.g. 1,2,4")
    group_sizes = _counts(p["grouped"], "--grouped takes comma-separated model counts, e.g. 4,8")
    beside = _counts(p["beside"], "--beside takes comma-separated process counts, e.g. 1,2")
    settings = {
        "grouped": group_sizes,
        "methods": split(options["methods"]) or [],
        "modes": split(p["modes"]) or [],
        "concurrency": counts,
        "concurrent_methods": split(p["concurrent_methods"]) or [],
        "concurrent_modes": split(p["concurrent_modes"]) or [],
        "beside": beside,
        "concurrent_s": p["concurrent_s"],
        "in_process": p["in_process"],
        "grouped_methods": split(p["grouped_methods"]) or [],
        "batch_size": options["batch_size"] if "batch_size" in explicit else DEFAULTS["batch_size"],
        "steps": options["steps"] if "steps" in explicit else DEFAULTS["steps"],
        "attack_images": p["attack_images"],
        **{key: options[key] for key in ("arch", "width", "precision", "rho", "seed", "threads")},
    }
    device, out, log = _device_out_log(options["device"], out, "-probe", quiet, "probe")
    record = probe(settings, device, out, p["budget_s"], commit=options["commit"], log=log)
    for name, part in record["parts"].items():
        shown = ", ".join(
            f"{k} {v['median']:.4g} ({v['rounds']} rounds)"
            for k, v in part["values"].items()
            if v["median"] is not None
        )
        click.echo(f"{name}: {shown}")
    for ratio in record["ratios"]:
        if ratio["median"] is not None:
            click.echo(f"{ratio['name']}: {ratio['median']:.3g} (median of {ratio['rounds']} rounds)")
    for name, why in {**record["not_applicable"], **record["failed"]}.items():
        click.echo(f"{name}: not measured: {why}")
    if record["not_measured"]:
        click.echo(f"budget: not measured: {', '.join(record['not_measured'])}")
    click.echo(f"wrote {out}")
