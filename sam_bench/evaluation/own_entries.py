"""The results-file entries of a kind of threat model whose per-image outcomes are its own (the corruptions': one
record per corruption and severity, evaluation/corruption_outcomes.py), by the kind its record names
(threat_models.ThreatModel.kind): the fields it adds to an entry, the one of them that holds its outcomes in place
of `outcomes`, its check against them, and the figures and per-class accuracies derived from them. Every reader
and check of a results file asks here; a kind whose entries keep their outcomes in `outcomes` has none. Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sam_bench import threat_models
from sam_bench.evaluation import corruption_outcomes


@dataclass(frozen=True)
class OwnEntry:
    fields: tuple[str, ...]  # read as `Evaluation.<field>` (results_record.py)
    outcomes: str  # the field of them that holds its per-image outcomes
    check: Callable[[Mapping, str, str], None]  # (entry, where, fix): SamBenchError in one line where they differ
    derived: Callable[[Mapping], dict]  # the entry with its figures taken from its outcomes
    per_class: Callable  # (its outcomes, labels, number of classes) -> each class's accuracy


KINDS: dict[str, OwnEntry] = {
    threat_models.CORRUPTIONS: OwnEntry(
        fields=("corruption_set", "corruption_outcomes"),
        outcomes="corruption_outcomes",
        check=corruption_outcomes.check,
        derived=corruption_outcomes.derived,
        per_class=corruption_outcomes.per_class,
    ),
}


def of(threat_model: str | None) -> OwnEntry | None:
    """The own entry of a threat model's kind; None for one without (or a clean evaluation's norm, None)."""
    found = threat_models.TABLE.get(threat_model) if isinstance(threat_model, str) else None
    return KINDS.get(found.kind) if found is not None else None


def fields() -> tuple[str, ...]:
    """Every field of a results-file entry that belongs to a kind's own."""
    return tuple(f for kind in KINDS.values() for f in kind.fields)
