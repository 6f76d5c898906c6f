"""The trust checks: each holds for an honest attack and fails for a deliberately broken one."""

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from sam_bench.attacks.invariants import (
    TOLERANCE,
    check_accuracies,
    check_adversarial_examples,
    check_deterministic,
    check_eval_mode,
    perturbation_norms,
)
from sam_bench.attacks.pgd import pgd, project
from sam_bench.errors import SamBenchError
from sam_bench.evaluation.evaluate import evaluate
from sam_bench.evaluation.runners import AttackOutput
from sam_bench.evaluation.specs import AttackSpec, make_attacks

EPS = 8 / 255


def _run(model, data, runner, eps=EPS, norm="Linf", n=64):
    spec = AttackSpec("broken", norm, eps, {}, runner=runner)
    return evaluate(model, data, [spec], n_examples=n, batch_size=64, progress=False)


# ------------------------------------------------------------------ the check functions


def test_perturbation_norms():
    x = torch.zeros(2, 3, 4, 4)
    x_adv = x.clone()
    x_adv[0, 0, 0, 0], x_adv[0, 1, 0, 0] = 0.3, -0.4
    assert perturbation_norms(x, x_adv, "Linf").tolist() == pytest.approx([0.4, 0.0])
    assert perturbation_norms(x, x_adv, "L2").tolist() == pytest.approx([0.5, 0.0])


@pytest.mark.parametrize("norm", ["Linf", "L2"])
def test_projected_examples_pass_and_larger_ones_fail(norm):
    torch.manual_seed(0)
    x = torch.rand(8, 3, 8, 8)
    eps = 0.05
    inside = x + project(torch.randn_like(x), x, eps, norm)
    largest = check_adversarial_examples(x, inside, eps, norm)
    assert 0 < largest <= eps + TOLERANCE
    outside = x + project(torch.randn_like(x), x, 2 * eps, norm)
    with pytest.raises(SamBenchError, match="outside the .* ball"):
        check_adversarial_examples(x, outside, eps, norm)


def test_tolerance_is_tight():
    x = torch.full((1, 3, 2, 2), 0.5, dtype=torch.float64)
    with pytest.raises(SamBenchError, match="outside"):
        check_adversarial_examples(x, x + 0.1 + 2e-6, 0.1, "Linf")
    check_adversarial_examples(x, x + 0.1 + 0.5e-6, 0.1, "Linf")


def test_bad_pixels_shapes_and_clean_changes_fail():
    x = torch.rand(4, 3, 8, 8)
    with pytest.raises(SamBenchError, match=r"outside \[0,1\]"):
        check_adversarial_examples(x, x - 2.0, 10.0, "Linf")
    nan = x.clone()
    nan[0, 0, 0, 0] = float("nan")
    with pytest.raises(SamBenchError, match="NaN"):
        check_adversarial_examples(x, nan, 1.0, "Linf")
    with pytest.raises(SamBenchError, match="shape"):
        check_adversarial_examples(x, x[:3], 1.0, "Linf")
    with pytest.raises(SamBenchError, match="clean evaluation changed"):
        check_adversarial_examples(x, (x + 1e-3).clamp(0, 1), 0.0, None)


def test_accuracy_checks():
    check_accuracies(10, 7, EPS)
    check_accuracies(10, 10, 0.0)
    with pytest.raises(SamBenchError, match="above clean"):
        check_accuracies(10, 11, EPS)
    with pytest.raises(SamBenchError, match="eps 0"):
        check_accuracies(10, 9, 0.0)


def test_eval_mode_and_determinism_checks(tiny_net):
    check_eval_mode(tiny_net, "now")
    net = nn.Sequential(nn.Flatten(), nn.BatchNorm1d(12), nn.Linear(12, 3))
    with pytest.raises(SamBenchError, match="train mode"):
        check_eval_mode(net, "now")
    check_deterministic(net.eval(), torch.rand(4, 3, 2, 2))

    class Noisy(nn.Module):  # dropout left on in eval mode
        def forward(self, x):
            return F.dropout(x.flatten(1), 0.5, training=True)

    with pytest.raises(SamBenchError, match="different outputs"):
        check_deterministic(Noisy().eval(), torch.rand(16, 3, 4, 4))


# ------------------------------------------------------------------ evaluate() with broken attacks


def test_honest_pgd_passes_every_check(tiny_net, sample):
    results = evaluate(
        tiny_net,
        sample,
        make_attacks("pgd", "Linf", ["0", "8/255"]) + make_attacks("pgd", "L2", ["0.5"]),
        n_examples=64,
        batch_size=64,
        progress=False,
    )
    zero, linf, l2 = results["evaluations"]
    assert zero["robust_acc"] == results["clean_acc"] > 0
    assert linf["robust_acc"] < results["clean_acc"]
    assert EPS - 1e-4 < linf["max_perturbation"] <= EPS + TOLERANCE
    assert 0 < l2["max_perturbation"] <= 0.5 + TOLERANCE


def test_attack_outside_the_ball_is_an_error(tiny_net, sample):
    def too_far(model, x, y, spec, batch_size, bar):
        return AttackOutput((x + 2 * spec.eps * torch.randn_like(x).sign()).clamp(0, 1))

    with pytest.raises(SamBenchError, match="outside the Linf ball"):
        _run(tiny_net, sample, too_far)


def test_l2_attack_judged_in_l2(tiny_net, sample):
    def linf_step(model, x, y, spec, batch_size, bar):  # an Linf-sized step is far outside an L2 ball
        return AttackOutput(x + project(spec.eps * torch.randn_like(x).sign(), x, spec.eps, "Linf"))

    with pytest.raises(SamBenchError, match="outside the L2 ball"):
        _run(tiny_net, sample, linf_step, eps=0.1, norm="L2")


def test_pixels_outside_the_image_range_are_an_error(tiny_net, sample):
    def unclamped(model, x, y, spec, batch_size, bar):
        assert x.min() < spec.eps / 2  # the sample has dark pixels that this step pushes below 0
        return AttackOutput(x - spec.eps / 2)

    with pytest.raises(SamBenchError, match=r"outside \[0,1\]"):
        _run(tiny_net, sample, unclamped)


def test_attack_leaving_the_model_in_train_mode_is_an_error(tiny_net, sample):
    def trains(model, x, y, spec, batch_size, bar):
        model.train()
        return AttackOutput(x)

    try:
        with pytest.raises(SamBenchError, match="train mode after the broken attack"):
            _run(tiny_net, sample, trains)
    finally:
        tiny_net.eval()


def test_model_in_train_mode_is_put_in_eval_mode(sample):
    bn_net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(10))
    bn_net(torch.rand(2, 3, 32, 32))
    bn_net.train()
    results = evaluate(bn_net, sample, make_attacks("clean"), n_examples=8, progress=False)
    assert not bn_net.training and results["evaluations"][0]["robust_acc"] == results["clean_acc"]


def test_attack_that_helps_the_model_is_caught(tiny_net, sample):
    def descends(model, x, y, spec, batch_size, bar):
        # PGD on the negated loss: pushes every image, misclassified ones too, towards its label
        flipped = lambda inp: -model(inp)  # noqa: E731  maximising CE of -logits raises the true logit
        return AttackOutput(pgd(flipped, x, y, spec.eps, "Linf", steps=10))

    with pytest.raises(SamBenchError, match="above clean accuracy"):
        _run(tiny_net, sample, descends)


def test_attack_that_overcounts_is_rescored_and_reported(tiny_net, sample):
    def boasts(model, x, y, spec, batch_size, bar):
        x_adv = pgd(model, x, y, spec.eps, "Linf", steps=10)
        return AttackOutput(x_adv, reported_correct=torch.zeros_like(y, dtype=torch.bool))  # "all fooled"

    with pytest.warns(UserWarning, match="disagree"):
        results = _run(tiny_net, sample, boasts)
    ev = results["evaluations"][0]
    assert ev["attack_reported_acc"] == 0.0 < ev["robust_acc"]
    assert any("disagree" in w for w in results["warnings"])
