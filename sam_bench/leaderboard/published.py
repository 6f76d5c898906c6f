"""RobustBench's published entries of training comparable to ours, to set our models beside.

`published/<dataset>-<threat model>.json` holds them, copied from RobustBench's `model_info` folder
by `tools/robustbench_references.py` (its log beside it) with their numbers exactly as RobustBench
lists them, each with the file, git blob and commit it came from; the selection rule is in the file.
"""

from __future__ import annotations

from pathlib import Path

from sam_bench import files, schema

FOLDER = Path(__file__).parent / "published"
# RobustBench's additional_data of every entry listed here: the selection (tools/robustbench_references.py) leaves
# out those trained with additional data
ADDITIONAL_DATA = False


def path(dataset: str, threat_model: str) -> Path:
    return FOLDER / f"{dataset}-{threat_model}.json"


def available(dataset: str, threat_model: str) -> bool:
    return path(dataset, threat_model).is_file()


def load(dataset: str, threat_model: str) -> dict:
    """The references file for one dataset and threat model, checked against its schema."""
    where = path(dataset, threat_model)
    return schema.check(
        "robustbench-references",
        files.read_json(where),
        str(where),
        fix="write it again with tools/robustbench_references.py",
    )
