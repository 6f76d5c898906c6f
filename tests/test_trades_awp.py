"""TRADES and AWP, checked in fp64 on a tiny model with BatchNorm: TRADES with beta 0 takes ST's step on
the clean images; AWP with gamma 0 (or before its warm-up ends) takes its base method's step; AWP's step is its
base method's update computed at w + v (v by hand: layer-wise gamma ||w_l|| g_l / ||g_l||) and applied from w;
its ascent pass leaves BatchNorm's running statistics alone, its descent pass at w + v updates them."""

import pytest
import torch
import torch.nn.functional as F

from sam_bench.errors import BadInput
from sam_bench.recipes.recipe import load_recipe
from sam_bench.training import awp, method_table, methods, trades
from sam_bench.training.config import TrainConfig
from sam_bench.zoo.store import method_name, suggest_id

ATTACK = {"eps": 8 / 255, "norm": "Linf", "steps": 3, "step_size": 2 / 255}


def tiny_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 6 * 6, 5),
    )
    return model.double().train()


def batch():
    g = torch.Generator().manual_seed(1)
    return torch.rand(8, 3, 6, 6, generator=g, dtype=torch.float64), torch.randint(0, 5, (8,), generator=g)


def optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)


def step(method, model, seed=3, **kwargs):
    x, y = batch()
    torch.manual_seed(seed)  # the attack's random start
    loss, logits = methods.train_step(method, model, optimizer(model), x, y, **kwargs)
    return loss, logits


def same(a: torch.nn.Module, b: torch.nn.Module, buffers: bool = True) -> bool:
    pairs = list(zip(a.parameters(), b.parameters())) + (list(zip(a.buffers(), b.buffers())) if buffers else [])
    return all(torch.equal(p, q) for p, q in pairs)


def test_trades_with_beta_zero_takes_st_step_on_the_clean_images():
    st, tr = tiny_model(), tiny_model()
    loss_st, logits_st = step("standard", st)
    loss_tr, logits_tr = step("trades", tr, attack=ATTACK, settings={"beta": 0.0})
    assert torch.equal(loss_st, loss_tr) and torch.equal(logits_st, logits_tr)
    # the weights are ST's bit for bit; BatchNorm's running statistics also saw the adversarial batch of
    # TRADES' loss (as in TRADES' own code), so they are not ST's
    assert same(st, tr, buffers=False) and not same(st, tr)
    with_beta = tiny_model()
    step("trades", with_beta, attack=ATTACK, settings={"beta": 6.0})
    assert not same(st, with_beta, buffers=False)


def test_trades_attack_stays_in_the_ball_and_ascends_the_kl_term():
    model, (x, _) = tiny_model(), batch()
    torch.manual_seed(3)
    start = trades.attack_start(x)
    assert 0.0005 < start.std().item() < 0.002  # TRADES' N(0, 0.001^2)
    x_adv = trades.examples(model, x, ATTACK, start)
    assert (x_adv - x).abs().max() <= ATTACK["eps"] + 1e-12 and x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        clean = F.softmax(model(x), 1)
        kl = [F.kl_div(F.log_softmax(model(z), 1), clean, reduction="sum").item() for z in ((x + start), x_adv)]
    assert kl[1] > kl[0]
    before = [b.clone() for b in model.buffers()]
    trades.examples(model, x, ATTACK, start)
    assert all(torch.equal(a, b) for a, b in zip(before, model.buffers()))  # the attack leaves BatchNorm alone


@pytest.mark.parametrize("method,base,settings", [("awp-at", "at", {}), ("awp-trades", "trades", {"beta": 6.0})])
def test_awp_with_gamma_zero_or_in_its_warmup_takes_its_base_step(method, base, settings):
    reference = tiny_model()
    loss_base, logits_base = step(base, reference, attack=ATTACK, settings=settings)
    for gamma in (0.0, None):  # None: the warm-up's epochs
        model = tiny_model()
        loss, logits = step(method, model, attack=ATTACK, settings={**settings, "awp_gamma": gamma})
        assert same(model, reference) and torch.equal(loss, loss_base) and torch.equal(logits, logits_base), gamma


def _by_hand(method: str, gamma: float, settings: dict) -> torch.nn.Module:
    """AWP's step written out: the base method's examples, v from the loss's gradient at w with BatchNorm's
    running statistics kept, the base loss's gradient at w + v, the weights put back to w, the optimizer's step."""
    model, (x, y) = tiny_model(), batch()
    opt = optimizer(model)
    torch.manual_seed(3)
    if method == "awp-at":
        x_adv = methods.adversarial_examples(model, x, y, ATTACK)

        def loss():
            return F.cross_entropy(model(x_adv), y)
    else:
        x_adv = trades.examples(model, x, ATTACK, trades.attack_start(x))

        def loss():
            clean, adversarial = model(x), model(x_adv)
            return F.cross_entropy(clean, y) + settings["beta"] * F.kl_div(
                F.log_softmax(adversarial, 1), F.softmax(clean, 1), reduction="batchmean"
            )

    weights = [model[0].weight, model[4].weight]  # the conv and linear weights; not biases, not BatchNorm's
    kept = [b.clone() for b in model.buffers()]
    grads = torch.autograd.grad(loss(), weights)
    with torch.no_grad():
        for b, k in zip(model.buffers(), kept):  # the ascent pass is no training pass
            b.copy_(k)
        w = [p.clone() for p in weights]
        for p, g in zip(weights, grads):
            p.add_(gamma * p.norm() / g.norm() * g)
    opt.zero_grad()
    loss().backward()
    with torch.no_grad():
        for p, saved in zip(weights, w):
            p.copy_(saved)
    opt.step()
    return model


@pytest.mark.parametrize("method,base,settings", [("awp-at", "at", {}), ("awp-trades", "trades", {"beta": 6.0})])
def test_awp_is_its_base_update_at_the_perturbed_point_applied_from_w(method, base, settings):
    gamma = 0.05
    model = tiny_model()
    step(method, model, attack=ATTACK, settings={**settings, "awp_gamma": gamma})
    expected = _by_hand(method, gamma, settings)
    for p, q in zip(model.parameters(), expected.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12)
    for p, q in zip(model.buffers(), expected.buffers()):  # running statistics: the descent's pass at w + v
        torch.testing.assert_close(p, q, rtol=0, atol=1e-12)
    unperturbed = tiny_model()
    step(base, unperturbed, attack=ATTACK, settings=settings)
    assert not same(model, unperturbed, buffers=False)  # the perturbation changed the step


def test_the_perturbation_is_layer_wise_and_removed_exactly():
    model, (x, y) = tiny_model(), batch()
    w = [p.clone() for p in model.parameters()]
    buffers = [b.clone() for b in model.buffers()]
    layers = awp.layers(model)
    assert [p.shape for p in layers] == [model[0].weight.shape, model[4].weight.shape]
    with awp.perturbed(model, lambda: F.cross_entropy(model(x), y), 0.01) as v:
        for p, e in zip(layers, v):
            torch.testing.assert_close(e.norm(), 0.01 * p.detach().sub(e).norm(), rtol=1e-12, atol=0)
        assert not torch.equal(model[0].weight, w[0]) and torch.equal(model[0].bias, w[1])  # biases stay
        assert all(torch.equal(a, b) for a, b in zip(buffers, model.buffers()))  # the ascent left BatchNorm alone
        assert all(p.grad is None for p in model.parameters())  # nor did it leave gradients behind
    assert all(torch.equal(a, b) for a, b in zip(w, model.parameters()))  # back exactly at w


def test_the_settings_come_from_the_table_and_the_warmup_from_the_epoch():
    table = method_table.TABLE
    assert table["trades"].default_beta == table["awp-trades"].default_beta == 6.0
    assert table["awp-at"].awp == method_table.WeightPerturbation(gamma=5e-3, warmup=0)
    assert table["awp-trades"].awp == method_table.WeightPerturbation(gamma=5e-3, warmup=10)
    passes = {m: method_table.passes_per_step(m, 10) for m in ("at", "trades", "awp-at", "awp-trades", "sam-at")}
    assert passes == {"at": 11, "trades": 12, "awp-at": 12, "awp-trades": 14, "sam-at": 12}
    cfg = TrainConfig(method="awp-trades").validate()
    assert (cfg.beta, cfg.awp_gamma, cfg.awp_warmup) == (6.0, 5e-3, 10)
    assert cfg.step_settings(9) == {"beta": 6.0, "awp_gamma": None} and cfg.step_settings(10)["awp_gamma"] == 5e-3
    assert TrainConfig(method="trades").validate().step_settings(0) == {"beta": 6.0}
    assert TrainConfig(method="at").validate().step_settings(0) == {}
    with pytest.raises(BadInput, match="--awp-gamma applies to awp-at and awp-trades, not to trades"):
        TrainConfig(method="trades", awp_gamma=0.01).validate()
    with pytest.raises(BadInput, match="--beta applies to trades and awp-trades, not to at"):
        TrainConfig(method="at", beta=1.0).validate()


def test_several_processes_are_refused():
    x, y = batch()
    for method in ("trades", "awp-at", "awp-trades"):
        with pytest.raises(BadInput, match=f"{method} trains in one process only"):
            methods.train_step(method, tiny_model(), None, x, y, ATTACK, shard=object(), settings={"beta": 6.0})


def test_zoo_names_and_ids():
    meta = {
        "arch": {"arch": "preactresnet18", "width": 1.0},
        "dataset": {"name": "cifar10", "family": "cifar10"},
    }
    cfg = TrainConfig(method="awp-trades", dataset="cifar10").validate().__dict__
    assert suggest_id({**meta, "config": cfg}, 2026) == "SamBench2026TRADESAWP_PRN18_beta6_gamma0.005_Linf-8"
    assert method_name(cfg) == "TRADES-AWP (beta=6, gamma=0.005 after 10 epochs, Linf eps=8/255, 10 steps)"
    cfg = TrainConfig(method="awp-at", dataset="cifar10").validate().__dict__
    assert suggest_id({**meta, "config": cfg}, 2026) == "SamBench2026ATAWP_PRN18_gamma0.005_Linf-8"
    assert method_name(cfg) == "AT-AWP (gamma=0.005, Linf eps=8/255, 10 steps)"
    cfg = TrainConfig(method="trades", dataset="cifar10").validate().__dict__
    assert suggest_id({**meta, "config": cfg}, 2026) == "SamBench2026TRADES_PRN18_beta6_Linf-8"


# The full scale's run ids of its models other than TRADES and AWP: adding those two may change none of them.
# The step mode the GPU probe picked (graph) is part of a run's key; it is set in the scale, so these ids are
# graph's.
FULL_BEFORE = [
    "ST-2f379c4eaf",
    "SAM-0.1-8926c350fe",
    "SAM-0.4-9d3d788d20",
    "AT-Linf-8-c6e37b11c0",
    "AT-Linf-2-aca8e6dccc",
    "SAM-0.05-010a58a1ef",
    "SAM-0.2-b792aa6265",
    "AT-Linf-1-319181ed96",
    "AT-Linf-4-0fa4285613",
    "AT-L2-16-05cd5aaafa",
    "AT-L2-32-75a9067c93",
    "ASAM-0.5-02961f0bf6",
    "SAM-AT-Linf-2-8acb7b14df",
    "AT-L2-64-56f4482f35",
    "AT-L2-128-72d3f7d666",
]


def test_the_full_scale_queues_trades_and_awp_after_the_papers_models():
    full = load_recipe("paper-cifar10", "full")
    firsts = [m for m in full.models if m.primary]
    assert [m.run_name for m in firsts][: len(FULL_BEFORE)] == FULL_BEFORE
    added = {m.name: m.config for m in firsts[len(FULL_BEFORE) :]}
    assert list(added) == ["TRADES-Linf-8", "AWP-AT-Linf-8"]
    trades_cfg, awp_cfg = added["TRADES-Linf-8"], added["AWP-AT-Linf-8"]
    assert (trades_cfg.method, trades_cfg.beta, trades_cfg.attack_eps, trades_cfg.attack_steps) == (
        "trades",
        6.0,
        "8/255",
        10,
    )
    assert (trades_cfg.attack_step_size, awp_cfg.attack_step_size) == ("2/255", "2/255")
    assert (awp_cfg.method, awp_cfg.awp_gamma, awp_cfg.awp_warmup) == ("awp-at", 5e-3, 0)
    aa = full.evaluation["autoattack"]  # RobustBench's budgets first, for the boards (the claims' after)
    assert (aa["version"], aa["Linf"][0], aa["L2"][0]) == ("standard", "8/255", "0.5")
    smoke = load_recipe("paper-cifar10", "smoke")  # the quick start's scale stays as it was
    assert [m.name for m in smoke.models] == ["ST", "SAM-0.1", "AT-Linf-2"]


def test_the_docs_table_of_methods_lists_every_method_with_its_passes():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "training.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    for name in method_table.names():
        row = next((r for r in rows if f"`{name}`" in r.split(" | ")[0]), None)
        assert row is not None, f"docs/training.md's table of methods has no row for {name}"
        passes = row.rstrip(" |").rsplit("| ", 1)[1]
        k = 10
        assert eval(passes.replace("k", str(k))) == method_table.passes_per_step(name, k), name
