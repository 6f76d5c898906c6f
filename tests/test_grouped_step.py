"""Several seeds as one network: the grouped step is N separate static steps, in fp64, over
several steps, for every method it takes, with each model's own batches, initialisation, SAM rho and attack
budget; BatchNorm's running statistics, step counts and momentum included."""

from __future__ import annotations

import copy

import pytest
import torch

from sam_bench.errors import BadInput
from sam_bench.models import create_model, make_spec
from sam_bench.training import method_table
from sam_bench.training.config import TrainConfig
from sam_bench.training.grouped_step import GroupedStep, groupable
from sam_bench.training.loop import build_optimizer
from sam_bench.training.static_step import StaticStep, step_generator

N = 3
RHOS = (0.05, 0.1, 0.4)  # each model its own SAM rho
EPS = ("1/255", "2/255", "4/255")  # and its own attack budget
L2_EPS = ("0.1", "0.25", "0.5")


def small_model(seed: int) -> torch.nn.Module:
    """Convolution, BatchNorm and a head, fp64; each seed its own initialisation."""
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 6, 3, padding=1),
        torch.nn.BatchNorm2d(6),
        torch.nn.ReLU(),
        torch.nn.Conv2d(6, 6, 3, padding=1),
        torch.nn.BatchNorm2d(6),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(24, 10),
    ).double()


def config(method: str, i: int, norm: str) -> TrainConfig:
    record = method_table.method(method)
    settings: dict = dict(method=method, lr=0.1, seed=i)
    if record.sam:
        settings["rho"] = RHOS[i]
    if record.attack is not None:
        settings.update(attack_norm=norm, attack_eps=(EPS if norm == "Linf" else L2_EPS)[i])
        if record.attack == "pgd":
            settings["attack_steps"] = 3
    return TrainConfig(**settings).validate()


def batches(i: int, n: int = 4):
    g = torch.Generator().manual_seed(100 + i)  # each model its own data
    return [
        (torch.rand(8, 3, 8, 8, generator=g, dtype=torch.float64), torch.randint(0, 10, (8,), generator=g))
        for _ in range(n)
    ]


def groupable_methods():
    cases = [pytest.param(name, "Linf", id=name) for name in method_table.TABLE if groupable(name)]
    cases += [
        pytest.param(n, "L2", id=f"{n}-L2") for n, m in method_table.TABLE.items() if m.attack == "pgd" and groupable(n)
    ]
    return cases


@pytest.mark.parametrize("method, norm", groupable_methods())
def test_the_grouped_step_is_n_static_steps(method, norm):
    cfgs = [config(method, i, norm) for i in range(N)]
    alone = [small_model(10 + i).train() for i in range(N)]
    grouped = [small_model(10 + i).train() for i in range(N)]
    alone_opts = [build_optimizer(c, m) for c, m in zip(cfgs, alone)]
    grouped_opts = [build_optimizer(c, m) for c, m in zip(cfgs, grouped)]
    statics = [
        StaticStep(method, m, o, c.attack(), step_generator(c.seed, torch.device("cpu")))
        for c, m, o in zip(cfgs, alone, alone_opts)
    ]
    generators = [step_generator(c.seed, torch.device("cpu")) for c in cfgs]
    group = GroupedStep(method, grouped, grouped_opts, [c.attack() for c in cfgs], generators)
    data = [batches(i) for i in range(N)]
    for k in range(4):
        lr = 0.1 / (k + 1)
        xs = torch.stack([data[i][k][0] for i in range(N)])
        ys = torch.stack([data[i][k][1] for i in range(N)])
        losses, logits = group(xs, ys, lr)
        for i in range(N):
            loss, model_logits = statics[i](data[i][k][0], data[i][k][1], lr)
            torch.testing.assert_close(losses[i], loss, rtol=1e-10, atol=1e-12)
            torch.testing.assert_close(logits[i], model_logits, rtol=1e-10, atol=1e-12)
    group.sync()
    for i in range(N):
        for (name, a), (_, b) in zip(alone[i].state_dict().items(), grouped[i].state_dict().items()):
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-11, msg=lambda m, name=name, i=i: f"{i} {name}: {m}")
        torch.testing.assert_close(grouped_opts[i].state_dict(), alone_opts[i].state_dict(), rtol=1e-9, atol=1e-11)
        assert generators[i].get_state().equal(statics[i].generator.get_state())  # the same draws, as many


def test_a_grouped_run_can_continue_from_its_models_after_sync_and_load():
    """sync() then load() (a checkpoint written, a run resumed) changes nothing of what the group trains next."""
    method, cfgs = "sam", [config("sam", i, "Linf") for i in range(N)]
    twins = []
    for _ in range(2):
        models = [small_model(10 + i).train() for i in range(N)]
        opts = [build_optimizer(c, m) for c, m in zip(cfgs, models)]
        gens = [step_generator(c.seed, torch.device("cpu")) for c in cfgs]
        twins.append((models, GroupedStep(method, models, opts, [None] * N, gens)))
    data = [batches(i) for i in range(N)]
    for k in range(4):
        xs = torch.stack([data[i][k][0] for i in range(N)])
        ys = torch.stack([data[i][k][1] for i in range(N)])
        for j, (_, group) in enumerate(twins):
            if j == 1 and k == 2:
                group.sync()
                group.load()
            group(xs, ys, 0.05)
    for _, group in twins:
        group.sync()
    for a, b in zip(twins[0][0], twins[1][0]):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            assert torch.equal(x, y), name


def test_what_a_group_cannot_train_is_refused_in_one_line():
    for name in method_table.TABLE:
        if not groupable(name):
            with pytest.raises(BadInput, match=f"{name} has a step of its own; it cannot train grouped"):
                GroupedStep(name, [small_model(0)], [None], [None], [torch.Generator()])
    models = [small_model(0), small_model(1)]
    opts = [
        torch.optim.SGD(models[0].parameters(), lr=0.1, momentum=0.9),
        torch.optim.SGD(models[1].parameters(), lr=0.1, momentum=0.5),
    ]
    with pytest.raises(BadInput, match="differ in momentum or weight decay"):
        GroupedStep("standard", models, opts, [None, None], [torch.Generator(), torch.Generator()])
    cfgs = [config("at", 0, "Linf"), config("at", 1, "L2")]
    opts = [build_optimizer(c, m) for c, m in zip(cfgs, models)]
    with pytest.raises(BadInput, match="differ in their attack's norm"):
        GroupedStep("at", models, opts, [c.attack() for c in cfgs], [torch.Generator(), torch.Generator()])


def test_the_grouped_step_is_n_static_steps_on_preactresnet18():
    """The architecture the runs train (normalization inside, pre-activation blocks, shortcuts), fp64, SAM."""
    spec = make_spec("preactresnet18", 10, (0.49, 0.48, 0.45), (0.25, 0.24, 0.26), 0.125, None)
    cfgs = [config("sam", i, "Linf") for i in range(2)]
    alone = []
    for i in range(2):
        torch.manual_seed(i)
        alone.append(create_model(spec).double().train())
    grouped = [copy.deepcopy(m) for m in alone]
    cpu = torch.device("cpu")
    statics = [
        StaticStep("sam", m, build_optimizer(c, m), None, step_generator(c.seed, cpu)) for c, m in zip(cfgs, alone)
    ]
    opts = [build_optimizer(c, m) for c, m in zip(cfgs, grouped)]
    group = GroupedStep("sam", grouped, opts, [None, None], [step_generator(c.seed, cpu) for c in cfgs])
    g = torch.Generator().manual_seed(0)
    for _ in range(3):
        xs = torch.rand(2, 16, 3, 32, 32, generator=g, dtype=torch.float64)
        ys = torch.randint(0, 10, (2, 16), generator=g)
        group(xs, ys, 0.05)
        for i in range(2):
            statics[i](xs[i], ys[i], 0.05)
    group.sync()
    for a, b in zip(alone, grouped):
        for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
            torch.testing.assert_close(y, x, rtol=1e-9, atol=1e-11, msg=lambda m, name=name: f"{name}: {m}")
