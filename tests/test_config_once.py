"""Each fact in one place: the training settings are declared once (training/config.py: name,
default, help; the run-metadata schema's `$defs/config`: type, bounds, choices), `sam-bench train`'s options
are built from them, `validate()` keeps only the rules across settings, and the options many commands take
(--device, --data-dir, --quiet, --out, --max-minutes) come from one module (cli/options.py)."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import asdict, fields

import click
import pytest
from click.testing import CliRunner

from sam_bench import schema
from sam_bench.cli import cli, options
from sam_bench.cli.train import train as train_command
from sam_bench.errors import BadInput
from sam_bench.training import config
from sam_bench.training.config import TrainConfig

# The options of `train` that are no setting of the run: where it goes and how this call runs.
CALL_OPTIONS = {"out", "resume", "max_minutes", "stop_after_epochs", "quiet", "seeds"}
SHARED = {
    "--device": "device",
    "--data-dir": "data_dir",
    "--quiet": "quiet",
    "--out": "out",
    "--max-minutes": "max_minutes",
    "--zoo-dir": "zoo_dir",
}

# Every committed run's settings key hashes asdict(TrainConfig()) (sam_bench.recipes.recipe.settings_key):
# the fields, their order and their defaults must not move.
DEFAULTS = {
    "method": "standard",
    "arch": "preactresnet18",
    "width": 1.0,
    "arch_kwargs": None,
    "dataset": "cifar10-sample",
    "data_dir": None,
    "n_train": None,
    "epochs": 100,
    "batch_size": 128,
    "lr": 0.1,
    "momentum": 0.9,
    "weight_decay": 5e-4,
    "schedule": "piecewise",
    "rho": None,
    "attack_norm": "Linf",
    "attack_eps": "8/255",
    "attack_steps": 10,
    "attack_step_size": None,
    "seed": 0,
    "device": "auto",
    "precision": "auto",
    "compile": False,
    "sam_perturbation": "global",
    "checkpoint_every_s": 60.0,
    "overfit_guard": None,
    # TRADES's and AWP's settings: None leaves a settings key as it was (settings_key drops them)
    "beta": None,
    "awp_gamma": None,
    "awp_warmup": None,
    "step_mode": "eager",  # added last, and keyed only when not eager: earlier keys stand
}


def properties() -> dict:
    return schema.load("run-metadata")["$defs"]["config"]["properties"]


def train_options() -> dict[str, click.Option]:
    return {p.name: p for p in train_command.params if isinstance(p, click.Option) and p.name is not None}


def test_the_fields_their_order_and_defaults_stay_as_every_run_key_was_made():
    assert list(asdict(TrainConfig())) == list(DEFAULTS)
    assert asdict(TrainConfig()) == DEFAULTS
    assert config.RUNTIME_KEYS == {"device", "data_dir", "compile", "checkpoint_every_s"}
    from sam_bench.training import loop

    assert loop.TrainConfig is TrainConfig and loop.RUNTIME_KEYS is config.RUNTIME_KEYS  # callers keep working


def test_train_takes_one_option_per_setting_with_the_dataclass_default():
    found = train_options()
    assert set(found) - CALL_OPTIONS == {f.name for f in fields(TrainConfig)}
    for f in fields(TrainConfig):
        option = found[f.name]
        assert option.opts == [config.option_name(f.name)], f.name
        assert option.default == f.default, f.name
        if f.metadata["help"]:
            assert option.help == f.metadata["help"], f.name
    # what a command line without options trains: the dataclass's defaults, parsed as the CLI parses them
    parsed = train_command.make_context("train", ["--out", "x"]).params
    assert {k: v for k, v in parsed.items() if k not in CALL_OPTIONS} == DEFAULTS


def test_the_schema_types_and_bounds_every_setting_and_the_options_take_its_choices():
    assert set(properties()) == {f.name for f in fields(TrainConfig)}
    found = train_options()
    for name, spec in properties().items():
        if "enum" in spec:
            assert list(found[name].type.choices) == spec["enum"], name  # type: ignore[attr-defined]
    from sam_bench import data
    from sam_bench.runtime import distributed
    from sam_bench.training import method_table

    assert tuple(properties()["dataset"]["enum"]) == data.DATASETS
    assert tuple(properties()["sam_perturbation"]["enum"]) == distributed.SAM_PERTURBATIONS
    assert tuple(found["method"].type.choices) == method_table.names()  # type: ignore[attr-defined]


def bad_values(spec: dict) -> list:
    """Values just outside a setting's bounds, and infinity for a number."""
    integer = "integer" in spec.get("type", [])
    step = 1 if integer else 0.5
    values = []
    if "minimum" in spec:
        values.append(spec["minimum"] - step)
    if "exclusiveMinimum" in spec:
        values.append(spec["exclusiveMinimum"])
    if "maximum" in spec:
        values.append(spec["maximum"] + step)
    if "exclusiveMaximum" in spec:
        values.append(spec["exclusiveMaximum"])
    if values and not integer:
        values.append(float("inf"))
    return values


BOUNDED = [(name, value) for name, spec in properties().items() for value in bad_values(spec)]


def test_every_bound_is_tested():
    assert {name for name, _ in BOUNDED} == {
        "width",
        "n_train",
        "epochs",
        "batch_size",
        "lr",
        "momentum",
        "weight_decay",
        "rho",
        "attack_steps",
        "seed",
        "checkpoint_every_s",
        "overfit_guard",
        "beta",
        "awp_gamma",
        "awp_warmup",
    }


@pytest.mark.parametrize("name,value", BOUNDED, ids=[f"{n}={v}" for n, v in BOUNDED])
def test_a_value_out_of_bounds_is_refused_naming_its_option(name, value, tmp_path):
    method = {"rho": "sam", "attack_steps": "at", "beta": "trades", "awp_gamma": "awp-at", "awp_warmup": "awp-at"}.get(
        name, "standard"
    )
    with pytest.raises(BadInput, match=f"^{config.option_name(name)}: "):
        TrainConfig(method=method, **{name: value}).validate()
    # the same on the command line: one line, exit 2, nothing written
    args = ["train", "--method", method, config.option_name(name), str(value), "--out", str(tmp_path / "run")]
    r = CliRunner().invoke(cli, [*args, "--device", "cpu", "--quiet"])
    assert r.exit_code == 2, r.output
    assert r.output.startswith(f"Error: {config.option_name(name)}: ") and r.output.count("\n") == 1, r.output
    assert not (tmp_path / "run").exists()


def test_validate_writes_no_bound_again():
    """validate() keeps the rules across settings (which compare settings for equality: a method, a norm, a
    default); every bound is the schema's, so validate() orders nothing against a number."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(TrainConfig.validate)))
    ordering = (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
    found = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare) and any(isinstance(op, ordering) for op in node.ops)
    ]
    assert found == []


def commands(group: click.Group = cli, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_command_takes_the_shared_options_from_one_module():
    takers: dict[str, list[str]] = {name: [] for name in SHARED.values()}
    for path, command in commands():
        for param in command.params:
            shared = [SHARED[o] for o in param.opts if o in SHARED]
            if not shared:
                continue
            where = f"sam-bench {' '.join(path)} {param.opts[0]}"
            assert isinstance(param, options.SharedOption), f"{where} is declared in its command, not cli/options.py"
            assert param.name == shared[0], where
            takers[shared[0]].append(" ".join(path))
            help_text = param.help or ""
            if param.name == "device":
                assert help_text.startswith(options.DEVICE_HELP), where
            elif param.name == "data_dir":
                assert help_text == options.DATA_DIR_HELP, where
            elif param.name == "quiet":
                assert help_text == options.QUIET_HELP, where
            elif param.name == "zoo_dir":  # one wording: a command's own default, if any, comes first
                said = help_text.replace(" a reproduction folder's own model_zoo/ if it has one, else", "")
                assert said == options.ZOO_DIR_HELP + ".", where
            elif param.name == "max_minutes":
                assert help_text.startswith(options.MAX_MINUTES_HELP), where
                assert param.callback is options.check_max_minutes, where
    assert len(takers["device"]) >= 7 and len(takers["quiet"]) >= 7 and len(takers["out"]) >= 9
    assert sorted(takers["max_minutes"]) == ["bench", "evaluate", "report", "reproduce", "train", "verify"]
    assert len(takers["zoo_dir"]) >= 9  # evaluate, analyze, recheck, reproduce, zoo add/list/verify, leaderboard ...


REQUIRED = {"train": ["--out", "x"], "evaluate": ["model"], "reproduce": ["recipe", "--scale", "s"], "bench": []}


@pytest.mark.parametrize("minutes", ["0", "-5", "inf", "nan"])
@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_max_minutes_is_refused_one_way_by_every_command(name, minutes):
    command = cli.commands[name]
    with pytest.raises(BadInput, match=r"^--max-minutes must be a number of minutes > 0, got "):
        command.make_context(name, [*REQUIRED[name], "--max-minutes", minutes])
    assert command.make_context(name, [*REQUIRED[name], "--max-minutes", "0.5"]).params["max_minutes"] == 0.5
