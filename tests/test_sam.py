import copy

import pytest
import torch
import torch.nn.functional as F

from sam_bench.training.methods import sam_step
from sam_bench.training.optim import SAM, bn_stats_frozen


def tiny_problem(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Linear(5, 3)
    x, y = torch.randn(16, 5), torch.randint(0, 3, (16,))
    return model, x, y


def loss_grad(model, params, x, y):
    """Gradient of the loss at the given parameter values, computed independently of the optimizer."""
    w, b = (p.clone().requires_grad_(True) for p in params)
    loss = F.cross_entropy(F.linear(x, w, b), y)
    return torch.autograd.grad(loss, (w, b))


def run_one_step(adaptive, rho, lr=0.1):
    model, x, y = tiny_problem()
    w0 = [p.detach().clone() for p in model.parameters()]
    opt = SAM(model.parameters(), torch.optim.SGD, rho=rho, adaptive=adaptive, lr=lr)
    F.cross_entropy(model(x), y).backward()
    opt.first_step(zero_grad=True)
    F.cross_entropy(model(x), y).backward()
    opt.second_step(zero_grad=True)
    return model, x, y, w0


def test_sam_step_equals_the_formula():
    rho, lr = 0.3, 0.1
    model, x, y, w0 = run_one_step(adaptive=False, rho=rho, lr=lr)
    g = loss_grad(model, w0, x, y)
    norm = torch.sqrt(sum((gi**2).sum() for gi in g))
    w_adv = [wi + rho * gi / norm for wi, gi in zip(w0, g)]  # w + rho g / ||g||
    g_adv = loss_grad(model, w_adv, x, y)  # gradient there
    expected = [wi - lr * gi for wi, gi in zip(w0, g_adv)]  # base SGD step from w
    for p, e in zip(model.parameters(), expected):
        torch.testing.assert_close(p.detach(), e, atol=1e-6, rtol=1e-5)


def test_step_with_a_closure_is_both_steps_and_refuses_none():
    """`step(closure)`, the form SAM's users call, lands where first_step, the closure and second_step do."""
    both, x, y, _ = run_one_step(adaptive=False, rho=0.3)
    model, _, _ = tiny_problem()
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.3, lr=0.1)
    F.cross_entropy(model(x), y).backward()
    opt.step(lambda: F.cross_entropy(model(x), y).backward())
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), both.parameters()))
    with pytest.raises(ValueError, match="needs a closure"):
        opt.step()


def test_asam_step_equals_the_formula():
    rho, lr = 0.5, 0.1
    model, x, y, w0 = run_one_step(adaptive=True, rho=rho, lr=lr)
    g = loss_grad(model, w0, x, y)
    tg = [wi.abs() * gi for wi, gi in zip(w0, g)]  # T_w g with T_w = |w|
    norm = torch.sqrt(sum((t**2).sum() for t in tg))
    w_adv = [wi + rho * wi.abs() * t / norm for wi, t in zip(w0, tg)]  # w + rho T^2 g / ||T g||
    g_adv = loss_grad(model, w_adv, x, y)
    for p, wi, gi in zip(model.parameters(), w0, g_adv):
        torch.testing.assert_close(p.detach(), wi - lr * gi, atol=1e-6, rtol=1e-5)


def test_state_dict_round_trip_keeps_momentum():
    model, x, y = tiny_problem()
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1, momentum=0.9, weight_decay=5e-4)
    for _ in range(3):
        F.cross_entropy(model(x), y).backward()
        opt.first_step()
        F.cross_entropy(model(x), y).backward()
        opt.second_step()
    saved = copy.deepcopy(opt.state_dict())
    buffers = [s["momentum_buffer"] for s in saved["state"].values()]
    assert len(buffers) == 2 and all(b.abs().sum() > 0 for b in buffers)

    clone = copy.deepcopy(model)
    opt2 = SAM(clone.parameters(), torch.optim.SGD, rho=0.1, lr=0.1, momentum=0.9, weight_decay=5e-4)
    opt2.load_state_dict(saved)
    for p in clone.parameters():
        torch.testing.assert_close(
            opt2.base_optimizer.state[p]["momentum_buffer"],
            opt.base_optimizer.state[dict(zip(clone.parameters(), model.parameters()))[p]]["momentum_buffer"],
        )
    # the next step is the same in both (momentum included), and schedulers still reach the base groups
    for o, m in ((opt, model), (opt2, clone)):
        for group in o.param_groups:
            group["lr"] = 0.05
        F.cross_entropy(m(x), y).backward()
        o.first_step()
        F.cross_entropy(m(x), y).backward()
        o.second_step()
    assert opt2.base_optimizer.param_groups[0]["lr"] == 0.05
    for p, q in zip(model.parameters(), clone.parameters()):
        torch.testing.assert_close(p, q)


def test_batchnorm_statistics_change_in_the_first_pass_only():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Flatten(), torch.nn.LazyLinear(3)
    )
    x, y = torch.randn(8, 3, 6, 6), torch.randint(0, 3, (8,))
    model(x)  # materialise the lazy layer
    bn = model[1]
    bn.reset_running_stats()
    opt = SAM(model.parameters(), torch.optim.SGD, rho=0.1, lr=0.1)

    # what one plain forward pass at w does to the statistics
    reference = copy.deepcopy(model)
    reference.train()
    with torch.no_grad():
        reference(x)

    model.train()
    sam_step(model, opt, x, y)
    torch.testing.assert_close(bn.running_mean, reference[1].running_mean)
    torch.testing.assert_close(bn.running_var, reference[1].running_var)
    assert bn.num_batches_tracked.item() == 1
    assert bn.momentum == 0.1  # restored after the second pass


def test_bn_stats_frozen_leaves_statistics_alone():
    bn = torch.nn.BatchNorm1d(3).train()
    before = bn.running_mean.clone()
    with bn_stats_frozen(bn):
        out = bn(torch.randn(10, 3) + 5)
    assert torch.equal(bn.running_mean, before)
    assert out.mean().abs() < 1e-5  # batch statistics were still used in the forward pass
    bn(torch.randn(10, 3) + 5)
    assert not torch.equal(bn.running_mean, before)
