"""The weights a spot check (spot_check.py) measures again, and the sampled images it feeds them: measured by the
package's one `benchmark` (evaluators/__init__.py) on a test set of those images alone, on the device and in the
precision the results file was measured in, the attacks searching in the math they were recorded with."""

from __future__ import annotations

import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from sam_bench.attacks.autoattack import predict
from sam_bench.data import Dataset, to_float
from sam_bench.evaluation import outcomes
from sam_bench.evaluation.attack_spec import AttackSpec
from sam_bench.evaluation.attack_table import RUNNERS
from sam_bench.evaluation.evaluators import benchmark
from sam_bench.evaluation.model_ref import Bf16
from sam_bench.evaluation.runners import AttackOutput
from sam_bench.runtime import math_mode


@dataclass
class CheckedModel:
    """The weights a results file names (on its device), where and how they were measured."""

    net: torch.nn.Module
    device: torch.device
    search: str
    precision: str = "fp32"
    family: str = "cifar10"  # the test set's: its classes

    @property
    def measured(self) -> torch.nn.Module:
        """The network as it was measured: under bf16 autocast where the file says so."""
        return Bf16(self.net, self.device.type).eval() if self.precision == "bf16" else self.net

    def predictions(self, x: np.ndarray, batch_size: int) -> torch.Tensor:
        """The classes predicted for the images x (uint8, NHWC), outside `benchmark`: tools/draws_tolerance.py's."""
        with math_mode.evaluation():
            return predict(self.measured, to_float(x).to(self.device), batch_size).cpu()

    def results(self, x: np.ndarray, y: np.ndarray, attacks: list[AttackSpec], batch_size: int) -> dict:
        """What `benchmark` records of the images x (uint8, NHWC) with labels y in one chunk of `batch_size`-image
        batches (its warnings, an evaluation's own, are not the check's)."""
        test = Dataset("sample", self.family, x[:0], y[:0], x, y, "the images a spot check measures again")
        settings = dict(precision=self.precision, search_math=self.search, batch_size=batch_size, chunk_size=len(y))
        with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = Path(folder) / "results.json"
            found = benchmark("", None, attacks, test, str(self.device), out=out, loaded=(self.net, None), **settings)
        assert found is not None, "a spot check runs on one process"
        return found[1]

    def clean(self, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[np.ndarray, list[int]]:
        """(which of the images the weights classify correctly, their predictions counted per class): benchmark's
        clean pass, with no attack."""
        found = self.results(x, y, [], batch_size)
        return outcomes.decode(found["clean_outcomes"]), found["clean_prediction_counts"]

    def outcome(
        self, spec: AttackSpec, x, y, seed: int, attack: Callable | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(which of the images x (uint8, NHWC) with labels y the attack leaves correct, per image the position of
        the attack that fooled it where the runner says: AutoAttack's): benchmark in one batch, the draws a batch
        shares (AutoAttack's Square) from `seed`; or `attack`, (model, x, y, spec) -> adversarial images, where
        given (PGD from its replayed starts)."""
        fooled_at: list[torch.Tensor | None] = []

        def runner(net, x, y, spec, batch_size, bar) -> AttackOutput:
            torch.manual_seed(seed)  # in benchmark's forked random state
            if attack is not None:
                return AttackOutput(attack(net, x, y, spec))
            out = RUNNERS[spec.attack](net, x, y, spec, batch_size, bar)
            fooled_at.append(out.fooled_at)
            return out

        found = self.results(x, y, [replace(spec, runner=runner)], len(y))
        stage = fooled_at[0] if fooled_at else None
        return outcomes.decode(found["evaluations"][0]["outcomes"]), None if stage is None else stage.cpu().numpy()


def images(data, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sampled test images (uint8, NHWC, as the data set holds them), with their labels."""
    return data.x_test[indices], np.asarray(data.y_test[indices], np.int64)


def retried(model, spec: AttackSpec, images, recorded: np.ndarray, now: np.ndarray, retries: int, seed: int):
    """`now` after the images recorded fooled that the re-run left correct were attacked again, up to `retries`
    times, each from another seed of the attack (`settings.seed`): an image any try fools agrees with its record."""
    now = now.copy()
    for retry in range(1, retries + 1):
        left = np.flatnonzero(~recorded & now)
        if not len(left):
            break
        again = AttackSpec(spec.attack, spec.norm, spec.eps, {**spec.settings, "seed": int(spec.params.seed) + retry})
        x, y = images
        now[left] = model.outcome(again, x[left], y[left], seed=(seed + retry) % 2**31)[0]
    return now
