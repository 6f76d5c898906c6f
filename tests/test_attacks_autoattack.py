"""AutoAttack through pyautoattack: faithful to one all-in-one call, stronger than PGD-10, and
giving RobustBench's own number on the same model and images."""

import functools
import logging
import re

import pytest
import torch

from sam_bench.attacks.autoattack import attack_names, autoattack
from sam_bench.evaluation.evaluate import evaluate
from sam_bench.evaluation.specs import make_attacks

N = 64


@pytest.fixture(scope="module")
def images(sample):
    x = torch.from_numpy(sample.x_test[:N]).permute(0, 3, 1, 2).contiguous().float() / 255
    return x, torch.from_numpy(sample.y_test[:N])


@pytest.fixture
def quick_budgets(monkeypatch):
    """Standard AutoAttack with fewer target classes and shorter FAB-T and Square runs, to fit a
    CPU test. It patches the class itself, so every AutoAttack built (ours and RobustBench's)
    runs the same configuration."""
    from pyautoattack import AutoAttack

    original = AutoAttack._set_version

    def smaller(self, version="standard"):
        original(self, version)
        self.apgd_targeted.n_target_classes = self.fab.n_target_classes = 3
        self.fab.n_iter = 20
        self.square.n_queries = 200

    monkeypatch.setattr(AutoAttack, "_set_version", smaller)


def test_versions_run_their_attacks():
    assert attack_names("standard", "Linf") == ["apgd-ce", "apgd-t", "fab-t", "square"]
    assert attack_names("rand", "L2") == ["apgd-ce", "apgd-dlr"]
    assert attack_names("custom", "Linf", ["apgd-t", "apgd-ce"]) == ["apgd-t", "apgd-ce"]


def test_breakdown_equals_one_run_standard_evaluation(tiny_net, images, quick_budgets):
    from pyautoattack import AutoAttack

    x, y = images
    eps = 4 / 255
    ours = autoattack(tiny_net, x, y, eps=eps, norm="Linf", seed=0, batch_size=N)

    adversary = AutoAttack(tiny_net, eps=eps, norm="Linf", seed=0, version="standard", device="cpu")
    logger = logging.getLogger("auto-attack")
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = lambda record: records.append(record.getMessage())
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        x_adv, y_adv = adversary.run_standard_evaluation(x, y, batch_size=N)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)

    assert torch.equal(ours.x_adv, x_adv) and torch.equal(ours.y_adv, y_adv)
    logged = {
        m.group(1).lower(): float(m.group(2))
        for m in (re.match(r"robust accuracy after (\S+): ([\d.]+)%", r) for r in records)
        if m
    }
    assert list(logged) == ours.attacks == ["apgd-ce", "apgd-t", "fab-t", "square"]
    for name, percent in logged.items():
        assert round(100 * ours.breakdown[name] / N, 2) == percent
    counts = list(ours.breakdown.values())
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1] > 0  # a non-trivial case


def test_eps_zero_changes_nothing(tiny_net, images):
    x, y = images
    result = autoattack(tiny_net, x, y, eps=0.0, norm="Linf", seed=0, batch_size=N)
    assert torch.equal(result.x_adv, x)
    assert len(set(result.breakdown.values())) == 1


def test_apgd_finds_at_least_what_pgd10_finds_and_accuracy_falls_with_eps(tiny_net, sample):
    eps = ["1/255", "4/255", "8/255"]
    specs = make_attacks("pgd", "Linf", eps) + make_attacks(
        "autoattack", "Linf", eps, attacks=["apgd-ce"], version="custom"
    )
    results = evaluate(tiny_net, sample, specs, n_examples=N, batch_size=N, progress=False)
    pgd, apgd = results["evaluations"][:3], results["evaluations"][3:]
    for p, a in zip(pgd, apgd):
        assert a["eps"] == p["eps"]
        assert a["robust_acc"] <= p["robust_acc"] + 1 / N  # one image of slack for the random starts
        assert a["breakdown"]["apgd-ce"] == a["robust_acc"] == a["attack_reported_acc"]
    for curve in (pgd, apgd):
        accs = [results["clean_acc"]] + [e["robust_acc"] for e in curve]
        assert accs == sorted(accs, reverse=True) and accs[-1] < accs[1] < accs[0]


def test_l2_accuracy_falls_with_eps(tiny_net, sample):
    specs = make_attacks("pgd", "L2", ["0.1", "0.25", "1"])
    results = evaluate(tiny_net, sample, specs, n_examples=N, batch_size=N, progress=False)
    accs = [results["clean_acc"]] + [e["robust_acc"] for e in results["evaluations"]]
    assert accs == sorted(accs, reverse=True) and accs[-1] < accs[0]


def test_robustbench_benchmark_gives_the_same_autoattack_accuracy(
    tiny_net, sample, images, quick_budgets, monkeypatch, tmp_path
):
    import autoattack  # the compat module over pyautoattack, which robustbench imports
    import robustbench.eval as rb_eval

    x, y = images
    eps = 4 / 255
    # The very same images (RobustBench would read CIFAR-10 through torchvision, offline here) ...
    monkeypatch.setattr(
        rb_eval, "load_clean_dataset", lambda dataset, n_examples, data_dir, prepr: (x[:n_examples], y[:n_examples])
    )
    # ... and the same seed (RobustBench builds AutoAttack without one; pyautoattack then uses the clock).
    monkeypatch.setattr(rb_eval, "AutoAttack", functools.partial(autoattack.AutoAttack, seed=0))
    rb_clean, rb_robust = rb_eval.benchmark(
        tiny_net,
        n_examples=N,
        dataset="cifar10",
        threat_model="Linf",
        eps=eps,
        device=torch.device("cpu"),
        batch_size=N,
        data_dir=str(tmp_path),
    )

    results = evaluate(
        tiny_net, sample, make_attacks("autoattack", "Linf", [eps]), n_examples=N, batch_size=N, progress=False
    )
    ev = results["evaluations"][0]
    assert 0 < ev["robust_acc"] < ev["clean_acc"]  # a non-trivial number to agree on
    assert results["clean_acc"] == pytest.approx(rb_clean, abs=1e-9)
    assert ev["robust_acc"] == pytest.approx(rb_robust, abs=1e-9)


def test_custom_runs_its_attacks_like_standard_with_the_restarts_asked_for():
    """pyautoattack's own default outside its versions is 5 restarts: 5x the work, unrecorded."""
    standard = make_attacks("autoattack", "Linf", ["8/255"])[0].settings["config"]
    custom = make_attacks("autoattack", "Linf", ["8/255"], version="custom", attacks=["apgd-ce", "fab-t"])[0].settings
    assert custom["restarts"] == 1 and custom["config"]["apgd-ce"]["restarts"] == 1
    assert custom["config"]["fab-t"] == standard["fab-t"] == {"restarts": 1, "target_classes": 9}
    three = make_attacks("autoattack", "Linf", ["8/255"], version="custom", attacks=["apgd-ce"], restarts=3)[0]
    assert three.settings["config"]["apgd-ce"]["restarts"] == 3
