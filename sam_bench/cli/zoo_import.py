"""`sam-bench zoo import`: a model trained elsewhere (zoo.imported), or one of RobustBench's from its checkpoint
(zoo.robustbench_import), into the zoo."""

from __future__ import annotations

import click

from sam_bench.cli.options import arch_kwargs_option, zoo_dir_option
from sam_bench.cli.zoo import precision_option, zoo_group
from sam_bench.errors import BadInput
from sam_bench.leaderboard import published
from sam_bench.threat_models import threat_model


def _three_numbers(ctx, param, value):
    """--mean / --std: 'R,G,B' -> three floats (how many is the import's to judge, in one line)."""
    if value is None:
        return None
    try:
        return [float(v) for v in value.split(",")]
    except ValueError:
        raise click.BadParameter(f"{value!r} is not numbers separated by commas, e.g. 0.4914,0.4822,0.4465") from None


@zoo_group.command("import")
@click.argument("weights", type=click.Path(dir_okay=False))
@click.option("--id", "model_id", help="The entry's id, <Author><Year><Keyword>_<variant>.")
@click.option(
    "--arch",
    help="The architecture: preactresnet18 (with --width), wideresnet-*, timm:<name> (with --arch-kwargs), "
    "torchvision:<name>. Not with --robustbench-id.",
)
@click.option("--width", type=float, default=1.0, help="Width of a built-in architecture.")
@click.option("--arch-kwargs", callback=arch_kwargs_option, help="timm's constructor arguments.")
@click.option(
    "--cifar-adapted",
    is_flag=True,
    help="A timm model in sam-bench's CIFAR form (as `train --arch timm:...` builds it), not as timm defines it.",
)
@click.option("--mean", callback=_three_numbers, help="Normalization mean the model was trained with.")
@click.option("--std", callback=_three_numbers, help="Normalization std the model was trained with.")
@click.option("--method", help="How it was trained, a short name: standard, at, sam, trades, ...")
@click.option("--description", help="How it was trained, in words (shown on boards).")
@click.option("--source", help="The paper or url that describes its training.")
@click.option("--data", help="What it was trained on, e.g. cifar10.")
@click.option(
    "--robustbench-id",
    help="Instead: a RobustBench model id; WEIGHTS is its checkpoint as RobustBench stores it (<id>.pt).",
)
@click.option("--claimed-clean", type=float, help="Published clean accuracy (%), kept as a claim.")
@click.option("--claimed-autoattack", type=float, help="Published AutoAttack accuracy (%), kept as a claim.")
@click.option(
    "--additional-data/--no-additional-data",
    "additional_data",
    default=None,  # None: not given (a flag pair's own default is False)
    help="Whether it was trained on data beyond the data set's training set (RobustBench's Extra data). Left out: "
    "unknown, shown so on boards; for --robustbench-id required unless RobustBench's model info says it.",
)
@click.option(
    "--dataset",
    type=click.Choice(["cifar10", "cifar100"]),
    default="cifar10",
    help="The data set family it classifies, whose leaderboards rank it.",
)
@click.option(
    "--threat-model",
    type=click.Choice(["Linf", "L2"]),
    default="Linf",
    help="The leaderboard to rank it in (and RobustBench's list that holds --robustbench-id).",
)
@precision_option(", as for every zoo entry.")
@zoo_dir_option(reads=False)
def zoo_import(weights, model_id, robustbench_id, claimed_clean, claimed_autoattack, **given):
    """Add a model trained elsewhere to the zoo, recorded as "trained elsewhere".

    \b
    Your own weights (safetensors, or a torch state dict read with weights_only=True):
      sam-bench zoo import model.pt --id Me2026AT_resnet18 --arch torchvision:resnet18 \\
        --mean 0.4914,0.4822,0.4465 --std 0.2471,0.2435,0.2616 --method at \\
        --description "PGD-10 AT, Linf 8/255, 100 epochs" --source https://... --data cifar10
    RobustBench's model from its checkpoint (downloaded by you; nothing is fetched):
      sam-bench zoo import Standard.pt --robustbench-id Standard --id RobustBench2020Standard_imported \\
        --no-additional-data
    """
    if robustbench_id:
        _robustbench(weights, model_id, robustbench_id, claimed_clean, claimed_autoattack, given)
    else:
        _own(weights, model_id, claimed_clean, claimed_autoattack, given)


def _claims(given: dict, clean, autoattack, source: str) -> list:
    from sam_bench.zoo import imported

    if clean is None and autoattack is None:
        return []
    tm = given["threat_model"]
    return [imported.claim(tm, threat_model(tm).board_eps(), clean, autoattack, source)]


def _own(weights, model_id, clean, autoattack, given: dict) -> None:
    from sam_bench.zoo import imported

    missing = [f"--{k}" for k in ("id", "arch", "mean", "std", "method", "description", "source", "data")]
    missing = [m for m in missing if (model_id if m == "--id" else given[m[2:]]) is None]
    if missing:
        raise BadInput(f"zoo import: give {', '.join(missing)} (or --robustbench-id for RobustBench's models)")
    spec = imported.architecture_spec(
        given["arch"],
        given["mean"],
        given["std"],
        num_classes=100 if given["dataset"] == "cifar100" else 10,
        width=given["width"],
        kwargs=given["arch_kwargs"],
        cifar_adapted=given["cifar_adapted"],
    )
    claims = _claims(given, clean, autoattack, given["source"])
    trained = imported.trained_elsewhere(
        given["method"], given["description"], given["source"], given["data"], claims, given["additional_data"]
    )
    options = {k: given[k] for k in ("dataset", "threat_model", "zoo_dir", "precision")}
    _say(imported.import_file(weights, spec, trained, model_id, **options))


def _robustbench(weights, model_id, robustbench_id, clean, autoattack, given: dict) -> None:
    from sam_bench.zoo import imported, robustbench_import

    ours = [k for k in ("arch", "mean", "std", "arch_kwargs") if given[k] is not None]
    if ours:
        raise BadInput(f"--robustbench-id builds RobustBench's own model: leave out --{ours[0].replace('_', '-')}")
    dataset, tm = given["dataset"], given["threat_model"]
    claims = _claims(given, clean, autoattack, f"given to zoo import for RobustBench's {robustbench_id}")
    listed = None
    if published.available(dataset, tm):
        listed = next((e for e in published.load(dataset, tm)["entries"] if e["id"] == robustbench_id), None)
    if not claims and listed is not None:  # RobustBench's figures, copied with their source
        source = f"RobustBench {listed['path']} (blob {listed['blob'][:12]})"
        claims = [
            imported.claim(tm, listed["eps"], float(listed["clean_acc"]), float(listed["autoattack_acc"]), source)
        ]
    entry = robustbench_import.import_checkpoint(
        robustbench_id,
        weights,
        model_id=model_id,
        dataset=dataset,
        threat_model=tm,
        method=given["method"] or "robustbench",
        claims=claims,
        zoo_dir=given["zoo_dir"],
        precision=given["precision"],
        additional_data=given["additional_data"],
        listed_additional_data=None if listed is None else published.ADDITIONAL_DATA,
    )
    _say(entry)


def _say(entry: dict) -> None:
    said = {True: "yes", False: "no", None: "unknown (not said: --additional-data or --no-additional-data)"}
    w, told = entry["weights"], entry["trained_elsewhere"]
    claims = told["claims"]
    click.echo(
        f"imported {entry['id']} ({entry['dataset']}/{entry['threat_model']}, {entry['architecture']}, "
        f"{w['dtype']}, {w['bytes'] / 1e6:.1f} MB, sha256 {w['sha256'][:12]}), trained elsewhere"
        + (f"; {len(claims)} published figure(s) kept as claims to check" if claims else "")
        + f"; additional data: {said[told.get('additional_data')]}"
    )
