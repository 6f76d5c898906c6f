import pytest
import torch
import torch.nn.functional as F

from sam_bench.attacks import pgd, project


@pytest.fixture(scope="module")
def model_and_batch():
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 8, 10)
    ).eval()
    x, y = torch.rand(32, 3, 8, 8), torch.randint(0, 10, (32,))
    return model, x, y


@pytest.mark.parametrize("norm,eps", [("Linf", 8 / 255), ("L2", 0.5)])
def test_pgd_stays_in_ball_and_box_and_raises_the_loss(model_and_batch, norm, eps):
    model, x, y = model_and_batch
    x_adv = pgd(model, x, y, eps=eps, norm=norm, steps=10)
    delta = (x_adv - x).flatten(1)
    size = delta.abs().max(1).values if norm == "Linf" else delta.norm(dim=1)
    assert (size <= eps + 1e-6).all()
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    with torch.no_grad():
        assert F.cross_entropy(model(x_adv), y) > F.cross_entropy(model(x), y) + 0.01
    assert size.max() > eps * 0.5  # it actually moved


def test_more_budget_fools_more(model_and_batch):
    model, x, y = model_and_batch
    torch.manual_seed(1)
    with torch.no_grad():
        small = (model(pgd(model, x, y, eps=1 / 255, steps=10)).argmax(1) == y).float().mean()
        large = (model(pgd(model, x, y, eps=16 / 255, steps=10)).argmax(1) == y).float().mean()
    assert large <= small


def test_restarts_never_hurt_and_zero_eps_is_identity(model_and_batch):
    model, x, y = model_and_batch
    assert torch.equal(pgd(model, x, y, eps=0.0), x)
    torch.manual_seed(2)
    with torch.no_grad():
        one = (model(pgd(model, x, y, eps=2 / 255, steps=5, restarts=1)).argmax(1) == y).sum()
    torch.manual_seed(2)
    with torch.no_grad():
        x3 = pgd(model, x, y, eps=2 / 255, steps=5, restarts=3)
        three = (model(x3).argmax(1) == y).sum()
    assert three <= one
    assert (x3 - x).abs().max() <= 2 / 255 + 1e-6


def test_pgd_takes_no_weight_gradients(model_and_batch):
    model, x, y = model_and_batch
    model.zero_grad(set_to_none=True)
    pgd(model, x, y, eps=8 / 255, steps=3)
    assert all(p.grad is None for p in model.parameters())


def test_project_l2_clips_norm_and_box():
    x = torch.full((2, 3, 4, 4), 0.5)
    delta = torch.ones_like(x)
    out = project(delta, x, 0.3, "L2")
    assert torch.allclose(out.flatten(1).norm(dim=1), torch.tensor([0.3, 0.3]), atol=1e-6)
    out = project(torch.full_like(x, 0.9), x, 10.0, "Linf")
    assert (x + out).max() <= 1.0
