"""sam-bench theory: the closed forms against numeric maximisation and autograd, the training against a
torch reference (numeric PGD, sam-bench's SAM optimizer), determinism, the paper's statements on the
default parameters, the report, and the command's bad input."""

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from sam_bench.analysis.theory import load_spec, simulate
from sam_bench.analysis.theory.correspondence import matching_strength
from sam_bench.analysis.theory.features import FeatureModel, accuracy, monte_carlo_accuracy, non_robust_reliance
from sam_bench.analysis.theory.perturbations import (
    equivalent_input_eps,
    margin_drop,
    sam_ascent,
    worst_input_perturbation,
)
from sam_bench.analysis.theory.report import render_report, write_outputs
from sam_bench.analysis.theory.spec import check_spec, default_spec
from sam_bench.analysis.theory.statements import judge
from sam_bench.analysis.theory.training import Method, batches, learning_rate, train, training_gradient
from sam_bench.cli import cli
from sam_bench.training.optim import SAM

F64 = torch.float64  # every tensor here: numpy's precision, and no global default changed for other tests


def logistic_loss(margin):
    return np.logaddexp(0.0, -margin)


def tiny_spec(**overrides) -> dict:
    """A grid small enough for a test: 22 features, 400 examples, 5 epochs."""
    spec = default_spec()
    spec["repetitions"] = 2
    spec["data"].update(
        robust={"count": 2, "mean": 1.0, "std": 1.0},
        non_robust={"count": 20, "mean": 0.2, "std": 1.0},
        n_train=400,
        n_test=2000,
    )
    spec["training"].update(epochs=5, batch_size=32)
    spec["methods"].update(sam_rho=[0.05, 0.5], at_linf_eps=[0.1, 0.3], at_l2_eps=[0.5])
    spec.update(overrides)
    return check_spec(spec)


def problem(seed=0, n=64, d=12):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(d)
    x = rng.standard_normal((n, d)) + 0.3
    y = rng.choice([-1.0, 1.0], n)
    return w, x, y


def projected(delta, norm, eps):
    if norm == "Linf":
        return delta.clamp(-eps, eps)
    length = delta.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return delta * torch.clamp(eps / length, max=1.0)


def numeric_worst_input(w, x, y, norm, eps, steps=100, random_start=True, seed=0):
    """Projected gradient ascent on each example's logistic loss over its input ball (autograd)."""
    gen = torch.Generator().manual_seed(seed)
    w, x, y = (torch.as_tensor(a) for a in (w, x, y))
    delta = (torch.rand(x.shape, generator=gen, dtype=F64) * 2 - 1) * eps if random_start else torch.zeros_like(x)
    delta = projected(delta, norm, eps)
    step = eps / 4
    for _ in range(steps):
        delta.requires_grad_(True)
        loss = F.softplus(-(y * ((x + delta) @ w))).sum()
        (grad,) = torch.autograd.grad(loss, delta)
        with torch.no_grad():
            move = grad.sign() if norm == "Linf" else grad / grad.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            delta = projected(delta + step * move, norm, eps)
    return delta.detach()


# --- the closed forms against numeric maximisation ---------------------------------------------------


@pytest.mark.parametrize("norm,eps", [("Linf", 0.1), ("Linf", 0.5), ("L2", 0.3), ("L2", 2.0)])
def test_worst_input_perturbation_is_what_gradient_ascent_finds(norm, eps):
    w, x, y = problem()
    closed = worst_input_perturbation(w, y, norm, eps)
    numeric = numeric_worst_input(w, x, y, norm, eps).numpy()
    np.testing.assert_allclose(numeric, closed, atol=1e-6)
    closed_loss = logistic_loss(y * (x @ w) - margin_drop(w, norm, eps)[0])
    np.testing.assert_allclose(logistic_loss(y * ((x + numeric) @ w)), closed_loss, rtol=1e-9)


def test_brute_force_over_the_ball_finds_the_closed_form():
    """Linf: the loss is convex in delta, so its maximum over the box is at a vertex: try all 2^8.
    L2: in 3 dimensions, 200,000 points of the sphere come within 1e-4 of the maximum."""
    import itertools

    w, x, y = problem(n=1, d=8)
    eps = 0.4
    vertices = eps * np.array(list(itertools.product([-1.0, 1.0], repeat=8)))
    losses = logistic_loss(y[0] * ((x[0] + vertices) @ w))
    assert losses.max() == pytest.approx(logistic_loss(y[0] * (x[0] @ w) - margin_drop(w, "Linf", eps)[0]), rel=1e-12)
    w, x, y = problem(n=1, d=3)
    sphere = np.random.default_rng(1).standard_normal((200_000, 3))
    sphere = eps * sphere / np.linalg.norm(sphere, axis=1, keepdims=True)
    losses = logistic_loss(y[0] * ((x[0] + sphere) @ w))
    best = logistic_loss(y[0] * (x[0] @ w) - margin_drop(w, "L2", eps)[0])
    assert best - 1e-4 < losses.max() <= best + 1e-12


def test_one_example_sam_worst_case_is_what_gradient_ascent_finds():
    w, x, y = problem(n=1)
    rho = 0.7
    closed = -rho * y[0] * x[0] / np.linalg.norm(x[0])  # the exact maximiser of the loss over ||e||_2 <= rho
    e = torch.zeros(w.size, dtype=F64, requires_grad=True)
    wt, xt = torch.as_tensor(w), torch.as_tensor(x[0])
    for _ in range(200):
        loss = F.softplus(-(y[0] * ((wt + e) @ xt)))
        (grad,) = torch.autograd.grad(loss, e)
        with torch.no_grad():
            e = projected(e + 0.1 * grad / grad.norm(), "L2", rho)
        e.requires_grad_(True)
    np.testing.assert_allclose(e.detach().numpy(), closed, atol=1e-6)
    # and its margin drop is rho ||x||, whatever w is: the same for a w in another direction
    for weights in (w, -w, np.roll(w, 3)):
        drop = y[0] * (weights @ x[0]) - y[0] * ((weights + closed) @ x[0])
        assert drop == pytest.approx(rho * np.linalg.norm(x[0]))


def test_sam_step_maximises_the_first_order_loss_and_nearly_the_loss():
    w, x, y = problem(n=128)
    z = y[:, None] * x
    rho = 0.01
    gradient = -(torch.sigmoid(-torch.as_tensor(z @ w))[:, None] * torch.as_tensor(z)).mean(0).numpy()
    e = sam_ascent(gradient, rho)[0]
    assert np.linalg.norm(e) == pytest.approx(rho)
    rng = np.random.default_rng(2)
    directions = rng.standard_normal((5000, w.size))
    directions = rho * directions / np.linalg.norm(directions, axis=1, keepdims=True)
    assert (directions @ gradient).max() <= e @ gradient + 1e-15  # best on the linearised loss
    # the exact batch maximum (projected ascent) is within rho^2 of SAM's point, in nearly its direction
    exact = torch.zeros(w.size, dtype=F64, requires_grad=True)
    wt, zt = torch.as_tensor(w), torch.as_tensor(z)
    for _ in range(300):
        (grad,) = torch.autograd.grad(F.softplus(-(zt @ (wt + exact))).mean(), exact)
        with torch.no_grad():
            exact = projected(exact + 0.002 * grad / grad.norm(), "L2", rho)
        exact.requires_grad_(True)
    exact = exact.detach().numpy()
    batch_loss = lambda v: logistic_loss(z @ (w + v)).mean()  # noqa: E731
    assert 0 <= batch_loss(exact) - batch_loss(e) < rho**2
    assert e @ exact / rho**2 > 0.99


def test_a_weight_perturbation_is_an_input_perturbation():
    w, x, y = problem()
    e = sam_ascent(np.random.default_rng(3).standard_normal(w.size), 0.5)[0]
    delta = (x @ e)[:, None] * w / (w @ w)  # w . delta = e . x
    np.testing.assert_allclose(y * ((w + e) @ x.T), y * ((x + delta) @ w))
    drop = 0.3
    for norm in ("Linf", "L2"):
        assert margin_drop(w, norm, equivalent_input_eps(drop, w, norm)[0])[0] == pytest.approx(drop)


# --- exact accuracy against counting -----------------------------------------------------------------


def test_exact_accuracies_agree_with_counting_on_a_large_sample():
    model = FeatureModel(2, 1.0, 1.5, 30, 0.15, 1.0)
    rng = np.random.default_rng(4)
    x, y = model.sample(200_000, rng)
    weights = np.abs(rng.standard_normal((3, model.dim)))
    for attack in (None, {"norm": "Linf", "eps": 0.1}, {"norm": "L2", "eps": 0.8}):
        exact = accuracy(weights, model, attack)
        counted = monte_carlo_accuracy(weights, x, y, attack)
        for value, count in zip(exact, counted):
            assert abs(value - count["accuracy"]) < 4 * np.sqrt(value * (1 - value) / len(y))
            assert count["low"] < count["accuracy"] < count["high"]
    uniform = np.r_[np.zeros(2), np.ones(30)]
    assert non_robust_reliance(uniform, model)[0] == 1.0
    assert accuracy(model.mean / model.std**2, model)[0] == pytest.approx(model.bayes_accuracy())


# --- the training against autograd and a torch reference ---------------------------------------------

METHODS = [Method("ST"), Method("SAM", 0.3), Method("AT", 0.1, "Linf"), Method("AT", 0.5, "L2")]


def autograd_gradient(w, x, y, method):
    """The method's loss gradient by autograd, its inner maximum found numerically (Danskin: held fixed)."""
    wt = torch.as_tensor(w).clone().requires_grad_(True)
    xt, yt = torch.as_tensor(x), torch.as_tensor(y)

    def loss_at(weights, inputs):
        return F.softplus(-(yt * (inputs @ weights))).mean()

    if method.kind == "AT":
        xt = xt + numeric_worst_input(w, x, y, method.norm, method.strength)
    if method.kind == "SAM":
        (g,) = torch.autograd.grad(loss_at(wt, xt), wt)
        e = method.strength * g / g.norm()
        return torch.autograd.grad(loss_at(wt + e.detach(), xt), wt)[0].numpy()
    return torch.autograd.grad(loss_at(wt, xt), wt)[0].numpy()


def test_training_gradients_are_autograd_with_a_numeric_inner_maximum():
    _, x, y = problem(n=64, d=12)
    w = np.random.default_rng(5).standard_normal((len(METHODS), 12))
    closed = training_gradient(w, y[:, None] * x, METHODS)
    for i, method in enumerate(METHODS):
        np.testing.assert_allclose(closed[i], autograd_gradient(w[i], x, y, method), atol=1e-9, err_msg=method.label)


def test_training_equals_a_torch_loop_with_pgd_and_sam_bench_sam():
    """Whole runs: the closed-form training against torch with PGD for AT and sam_bench.optim.SAM for SAM."""
    spec = tiny_spec()
    model = FeatureModel.from_spec(spec["data"])
    training = dict(spec["training"], epochs=2)
    x, y = model.sample(256, np.random.default_rng(6))
    ours = train(METHODS, x, y, training, np.random.default_rng(7))
    steps = list(batches(len(x), training, np.random.default_rng(7)))
    for i, method in enumerate(METHODS):
        weight = torch.nn.Parameter(torch.zeros(model.dim, dtype=F64))
        optimizer = (
            SAM([weight], rho=method.strength, lr=training["lr"], weight_decay=training["weight_decay"])
            if method.kind == "SAM"
            else torch.optim.SGD([weight], lr=training["lr"], weight_decay=training["weight_decay"])
        )
        for step, index in enumerate(steps):
            for group in optimizer.param_groups:
                group["lr"] = learning_rate(step, len(steps), training)
            xb, yb = torch.as_tensor(x[index]), torch.as_tensor(y[index])
            if method.kind == "AT":
                xb = xb + numeric_worst_input(
                    weight.detach().numpy(),
                    x[index],
                    y[index],
                    method.norm,
                    method.strength,
                    steps=10,
                    random_start=False,
                )
            F.softplus(-(yb * (xb @ weight))).mean().backward()
            if method.kind == "SAM":
                optimizer.first_step(zero_grad=True)
                F.softplus(-(yb * (xb @ weight))).mean().backward()
                optimizer.second_step(zero_grad=True)
            else:
                optimizer.step()
                optimizer.zero_grad()
        np.testing.assert_allclose(ours[i], weight.detach().numpy(), atol=1e-8, err_msg=method.label)


def test_matching_strength_interpolates_and_says_none_off_the_curve():
    assert matching_strength([0, 1, 2], [0.5, 0.3, 0.1], 0.2) == pytest.approx(1.5)
    assert matching_strength([0, 1, 2], [0.5, 0.3, 0.1], 0.5) == 0
    assert matching_strength([0, 1, 2], [0.5, 0.3, 0.1], 0.6) is None


# --- determinism --------------------------------------------------------------------------------------


def without_timing(results):
    return {k: v for k, v in results.items() if k != "seconds"}


def test_simulation_is_deterministic_under_its_seed():
    first, again, other = simulate(tiny_spec()), simulate(tiny_spec()), simulate(tiny_spec(seed=1))
    assert json.dumps(without_timing(first)) == json.dumps(without_timing(again))
    assert json.dumps(without_timing(first)) != json.dumps(without_timing(other))


# --- the paper's statements on the default parameters -------------------------------------------------


@pytest.fixture(scope="module")
def default_results():
    return simulate(load_spec())


def by_id(results):
    return {s["id"]: s for s in results["statements"]}


def curve(results, method, norm=None, key="non_robust_reliance"):
    runs = [r for r in results["runs"] if r["method"] == method and r["norm"] == norm]
    return [r["strength"] for r in runs], [r["mean"][key] for r in runs]


def test_default_verdicts(default_results):
    verdicts = {k: s["reproduced"] for k, s in by_id(default_results).items()}
    assert verdicts == {
        "at-removes-non-robust": True,
        "at-trades-clean-for-robust": True,
        "sam-perturbation-is-weaker": True,
        "sam-removes-non-robust": False,
        "sam-robust-without-clean-cost": False,
        "sam-better-tradeoff": False,
        "rho-eps-correspondence": False,
    }
    assert all(s["why"] for s in default_results["statements"] if not s["reproduced"])


def test_at_moves_weight_to_the_robust_features(default_results):
    st = default_results["runs"][0]["mean"]
    eps, reliance = curve(default_results, "AT", "Linf")
    assert st["non_robust_reliance"] > 0.4  # ST leans on the non-robust features
    assert all(b < a for a, b in zip([st["non_robust_reliance"]] + reliance, reliance))
    eta = default_results["spec"]["data"]["non_robust"]["mean"]
    assert all(r < 0.01 for e, r in zip(eps, reliance) if e >= 2 * eta)
    _, clean = curve(default_results, "AT", "Linf", "clean_accuracy")
    assert clean[-1] < st["clean_accuracy"] - 0.03  # and pays in clean accuracy
    assert clean[-1] == pytest.approx(default_results["model"]["robust_features_only_accuracy"], abs=0.002)


def test_sam_rescales_the_classifier_without_moving_weight(default_results):
    st = default_results["runs"][0]
    rho, reliance = curve(default_results, "SAM")
    sam = [r for r in default_results["runs"] if r["method"] == "SAM"]
    assert max(abs(r - st["mean"]["non_robust_reliance"]) for r in reliance) < 0.005
    assert min(r["metrics"]["cosine_to_st"]["min"] for r in sam) > 0.99
    norms = [st["mean"]["weight_norm"]] + [r["mean"]["weight_norm"] for r in sam]
    assert all(b > a for a, b in zip(norms, norms[1:]))  # SAM grows ||w|| with rho
    # its perturbation, read as an input perturbation, is tiny next to AT's eps (but not zero)
    equivalent = [r["mean"]["sam_perturbation"]["equivalent_eps_Linf"] for r in sam]
    assert 0 < max(equivalent) < 0.1 * default_results["spec"]["evaluation"]["attacks"][0]["eps"]
    assert max(abs(r["mean"]["sam_perturbation"]["cosine_to_minus_w"]) for r in sam) < 0.2


def test_statements_can_come_out_the_other_way(default_results):
    """The verdicts follow the numbers: a SAM that dropped non-robust features and gained robustness at
    no clean cost would be judged to reproduce the paper."""
    results = copy.deepcopy(default_results)
    st = results["runs"][0]["mean"]
    sam = [r for r in results["runs"] if r["method"] == "SAM"]
    for k, run in enumerate(sam, start=1):
        run["mean"]["non_robust_reliance"] = st["non_robust_reliance"] - 0.02 * k
        run["mean"]["robust_accuracy"] = [a + 0.004 * k for a in st["robust_accuracy"]]
        run["mean"]["clean_accuracy"] = st["clean_accuracy"]
    verdicts = {s["id"]: s["reproduced"] for s in judge(results)}
    assert verdicts["sam-removes-non-robust"] and verdicts["sam-robust-without-clean-cost"]


def test_closed_forms_pass_the_monte_carlo_check(default_results):
    assert default_results["monte_carlo_check"]["share_inside"] >= 0.85


# --- outputs and the command --------------------------------------------------------------------------


def test_report_is_rendered_from_the_results(default_results, tmp_path):
    results = dict(default_results, provenance={"sam_bench_version": "x", "code_commit": "abc", "numpy": "1"})
    paths = write_outputs(results, tmp_path)
    report = paths["report"].read_text()
    for statement in results["statements"]:
        assert statement["claim"] in report and statement["evidence"] in report
    assert f"{results['runs'][0]['metrics']['clean_accuracy']['mean']:.4f}" in report
    assert json.loads(paths["results"].read_text())["statements"] == results["statements"]
    for plot in ("reliance", "tradeoff"):
        assert paths[plot].read_bytes()[:4] == b"\x89PNG"
    assert render_report(results) == report


def test_command_writes_its_outputs(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "repetitions: 1\ndata: {non_robust: {count: 20, mean: 0.2}, n_train: 400, n_test: 1000}\n"
        "training: {epochs: 3, batch_size: 32}\nmethods: {sam_rho: [0.1], at_linf_eps: [0.2], "
        "at_l2_eps: [0.5]}\n"
    )
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["theory", str(spec), "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "statements reproduced" in result.output
    assert {p.name for p in out.iterdir()} >= {"results.json", "REPORT.md", "reliance.png", "tradeoff.png"}
    assert json.loads((out / "results.json").read_text())["spec"]["training"]["epochs"] == 3


@pytest.mark.parametrize(
    "content,message",
    [
        (None, "file not found"),
        ("seed: [1\n", "not valid YAML"),
        ("- 1\n", "a theory spec is a YAML mapping"),
        ("sede: 1\n", "unknown key 'sede'"),
        ("data: {robust: {count: 2, colour: red}}\n", "unknown key 'colour'"),
        ("training: {epochs: ten}\n", "training.epochs must be an integer"),
        ("training: {lr: -1}\n", "training.lr must be > 0"),
        ("methods: {sam_rho: []}\n", "non-empty list"),
        ("evaluation: {attacks: [{norm: L1, eps: 1}]}\n", "norm must be Linf or L2"),
        ("data: {robust: 3}\n", "'robust' must be a mapping"),
    ],
)
def test_bad_spec_is_one_line_and_exit_2(tmp_path, content, message):
    spec = tmp_path / "spec.yaml"
    if content is not None:
        spec.write_text(content)
    result = CliRunner().invoke(cli, ["theory", str(spec), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_theory_help_imports_no_torch():
    code = (
        "import sys; from sam_bench.cli import cli\n"
        "try:\n    cli(['theory', '--help'], prog_name='sam-bench')\nexcept SystemExit:\n    pass\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("no torch") and "[SPEC.yaml]" in out
