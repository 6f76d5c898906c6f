"""A model of RobustBench's zoo built by robustbench's own definition, as `robustbench:<dataset>/<threat model>/<id>`;
its networks normalize inside where their training did, so its spec declares identity normalization."""

from __future__ import annotations

import difflib
from importlib.metadata import version

import torch.nn as nn

from sam_bench import compat
from sam_bench.errors import BadInput
from sam_bench.models.normalization import NormalizedNet

PREFIX = "robustbench:"
IDENTITY = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


def arch_name(dataset: str, threat_model: str, model_id: str) -> str:
    return f"{PREFIX}{dataset}/{threat_model}/{model_id}"


def constructor(dataset: str, threat_model: str, model_id: str):
    """RobustBench's constructor of one of its models; one line naming what it has where it has not this id."""
    compat.install()  # robustbench's imports need the torchvision and autoattack shims
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    try:
        board = model_dicts[BenchmarkDataset(dataset)][ThreatModel(threat_model)]
    except (ValueError, KeyError):
        raise BadInput(f"RobustBench has no {dataset}/{threat_model} leaderboard") from None
    if model_id not in board:
        close = difflib.get_close_matches(model_id, list(board), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise BadInput(
            f"RobustBench id {model_id!r} is unknown to the installed robustbench {version('robustbench')} "
            f"({dataset}/{threat_model}){hint}"
        )
    built_by = getattr(board[model_id].get("model"), "func", board[model_id].get("model"))
    if getattr(built_by, "__module__", "").startswith("sam_bench."):  # a zoo entry registered with RobustBench
        raise BadInput(
            f"{model_id} is a sam-bench zoo entry that RobustBench lists through sam-bench, not one of RobustBench's "
            "own networks: a robustbench: architecture names RobustBench's"
        )
    return board[model_id]


def create_robustbench_model(arch: str, num_classes: int, mean, std, width: float = 1.0) -> nn.Module:
    dataset, _, rest = arch[len(PREFIX) :].partition("/")
    threat_model, _, model_id = rest.partition("/")
    if not (dataset and threat_model and model_id):
        raise BadInput(f"{arch!r}: write a RobustBench architecture as robustbench:<dataset>/<threat model>/<id>")
    if width != 1.0:
        raise BadInput("--width applies to the built-in architectures only, not to RobustBench's models")
    net = constructor(dataset, threat_model, model_id)["model"]()
    return NormalizedNet(net, mean, std)
