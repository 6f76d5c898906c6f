"""A recipe's models trained elsewhere (its `zoo` list, sam_bench.recipes.zoo_models) as cells of its grid.

A zoo cell evaluates one zoo entry's stored weights with the recipe's evaluation and ranks them; it never trains.
Every executor runs it as it runs a trained model's cell, minus the training: one after another (local), as a
worker of `--parallel K`, as a SLURM job of its own. Its claim (cells/<zoo id>.claim), its job and its results
file (results/<zoo id>.json) are named by its zoo id, which no run name can be (a run is `<model>-<settings key>`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sam_bench.recipes.zoo_models import zoo_entries, zoo_ids
from sam_bench.zoo.entry import ZooEntry


@dataclass(frozen=True, eq=False)
class ZooCell:
    """One model trained elsewhere in a grid: its zoo entry, as the recipe's zoo list found it."""

    entry: ZooEntry

    @property
    def name(self) -> str:
        return self.entry.id

    @property
    def run_name(self) -> str:
        """What names its claim and its job, as a trained model's run name names theirs."""
        return self.entry.id


def zoo_cells(repro) -> list[ZooCell]:
    """The zoo cells of a reproduction's part of the grid: none under --only (a run of the whole grid takes them)."""
    return [] if repro.work_limited else [ZooCell(entry) for entry in repro.zoo_models]


def find_zoo_models(repro, zoo_models: list[str] | None = None) -> None:
    """Give `repro` its models trained elsewhere: `zoo_models` (reproduce --zoo-model) in place of the recipe's
    `zoo` list where given, each found in the zoo and checked against the recipe (one line for one it cannot
    evaluate) before anything is written."""
    recipe = repro.recipe
    if zoo_models is not None:
        recipe = replace(recipe, zoo=zoo_ids({"zoo": zoo_models}, {}, "--zoo-model", recipe.scale))
        repro.recipe = recipe
    repro.zoo_models = zoo_entries(recipe.zoo, recipe.dataset, recipe.evaluation, repro.zoo_dir)
