"""The weights a spot check (spot_check.py) measures again, and the sampled images it feeds them: on the device and
in the precision the results file was measured in, scored in true fp32 as `evaluate` scores, the attacks searching
in the math they were recorded with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from sam_bench.attacks.autoattack import predict
from sam_bench.attacks.invariants import check_adversarial_examples
from sam_bench.data import to_float
from sam_bench.evaluation.attack_spec import AttackSpec
from sam_bench.evaluation.attack_table import RUNNERS
from sam_bench.runtime import math_mode


@dataclass
class CheckedModel:
    """The weights a results file names, where and how they were measured."""

    net: torch.nn.Module
    device: torch.device
    search: str

    def predictions(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        with math_mode.evaluation():
            return predict(self.net, x.to(self.device), batch_size).cpu()

    def outcome(
        self, spec: AttackSpec, x, y, seed: int, attack: Callable | None = None
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(which images the attack leaves correct, per image the position of the attack that fooled it where the
        runner says: AutoAttack's): the attack's runner from `seed`, the caller's random state kept, or `attack`,
        (model, x, y, spec) -> adversarial images, where given (PGD from its replayed starts)."""
        x, y = x.to(self.device), y.to(self.device)
        devices = [self.device] if self.device.type == "cuda" else []
        fooled_at = None
        with math_mode.evaluation():
            with torch.random.fork_rng(devices=devices), math_mode.search(self.search), tqdm(disable=True) as bar:
                torch.manual_seed(seed)
                if attack is not None:
                    x_adv = attack(self.net, x, y, spec)
                else:
                    out = RUNNERS[spec.attack](self.net, x, y, spec, batch_size=len(x), bar=bar)
                    x_adv, fooled_at = out.x_adv, getattr(out, "fooled_at", None)
            check_adversarial_examples(x, x_adv, spec.eps, spec.norm)
            robust = (predict(self.net, x_adv, len(x)) == y).cpu().numpy()
        return robust, None if fooled_at is None else fooled_at.cpu().numpy()


def images(data, indices: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The sampled test images as `evaluate` feeds them to the model, with their labels."""
    return to_float(data.x_test[indices]), torch.from_numpy(np.asarray(data.y_test[indices], np.int64))


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
