"""What one evaluation call asks for (`sam-bench evaluate`'s options made into attacks, models, data sets and
results files), checked before any work is done: every option that cannot apply, every bad path, model or data
set is refused here in one line (BadInput), before the first chunk runs."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sam_bench import files, threat_models
from sam_bench.data import load_dataset
from sam_bench.errors import BadInput
from sam_bench.evaluation import attack_table, results_file
from sam_bench.evaluation.attack_spec import AttackSpec
from sam_bench.evaluation.model_ref import LoadedModel, default_output, load_model_ref
from sam_bench.evaluation.specs import make_attacks, split

_PLOT_SUFFIXES = {".png", ".pdf", ".svg", ".jpg", ".jpeg"}


@dataclass(frozen=True)
class Request:
    """One evaluation call, checked: the attack and threat model it runs (reconciled with each other), the
    specs of a norm ball's attacks (none for a threat model measured by its evaluator alone), each model's
    results file, each model loaded, and the test sets by name."""

    attack: str
    norm: str
    specs: list[AttackSpec]
    outputs: list[Path]
    loaded: list[tuple[Any, LoadedModel]]
    datasets: dict[str, Any]


def _outputs(refs: list[str], out: str | None, attack: str, norm: str | None) -> list[Path]:
    if out is None:
        paths = [default_output(ref, attack, norm) for ref in refs]
    elif len(refs) == 1 and not Path(out).is_dir():
        paths = [Path(out)]
    elif Path(out).suffix == ".json" and not Path(out).is_dir():
        raise BadInput(f"--out {out}: with several models --out is a folder for their results files")
    else:
        paths = [default_output(ref, attack, norm, folder=out) for ref in refs]
    if len(set(paths)) < len(paths):
        raise BadInput("two models would write the same results file; give their runs different names")
    return paths


def _attack_and_norm(attack: str, norm: str, eps: str | None, given: Collection[str]) -> tuple[str, str]:
    """The attack and threat model run: a threat model that is no norm ball is its own attack, and names both."""
    if threat_models.threat_model(norm).norm is None:  # a threat model that is no norm ball is its own attack's
        if "attack" in given and attack != norm:
            raise BadInput(f"--threat-model {norm} runs --attack {norm}, not --attack {attack}; leave --attack out")
        attack = norm
        if eps is not None:
            threat_models.threat_model(norm).parse_budget(eps)  # refused in one line: its budget is the set
    elif attack in threat_models.TABLE and threat_models.threat_model(attack).norm is None:
        if "norm" in given:
            raise BadInput(f"--attack {attack} searches no norm ball; leave --norm {norm} out")
        norm = attack
    for option, applies in attack_table.applies_to().items():  # an option the attack does not use would be ignored
        if option == "norm" and norm == attack:  # a threat model that is its own attack: --threat-model names both
            continue
        if attack not in applies and option in given:
            raise BadInput(
                f"--{option.replace('_', '-')} applies to --attack {' or '.join(applies)}, not to --attack {attack}; "
                "leave it out"
            )
    return attack, norm


def build(options: Mapping[str, Any], given: Collection[str], say: Callable[[str], object]) -> Request:
    """The evaluation `evaluate`'s options ask for, or the first refusal (BadInput). `options`: the command's
    parameters by name (`models`, `attack`, `norm`, `eps`, ...); `given`: the names of those typed on the command
    line (one left at its default is never refused); `say`: how a results file moved to a free name is told."""
    models: list[str] = list(options["models"])
    eps, out, plot, dataset = options["eps"], options["out"], options["plot"], options["dataset"]
    attack, norm = _attack_and_norm(options["attack"], options["norm"], eps, given)
    if plot is not None and Path(plot).suffix.lower() not in _PLOT_SUFFIXES:
        raise BadInput(f"--plot {plot}: name an image file ({', '.join(sorted(_PLOT_SUFFIXES))})")
    version = "custom" if options["attacks"] and "version" not in given else options["version"]
    if attack_table.has_versions(attack) and version != "custom" and "restarts" in given:
        raise BadInput(
            f"--restarts applies to AutoAttack --version custom; --version {version} sets its own; leave it out"
        )
    eps_list = split(eps)
    if eps is not None and not eps_list:
        raise BadInput("--eps is empty; give budgets like 8/255 or 0,1/255,2/255")
    # the attacks of a norm ball; a threat model that is no norm ball is measured by its evaluator alone
    specs: list[AttackSpec] = []
    if threat_models.threat_model(norm).norm is not None:
        ball = norm if attack_table.in_threat_model(attack) else None
        read = {name: options[name] for name in ("steps", "step_size", "restarts", "attacks", "seed")}
        specs = make_attacks(attack, ball, eps_list, version=version, **read)
    if plot is not None and not attack_table.in_threat_model(attack):
        raise BadInput("--plot draws robust accuracy against eps; use it with --attack pgd or autoattack")
    outputs = _outputs(models, out, attack, norm if attack_table.in_threat_model(attack) else None)
    written: list[str | Path] = [*outputs, *([plot] if plot is not None else [])]
    for path in written:  # before any work, not after the first chunk
        files.check_writable(path)

    loaded = [load_model_ref(ref, zoo_dir=options["zoo_dir"]) for ref in models]  # every bad ref fails before any work
    if options["leaderboard"] and any(info.record["kind"] != "zoo" for _, info in loaded):
        raise BadInput("--leaderboard ranks zoo models only; add the model with sam-bench zoo add first")
    datasets: dict[str, Any] = {}
    for (_model, info), ref in zip(loaded, models) if specs else []:  # a norm ball's attacks read a test set
        name = dataset or info.dataset_name
        if name is None:
            raise BadInput(f"{ref}: its metadata names no data set; pass --dataset")
        if name not in datasets:
            datasets[name] = load_dataset(name, options["data_dir"])

    # An existing file is replaced only by the same evaluation of the same model (run again): a
    # default name moves on to the next free one, an explicit --out is refused.
    explicit = out is not None and len(models) == 1 and not Path(out).is_dir()
    for i, ((_model, info), ref) in enumerate(zip(loaded, models) if specs else []):
        wanted = {
            "model": {"weights_sha256": info.record["weights_sha256"]},
            "dataset": {"name": dataset or info.dataset_name, "n_examples": options["n_examples"]},
            "precision": options["precision"],
            "evaluations": [spec.record() for spec in specs],
        }
        reason = results_file.conflict(outputs[i], wanted)
        if reason and explicit:
            raise BadInput(f"--out {outputs[i]} {reason}; choose another --out, or delete the file to replace it")
        if reason:
            new = results_file.available_name(outputs[i], wanted)
            say(f"{ref}: {outputs[i]} {reason}; the results go to {new} instead")
            outputs[i] = new
    return Request(attack, norm, specs, outputs, loaded, datasets)
