"""A run of a reproduction's plan (`plan.json`'s `models`: one entry per model and seed) as a typed record, checked
once where it is read and then asked by name (`run.run_name`, `run.seed`, ...). `to_json()` gives the entry back as
written, byte for byte; the training settings stay as the plan wrote them (`config`), whatever settings later
versions added."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from sam_bench.errors import SamBenchError
from sam_bench.training.config import TrainConfig

FIX = "it is written by sam-bench reproduce: restore it (e.g. git checkout) or run the reproduction again"


@dataclass(frozen=True)
class PlanEntry:
    """One run of the grid; `key`: the hash of its training settings, seed included; `primary`: the model's first
    seed, the one published to the zoo and the boards."""

    name: str
    key: str
    seed: int
    primary: bool
    config: dict = field(repr=False)
    written: dict = field(default_factory=dict, compare=False, repr=False)  # the entry's fields as written

    @classmethod
    def of(cls, entry: Mapping | PlanEntry, where: str = "plan.json") -> PlanEntry:
        """The record of one `models` entry, refused in one line unless it names its run (name, settings key,
        settings); a plan written before it recorded seeds takes the settings' seed, and every run as primary."""
        if isinstance(entry, PlanEntry):
            return entry
        if not (
            isinstance(entry, Mapping)
            and isinstance(entry.get("name"), str)
            and isinstance(entry.get("key"), str)
            and isinstance(entry.get("config"), dict)
        ):
            raise SamBenchError(f"{where}: `models` is not a list of runs (name, key, config each); {FIX}")
        config = entry["config"]
        return cls(
            name=entry["name"],
            key=entry["key"],
            seed=int(entry.get("seed", config.get("seed", 0)) or 0),
            primary=bool(entry.get("primary", True)),
            config=config,
            written=dict(entry),
        )

    def to_json(self) -> dict:
        """The entry as the plan holds it (a copy)."""
        return copy.deepcopy(self.written or {k: v for k, v in asdict(self).items() if k != "written"})

    @property
    def run_name(self) -> str:
        """The run's folder under runs/ and its results file's stem: <name>-<settings key>."""
        return f"{self.name}-{self.key}"

    @property
    def train_config(self) -> TrainConfig:
        """The settings as a TrainConfig (a setting the plan's version lacked takes its default)."""
        return TrainConfig.from_dict(self.config)


def plan_entries(plan: Mapping, where: str = "plan.json") -> list[PlanEntry]:
    """The runs of a plan (its `models`), in its order: the grid's work order."""
    models = plan.get("models")
    if not isinstance(models, list):
        raise SamBenchError(f"{where}: `models` is not a list of runs (name, key, config each); {FIX}")
    return [PlanEntry.of(m, where) for m in models]
