"""`sam-bench evaluate MODELS --threat-model corruptions`: the corruptions threat model from the command line.

The options of the attacks of Linf and L2 do not apply (an eps is refused in the budget's words); the
corruption set, its folder, and a selection of corruptions and severities do. Each model's record
(`evaluation.corruption_runner.evaluate_model`) is written to `results/<model>_corruptions_<set>.json`, or
to `--out` (a folder for several models), and its mean accuracy over the 75 (or per family, for a
selection) is printed.
"""

from __future__ import annotations

from pathlib import Path

import click

from sam_bench.cli.options import given_on_command_line
from sam_bench.corruptions import catalogue

# evaluate's options that belong to Linf and L2's attacks
NOT_FOR_CORRUPTIONS = (
    "attack",
    "norm",
    "steps",
    "step_size",
    "restarts",
    "version",
    "attacks",
    "precision",
    "search_math",
    "plot",
    "leaderboard",
    "leaderboard_dir",
    "max_minutes",
)
# the options that belong to corruptions alone
CORRUPTION_OPTIONS = ("corruption_set", "corruptions_dir", "corruptions", "severities")


def check_not_given(ctx, threat_model: str) -> None:
    """A corruptions option given for Linf or L2: refused in one line (a budget of another threat model)."""
    p = ctx.params
    catalogue.check_budget(threat_model, corruptions=p.get("corruptions"), severities=p.get("severities"))
    for option in CORRUPTION_OPTIONS:
        if given_on_command_line(ctx, option):
            from sam_bench.errors import BadInput

            raise BadInput(f"--{option.replace('_', '-')} applies to --threat-model corruptions, not to {threat_model}")


def run(ctx, models: tuple[str, ...], out: str | None) -> None:
    """Evaluate MODELS on the corruption set the options name, one record file each."""
    from sam_bench.errors import BadInput
    from sam_bench.evaluation.batching import CPU_BATCH, CPU_CHUNK
    from sam_bench.evaluation.corruption_runner import evaluate_model
    from sam_bench.evaluation.model_ref import model_name
    from sam_bench.runtime.provenance import resolve_device

    p = ctx.params
    catalogue.check_budget(catalogue.THREAT_MODEL, eps=p.get("eps"))
    for option in NOT_FOR_CORRUPTIONS:
        if given_on_command_line(ctx, option):
            raise BadInput(f"--{option.replace('_', '-')} applies to Linf and L2, not to --threat-model corruptions")
    set_name = p["corruption_set"]
    name = f"{{}}_corruptions_{set_name}.json"
    if out is None:
        paths = [Path("results") / name.format(model_name(ref)) for ref in models]
    elif len(models) == 1 and not Path(out).is_dir():
        paths = [Path(out)]
    else:
        paths = [Path(out) / name.format(model_name(ref)) for ref in models]
    if len(set(paths)) < len(paths):
        raise BadInput("two models would write the same record; give their runs different names")
    batch = CPU_BATCH if p["batch_size"] == "auto" else p["batch_size"]
    chunk = CPU_CHUNK if p["chunk_size"] == "auto" else p["chunk_size"]
    for ref, path in zip(models, paths):
        record = evaluate_model(
            ref,
            path,
            set_name,
            corruptions=p.get("corruptions"),
            severities=p.get("severities"),
            n_examples=p.get("n_examples"),
            seed=p.get("seed") or 0,
            data_dir=p.get("data_dir"),
            corruptions_dir=p.get("corruptions_dir"),
            zoo_dir=p.get("zoo_dir"),
            batch_size=batch,
            chunk_size=chunk,
            device=str(resolve_device(p.get("device") or "auto")),
            progress=not p.get("quiet"),
        )
        kind = "generated" if record["corruption_set"]["generated"] else "official"
        if record["mean_accuracy"] is not None:
            figure = f"mean accuracy over the 75 {100 * record['mean_accuracy']:.2f}%"
        else:
            figure = ", ".join(f"{family} {100 * a:.2f}%" for family, a in record["families"].items())
        click.echo(f"{ref}: {figure} on {record['n_examples']:,} images of {set_name} ({kind}); wrote {path}")
