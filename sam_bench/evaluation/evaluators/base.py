"""What every evaluator offers: one model measured in a threat model of its kind, its results file written.

An evaluator serves every threat model whose record names its kind (threat_models.ThreatModel.kind): its own
`evaluate` options, the evaluation itself, what it measured in one line, and its own entries measured again
(`remeasure`). Torch-free: the CLI reads its options; what runs a model is imported when it runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a type only: the data module imports torch
    from sam_bench.data import Dataset


def percent(x) -> str:
    """An accuracy as `evaluate` prints it: 93.10% ('-' for none)."""
    return "-" if x is None else f"{100 * x:.2f}%"


@dataclass(frozen=True)
class Option:
    """An `evaluate` option of an evaluator's own: a choice among names."""

    name: str  # the parameter's name (`--` and dashes for the command line)
    choices: tuple[str, ...]
    default: str
    help: str


@dataclass
class Job:
    """One model to measure into one results file, as `sam_bench.benchmark` hands it to an evaluator."""

    model: str  # a run folder, a checkpoint or a zoo id
    out: Path
    attacks: list = field(default_factory=list)  # AttackSpecs (evaluation.specs.make_attacks), for a norm ball
    options: dict = field(default_factory=dict)  # its evaluator's own options (Evaluator.options), by name
    loaded: tuple | None = None  # (model, LoadedModel) already loaded from `model`
    data: Dataset | None = None  # the test set already loaded; None: the one the model was trained on
    n_examples: int | None = None
    data_dir: str | None = None
    zoo_dir: str | None = None
    device: str = "cpu"
    precision: str = "fp32"
    search_math: str = "tf32"
    batch_size: int | str = "auto"
    chunk_size: int | str = "auto"
    progress: bool = False
    stop_at: float | None = None
    state: Path | None = None  # where finished chunks are kept; None: beside `out` (chunk_state.state_path)
    earlier: dict | None = None  # results of the same weights already written: the evaluations they hold are kept
    recorded_ref: str | None = None  # how the results name a run where the caller knows a name any checkout finds
    extra: dict = field(default_factory=dict)  # fields the caller adds to the results (a reproduction's `reproduce`)
    replace: bool = False  # the caller owns `out`: replaced as it is, never moved to a free name


class Evaluator:
    kind: str  # the threat models it serves name it (ThreatModel.kind)
    words: str = ""  # what its evaluation is, as `evaluate --help` says it ("": the attacks')
    options: tuple[Option, ...] = ()
    submit_words: str = ""  # what `leaderboard submit` writes and refuses of its boards, as its --help says it

    def evaluate(self, job: Job) -> tuple[Path, dict] | None:
        """The model measured, its results written to `job.out` (or the next free name, where another evaluation
        wrote that meanwhile): (the path, the results); None on a process that writes nothing (a torchrun rank
        other than 0). EvaluationStopped where `job.stop_at` comes first, its finished chunks kept for the same
        call to continue."""
        raise NotImplementedError

    def said(self, results) -> str:
        """What `evaluate` says its results (results_record.Results) measured, before `wrote PATH` ("": its
        attacks' table says it)."""
        return ""

    def label(self, settings: dict) -> str:
        """How an entry of it is named beside its attack in a recheck: its own options' values."""
        return ", ".join(str(settings.get(o.name)) for o in self.options)

    def remeasure(self, model, evaluation, data, n: int, device, data_dir) -> tuple[dict, dict]:
        """Every image of an entry with outcomes of its own measured again: (the outcomes recorded, the outcomes
        now), each one record over its first `n` test images."""
        raise NotImplementedError(f"{self.kind}: its entries keep their outcomes in `outcomes`")
