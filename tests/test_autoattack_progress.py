"""AutoAttack's progress bar moves by work, not by attacks started (sam_bench.evaluation.autoattack_progress): each
attack weighed by its forward passes per image times the images it attacks, so that the bar's rate and ETA hold
while the cheap APGD-CE runs before the long FAB-T and Square. Time here is an injected clock: each simulated
attack advances it by its forward passes, never real time."""

from __future__ import annotations

import torch

from sam_bench.attacks.autoattack import AutoAttackResult, forward_passes_by_attack
from sam_bench.evaluation import runners
from sam_bench.evaluation.autoattack_progress import ChunkProgress
from sam_bench.evaluation.specs import make_attacks


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def now(self) -> float:
        return self.t


def _simulate(images, costs, attacked, seconds_per_pass=0.001):
    """(position, time) at each attack's start, the ETA a bar computes there from its rate, and the true time
    left: attack i runs on attacked[i] images and takes its forward passes on them."""
    clock, progress, seen = FakeClock(), ChunkProgress(images, costs), []
    for name, n in zip(costs, attacked):
        seen.append((progress.position(name, n), clock.now()))
        clock.t += costs[name] * n * seconds_per_pass
    end = clock.now()
    etas = [(t / p * (images - p), end - t) for p, t in seen if p > 0]  # tqdm's ETA: elapsed / rate of progress
    return [p for p, _ in seen], etas


def test_standard_autoattack_weighs_each_attack_by_its_forward_passes_and_the_eta_holds():
    costs = forward_passes_by_attack("standard", "Linf", None, 1, 10)
    assert list(costs) == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert costs["apgd-ce"] < costs["fab-t"] and costs["apgd-ce"] < costs["square"]
    # 100 images, 40 classified correctly; APGD-CE fools 10 of them and the later attacks none: the usual case
    positions, etas = _simulate(100, costs, [40, 30, 30, 30])
    assert positions[0] == 0 and positions == sorted(positions) and positions[-1] < 100
    assert len(etas) == 3
    for eta, left in etas:
        assert abs(eta - left) <= 1e-6 * left  # exact when the later attacks fool nothing
    # moving by attacks started would put the bar at 25% after APGD-CE, which took a few percent of the time
    assert positions[1] < 10


def test_the_bar_never_runs_ahead_of_the_work_when_later_attacks_fool_images():
    costs = forward_passes_by_attack("standard", "Linf", None, 1, 10)
    positions, etas = _simulate(100, costs, [50, 40, 20, 5])
    assert positions == sorted(positions) and all(0 <= p <= 100 for p in positions)
    for eta, left in etas:
        assert eta >= left * (
            1 - 1e-9
        )  # the work still to come is counted on the images robust now: the most it can be


def test_a_chunk_with_nothing_to_attack_is_complete():
    assert ChunkProgress(0, {"apgd-ce": 300}).position("apgd-ce", 0) == 0


def test_the_runner_gives_the_bar_these_positions_in_images(monkeypatch):
    (spec,) = make_attacks("autoattack", "Linf", ["8/255"], version="custom", attacks=["apgd-ce", "square"])
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 10))
    x, y = torch.rand(8, 3, 4, 4), torch.zeros(8, dtype=torch.long)

    def fake_autoattack(model, x, y, *, on_attack, **kwargs):
        on_attack("apgd-ce", 6)
        on_attack("square", 4)
        return AutoAttackResult(x, y, {"clean": 6, "apgd-ce": 4, "square": 4}, ["apgd-ce", "square"], [])

    class Bar:
        def __init__(self):
            self.n, self.positions = 0, []

        def update(self, k):
            self.n += k
            self.positions.append(self.n)

        def set_postfix_str(self, s):
            pass

    monkeypatch.setattr(runners, "autoattack", fake_autoattack)
    bar = Bar()
    runners.run_autoattack(model, x, y, spec, 8, bar)
    costs = forward_passes_by_attack("custom", "Linf", ["apgd-ce", "square"], 1, 10)
    done = costs["apgd-ce"] * 6
    expected = round(8 * done / (done + costs["square"] * 4))
    assert bar.positions == [0, expected, 8]
