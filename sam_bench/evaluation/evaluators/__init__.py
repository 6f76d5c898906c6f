"""`benchmark`: a model measured in a threat model into a results file (RobustBench's `benchmark`, exposed as
`sam_bench.benchmark`), the one call that `evaluate`, `reproduce`, `recheck`, the extension tests and the spot check
make.

    path, results = benchmark("runs/ST-abc", "Linf", make_attacks("autoattack", "Linf"), out="results/st.json")

The evaluator is picked here by the kind the threat model's record names; a new kind is its module, imported here."""

from __future__ import annotations

from pathlib import Path

from sam_bench import threat_models
from sam_bench.evaluation.evaluators import corruptions, norm_ball
from sam_bench.evaluation.evaluators.base import Evaluator, Job

EVALUATORS: dict[str, Evaluator] = {e.kind: e for e in (norm_ball.EVALUATOR, corruptions.EVALUATOR)}


def of(threat_model: str | None) -> Evaluator:
    """The evaluator of a threat model (BadInput for a name no record has); None: the norm ball's, each attack in
    the ball its spec names (a recipe's evaluation, Linf and L2 in one results file)."""
    kind = threat_models.NORM_BALL if threat_model is None else threat_models.threat_model(threat_model).kind
    return EVALUATORS[kind]


def benchmark(
    model: str,
    threat_model: str | None = threat_models.LINF,
    attacks=(),
    data=None,
    device: str = "cpu",
    *,
    out,
    **settings,
) -> tuple[Path, dict] | None:
    """`model` (a run folder, a checkpoint or a zoo id) measured in `threat_model` by `attacks` (AttackSpecs, for a norm
    ball; none: its clean pass alone) on `data` (a data.Dataset; None: the test set the model was trained on) on
    `device`, its results written to `out`: (the path written, the results); None on a torchrun rank other than 0.
    `settings`: the rest of a Job (evaluators/base.py): its evaluator's own options, images, sizes, precision, a time
    limit, ... Refused in one line (BadInput) for a threat model no record has."""
    job = Job(model, Path(out), list(attacks), data=data, device=device, **settings)
    return of(threat_model).evaluate(job)
