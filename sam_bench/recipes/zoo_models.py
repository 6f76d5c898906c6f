"""A recipe's models trained elsewhere: zoo ids (`zoo:` in a recipe or one of its scales) that a reproduction
evaluates beside the models it trains, with the same evaluation, and never trains. Each id is checked against the
zoo before anything runs: one that the zoo does not hold, or whose entry is of another data set, or of a threat
model the recipe's AutoAttack never attacks, is refused in one line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sam_bench.errors import BadInput
from sam_bench.recipes.evaluation_block import autoattack_budgets

if TYPE_CHECKING:
    from sam_bench.zoo.entry import ZooEntry

# the zoo's data set of a recipe's test data: the bundled sample's images are CIFAR-10's
FAMILY = {"cifar10-sample": "cifar10", "synthetic": "cifar10", "synthetic100": "cifar100"}


def zoo_ids(recipe_data: dict, scale_data: dict, where: str, scale: str) -> list[str]:
    """The zoo ids a scale evaluates: its own `zoo` list, else the recipe's; distinct strings."""
    ids = scale_data["zoo"] if "zoo" in scale_data else recipe_data.get("zoo") or []
    if not (isinstance(ids, list) and all(isinstance(i, str) and i for i in ids)):
        raise BadInput(f"{where}: scale {scale!r}: zoo must be a list of zoo ids, e.g. [Wong2020Fast_imported]")
    if len(set(ids)) != len(ids):
        raise BadInput(f"{where}: scale {scale!r}: zoo names a model twice")
    return list(ids)


def zoo_entries(ids: list[str], dataset: str, evaluation: dict, zoo_dir=None) -> list[ZooEntry]:
    """The zoo entries of `ids`, each of the recipe's data set and of a threat model its AutoAttack attacks."""
    from sam_bench.zoo import store  # the zoo is read only when a grid is about to run

    norms = sorted({b["norm"] for b in autoattack_budgets(evaluation.get("autoattack"))})
    entries = []
    for model_id in ids:
        entry = store.find_entry(model_id, zoo_dir)  # one line for an id the zoo does not hold
        if entry.dataset != FAMILY.get(dataset, dataset):
            raise BadInput(f"zoo model {model_id} is a {entry.dataset} model; this recipe evaluates {dataset}")
        if entry.threat_model not in norms:
            raise BadInput(
                f"zoo model {model_id} is a {entry.threat_model} model; this recipe's AutoAttack attacks "
                f"{' and '.join(norms) or 'no threat model'}"
            )
        entries.append(entry)
    return entries
