"""The capturable training step: for every method of the table, the static step is the eager
step (fp64, several steps, the same random draws), it reads nothing back to the host and keeps every tensor
that outlives it at one address (what a CUDA graph needs), and a run trained with it checkpoints and
resumes to the weights of an uninterrupted one. The CUDA graph's order of calls (warm-up, capture, replay)
is checked with a backend that records it; the capture itself needs a GPU (tests/test_gpu.py)."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from tiny_training import tiny
from torch.utils._python_dispatch import TorchDispatchMode

from sam_bench.errors import BadInput
from sam_bench.training import method_table, methods, static_step
from sam_bench.training.config import TrainConfig
from sam_bench.training.cuda_graph import WARMUP, GraphedStep
from sam_bench.training.loop import build_optimizer, train
from sam_bench.training.method_table import Method
from sam_bench.training.static_step import StaticStep, step_generator


def small_model() -> torch.nn.Module:
    """Convolution, BatchNorm (its running statistics must move in the first pass only) and a head, fp64."""
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1),
        torch.nn.BatchNorm2d(6),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(24, 10),
    ).double()


def config(method: str, norm: str = "Linf") -> TrainConfig:
    record = method_table.method(method)
    steps = 3 if record.attack == "pgd" else TrainConfig.attack_steps
    return TrainConfig(method=method, attack_norm=norm, attack_steps=steps, lr=0.1).validate()


def batches(n: int = 4):
    g = torch.Generator().manual_seed(1)
    return [
        (torch.rand(8, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 10, (8,), generator=g))
        for _ in range(n)
    ]


def eager_and_static(method: str, norm: str = "Linf"):
    cfg = config(method, norm)
    eager_model = small_model().train()
    static_model = copy.deepcopy(eager_model)
    eager_opt, static_opt = build_optimizer(cfg, eager_model), build_optimizer(cfg, static_model)
    eager_draws, static_draws = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    static = StaticStep(method, static_model, static_opt, cfg.attack(), static_draws)
    return cfg, (eager_model, eager_opt, eager_draws), (static_model, static_opt, static), static


# Methods whose step of their own has no capturable body yet (TRADES and AWP): --step-mode static or
# graph refuses them in one line. Pinned, so that a method added with a step of its own is noticed here.
EAGER_ONLY = {"trades", "awp-at", "awp-trades"}


def capturable_methods() -> list[str]:
    return [name for name in method_table.TABLE if name not in EAGER_ONLY]


def test_the_methods_without_a_capturable_step_are_these_and_are_refused_in_one_line():
    assert {name for name in method_table.TABLE if not static_step.capturable(name)} == EAGER_ONLY
    for name in sorted(EAGER_ONLY):
        with pytest.raises(BadInput, match=f"{name} has a step of its own and no capturable one"):
            StaticStep(name, small_model(), None, None, torch.Generator())


@pytest.mark.parametrize("mode", ["static", "graph"])
def test_a_setting_that_asks_a_step_mode_of_a_method_without_one_is_refused_where_it_is_read(mode):
    """Refused by the settings themselves, so a recipe that asks it fails when it is read, not minutes
    into a run: paper-cifar10's full scale set graph for every model, TRADES and AWP included."""
    for name in sorted(EAGER_ONLY):
        with pytest.raises(BadInput, match=f"^{name} has a step of its own and no capturable one"):
            TrainConfig(method=name, step_mode=mode).validate()
    assert TrainConfig(method="sam", step_mode=mode).validate().step_mode == mode


def the_table_and_l2():
    cases = [pytest.param(name, "Linf", id=name) for name in capturable_methods()]
    # an L2 attack draws its start otherwise (a direction and a radius): one PGD method of the table in L2
    cases += [pytest.param(n, "L2", id=f"{n}-L2") for n, m in method_table.TABLE.items() if m.attack == "pgd"][:1]
    return cases


@pytest.mark.parametrize("method, norm", the_table_and_l2())
def test_the_static_step_is_the_eager_step_for_every_method(method, norm):
    """Read from the table at collection: a method added to it is compared here too (one with a step of its
    own gives its capturable body in static_step.BODIES, or joins EAGER_ONLY, or this fails naming it)."""
    assert static_step.capturable(method), f"{method} has a step of its own: give its capturable body in BODIES"
    cfg, (model, opt, draws), (static_model, static_opt, static), _ = eager_and_static(method, norm)
    attack = cfg.attack()
    for i, (x, y) in enumerate(batches()):
        lr = 0.1 / (i + 1)  # the learning rate changes between steps: read from the device, not baked in
        for group in opt.param_groups:
            group["lr"] = lr
        start = methods.attack_start(method, x, attack, draws) if attack is not None else None
        loss, logits = methods.train_step(method, model, opt, x, y, attack, start=start)
        static_loss, static_logits = static(x, y, lr)
        torch.testing.assert_close(static_loss, loss, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(static_logits, logits, rtol=1e-12, atol=1e-12)
    # weights, BatchNorm's running statistics and step counts, momentum: the same after 4 steps
    for (name, a), (_, b) in zip(model.state_dict().items(), static_model.state_dict().items()):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12, msg=lambda m, name=name: f"{name}: {m}")
    torch.testing.assert_close(static_opt.state_dict(), opt.state_dict(), rtol=1e-10, atol=1e-12)
    assert draws.get_state().equal(static.generator.get_state())  # as many draws, from the run's generator


# What reads a device value on the host (an .item(), a bool of a tensor, a shape that depends on values)
HOST_READS = {"_local_scalar_dense", "item", "is_nonzero", "nonzero", "equal", "masked_select", "unique"}


class Ops(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.names.add(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize("method", capturable_methods())
def test_the_static_step_reads_nothing_back_and_keeps_its_tensors_in_place(method):
    _, _, (model, opt, static), _ = eager_and_static(method)
    data = batches(3)
    static(*data[0], 0.1)  # the input buffers are made at the first batch

    def addresses():
        kept = [*model.parameters(), *model.buffers(), static.lr, static.x, static.y]
        kept += [
            s["momentum_buffer"] for s in (opt.base_optimizer if hasattr(opt, "base_optimizer") else opt).state.values()
        ]
        kept += getattr(static, "w", []) + getattr(static, "e", [])
        return [t.data_ptr() for t in kept]

    before, state_keys = addresses(), {k: set(v) for k, v in opt.state.items()}
    for x, y in data[1:]:
        with Ops() as ops:
            static(x, y, 0.05)
        assert ops.names, "the dispatch mode saw the step's operations"
        assert not ops.names & HOST_READS, f"{method}: the static step reads the device: {ops.names & HOST_READS}"
    assert addresses() == before  # nothing re-made: a CUDA graph replays on the addresses it recorded
    assert {k: set(v) for k, v in opt.state.items()} == state_keys  # and the optimizer's state holds no new entry


def test_a_method_with_its_own_step_needs_its_capturable_body(monkeypatch):
    record = Method("sgd-twice", "SGD twice", "SGDTwice", "two SGD steps per batch", passes=2)
    monkeypatch.setitem(method_table.TABLE, "sgd-twice", record)
    monkeypatch.setitem(methods.STEPS, "sgd-twice", lambda *a, **k: None)
    model = small_model()
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(
        BadInput, match="sgd-twice has a step of its own and no capturable one; train it with --step-mode eager"
    ):
        StaticStep("sgd-twice", model, opt, None, torch.Generator())

    def twice(step, x, y):  # its capturable body, from the static step's parts
        step.descend(step.gradients(step.loss(x, y)[0]))
        loss, logits = step.loss(x, y)
        step.descend(step.gradients(loss))
        return loss.detach(), logits.detach()

    monkeypatch.setitem(static_step.BODIES, "sgd-twice", twice)
    twin = copy.deepcopy(model)
    twin_opt = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9)
    x, y = batches(1)[0]
    StaticStep("sgd-twice", model, opt, None, torch.Generator())(x, y, 0.1)
    methods.sgd_step(twin, twin_opt, x, y)
    methods.sgd_step(twin, twin_opt, x, y)
    for a, b in zip(model.parameters(), twin.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


class RecordingBackend:
    """What GraphedStep asks of the device, in order; a 'graph' replays the function it captured."""

    def __init__(self):
        self.calls: list[str] = []

    def warm(self, fn):
        self.calls.append("warm")
        return fn()

    def capture(self, fn, generator):
        self.calls.append("capture")
        return fn, None  # capturing runs nothing: the replay that follows takes the step

    def replay(self, graph):
        self.calls.append("replay")
        graph()


def test_the_graphed_step_warms_up_captures_once_and_replays_every_step_once():
    _, (model, opt, draws), (static_model, _, static), _ = eager_and_static("sam")
    graphed = GraphedStep(static, RecordingBackend())
    data = batches(WARMUP + 3)
    for i, (x, y) in enumerate(data):
        lr = 0.1 / (i + 1)
        for group in opt.param_groups:
            group["lr"] = lr
        methods.train_step("sam", model, opt, x, y)
        graphed(x, y, lr)
    # every call one real step: as many steps as the eager run took, to the same weights
    assert graphed.backend.calls == ["warm"] * WARMUP + ["capture", "replay", "replay", "replay"]
    for a, b in zip(model.parameters(), static_model.parameters()):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    with pytest.raises(Exception, match="a CUDA graph of batches .* cannot take a batch \\(4, 3, 8, 8\\)"):
        graphed(data[0][0][:4], data[0][1][:4], 0.1)


def test_the_step_generator_is_the_runs_own():
    assert (
        step_generator(0, torch.device("cpu")).initial_seed() != step_generator(1, torch.device("cpu")).initial_seed()
    )
    assert (
        step_generator(3, torch.device("cpu")).initial_seed() == step_generator(3, torch.device("cpu")).initial_seed()
    )
    assert step_generator(0, torch.device("cpu")).initial_seed() != 0  # not the stream torch.manual_seed(0) starts


def test_a_static_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path):
    """The run's generator is checkpointed: AT (its PGD draws from it) stopped after one epoch and resumed
    ends where the uninterrupted run ends; and the static run's settings key names its step mode."""
    from sam_bench.recipes.recipe import settings_key

    cfg = dict(method="at", attack_steps=2, step_mode="static", epochs=2, checkpoint_every_s=0)
    whole = train(tiny(**cfg), tmp_path / "whole", progress=False)
    train(tiny(**cfg), tmp_path / "split", progress=False, stop_after_epochs=1)
    split = train(tiny(**cfg), tmp_path / "split", resume=True, progress=False)
    assert whole["weights_sha256"] == split["weights_sha256"]
    assert whole["config"]["step_mode"] == "static"
    eager = train(tiny(**{**cfg, "step_mode": "eager"}), tmp_path / "eager", progress=False)
    assert eager["weights_sha256"] != whole["weights_sha256"]  # other draws: another run, another key
    assert settings_key(tiny(**cfg).validate()) != settings_key(tiny(**{**cfg, "step_mode": "eager"}).validate())
    assert json.loads((tmp_path / "whole" / "metadata.json").read_text())["status"] == "complete"


def test_step_modes_that_cannot_run_are_refused_in_one_line(tmp_path):
    with pytest.raises(BadInput, match="--step-mode graph captures CUDA graphs: it needs a CUDA device, not cpu"):
        train(tiny(step_mode="graph"), tmp_path / "graph", progress=False)
    with pytest.raises(BadInput, match="--step-mode graph captures the step itself; leave --compile off"):
        tiny(step_mode="graph", compile=True).validate()
    with pytest.raises(BadInput, match='--step-mode: "jit" is not one of "eager", "static", "graph"'):
        tiny(step_mode="jit").validate()
    assert not (tmp_path / "graph").exists() or not any((tmp_path / "graph").iterdir())


def test_every_committed_runs_settings_key_stands():
    """step_mode joined the settings after every committed run: an eager run's key is made as before."""
    from pathlib import Path

    from sam_bench.recipes.recipe import settings_key

    plans = sorted(Path(__file__).resolve().parent.parent.glob("reproductions/*/plan.json"))
    models = [m for plan in plans for m in json.loads(plan.read_text())["models"]]
    assert len(models) > 50
    assert all(settings_key(TrainConfig.from_dict(m["config"])) == m["key"] for m in models)
