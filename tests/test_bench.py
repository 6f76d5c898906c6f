"""`sam-bench bench` and the paper-loop baseline it measures against (no speed is asserted)."""

import json
import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from sam_bench.bench import throughput
from sam_bench.bench.environment import device_slug
from sam_bench.bench.measurement import EPOCH_IMAGES, summarize
from sam_bench.bench.paper_loop import (
    PaperSAM,
    endless,
    make_normalize,
    paper_loader,
    paper_model,
    paper_optimizer,
    paper_pgd,
    paper_step,
)
from sam_bench.bench.throughput import QUICK, run_bench
from sam_bench.cli import cli
from sam_bench.data import synthetic_dataset
from sam_bench.errors import BadInput
from sam_bench.models import create_model, make_spec
from sam_bench.runtime import clock
from sam_bench.runtime.provenance import device_name
from sam_bench.training.methods import train_step
from sam_bench.training.optim import SAM


def _check_summary(summary, n):
    assert len(summary["runs"]) == n
    assert summary["min"] <= summary["median"] <= summary["max"]
    assert summary["min"] == min(summary["runs"]) and summary["max"] == max(summary["runs"])


def _check_measurement(m, repeats):
    _check_summary(m["seconds"], repeats)
    _check_summary(m["images_per_s"], repeats)
    assert all(s > 0 for s in m["seconds"]["runs"])
    # images/s is recomputed from the recorded seconds, repetition by repetition
    for s, ips in zip(m["seconds"]["runs"], m["images_per_s"]["runs"]):
        assert ips == pytest.approx(m["images_per_run"] / s) and ips > 0
    assert m["images_per_run"] == m["batch_size"] * m["steps_per_run"]


def test_cli_quick_writes_every_field(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = CliRunner().invoke(cli, ["bench", "--quick", "--quiet"])
    assert r.exit_code == 0, r.output
    out = tmp_path / "benchmarks" / f"{device_slug(device_name(torch.device('cpu')))}-quick.json"
    assert f"wrote {out.relative_to(tmp_path)}" in r.output
    res = json.loads(out.read_text())

    assert res["schema"] == "sam-bench/bench/v1"
    env = res["environment"]
    assert env["torch_version"] == torch.__version__ and env["device"] == "cpu"
    assert env["device_name"].startswith("cpu") and "code_commit" in env
    s = res["settings"]
    assert s["methods"] == ["standard", "sam", "at"] and s["width"] == 0.0625 and s["repeats"] == 2
    assert s["attack"] == {"norm": "Linf", "eps": "8/255", "steps": 10, "step_size": "2/255"}

    for method, passes in (("standard", 1), ("sam", 2), ("at", 11)):
        t = res["training"][method]
        fast, paper = t["fast"], t["paper"]
        _check_measurement(fast, s["repeats"])
        _check_measurement(paper, s["repeats"])
        assert fast["passes_per_step"] == passes and fast["precision"] == "fp32" and paper["num_workers"] == 0
        assert fast["epoch_s"] == pytest.approx(EPOCH_IMAGES / fast["images_per_s"]["median"])
        assert t["x_paper"] == pytest.approx(fast["images_per_s"]["median"] / paper["images_per_s"]["median"])
        assert math.isfinite(fast["mean_train_loss"]) and math.isfinite(paper["mean_train_loss"])
        assert fast["images_per_run"] == paper["images_per_run"]  # same share of an epoch per repetition
        same = t["fast_paper_batch"]  # sam-bench's loop at the paper's batch as well
        _check_measurement(same, s["repeats"])
        assert same["batch_size"] == paper["batch_size"] == s["paper_batch_size"] != fast["batch_size"]
        assert same["images_per_run"] == paper["images_per_run"]
        assert t["x_paper_same_batch"] == pytest.approx(
            same["images_per_s"]["median"] / paper["images_per_s"]["median"]
        )

    pgd = res["evaluation"]["pgd"]
    _check_measurement(pgd, s["repeats"])
    assert pgd["images_per_run"] == s["pgd_images"]
    aa = res["evaluation"]["autoattack"]
    assert [a["model"] for a in aa] == ["bench-standard", "bench-at"]
    assert [a["method"] for a in aa] == ["standard", "at"]
    for a in aa:
        assert a["n_images"] == s["aa_images"] and a["version"] == "standard" and a["eps"] == "8/255"
        assert a["seconds"] > 0 and a["seconds_per_1000"] == pytest.approx(a["seconds"] / a["n_images"] * 1000)
        assert 0 <= a["robust_acc"] <= a["clean_acc"] <= 1
        assert list(a["breakdown"]) == ["clean", *a["attacks"]]

    checks = {c["name"].split(":")[0]: c for c in res["targets"]["checks"]}
    assert set(checks) == {"ST", "SAM"}  # as every page names the methods
    assert checks["SAM"]["measured"] == res["training"]["sam"]["x_paper"]
    assert checks["SAM"]["met"] == (res["training"]["sam"]["x_paper"] >= 1)
    fast, paper = res["training"]["sam"]["fast"]["images_per_s"], res["training"]["sam"]["paper"]["images_per_s"]
    assert checks["SAM"]["spread"] == pytest.approx([fast["min"] / paper["max"], fast["max"] / paper["min"]])
    lo, hi = checks["SAM"]["spread"]
    assert lo <= checks["SAM"]["measured"] <= hi and checks["SAM"]["clear"] == ((lo >= 1) == (hi >= 1))
    assert res["wall_time_s"] > 0
    for word in ("sam-bench", "paper", "x paper", "PGD-10", "bench-at", "torch"):
        assert word in r.output

    # The README's Markdown tables come from the results file, measuring nothing.
    r = CliRunner().invoke(cli, ["bench", "--markdown-from", str(out)])
    assert r.exit_code == 0, r.output
    assert f"**{env['device_name']}**" in r.output and "| ST | sam-bench | 16 | fp32 |" in r.output
    assert f"{res['training']['sam']['x_paper']:.2f}x" in r.output


def test_markdown_from_refuses_other_files(tmp_path):
    (tmp_path / "other.json").write_text('{"schema": "sam-bench/eval-results/v1"}')
    r = CliRunner().invoke(cli, ["bench", "--markdown-from", str(tmp_path / "other.json")])
    assert r.exit_code == 2 and "not a sam-bench bench results file" in r.output


def test_library_call_skips(tmp_path):
    res = run_bench(
        device="cpu",
        methods="standard,asam",
        batch_size=8,
        n_images=16,
        repeats=1,
        warmup=0,
        width=0.0625,
        steps=1,
        paper_loop=False,
        evaluation=False,
        threads=1,
        commit="abc123",
    )
    assert res["environment"]["code_commit"] == "abc123" and res["environment"]["code_commit_source"] == "given"
    assert set(res["training"]) == {"standard", "asam"}
    assert all(t["paper"] is None and t["x_paper"] is None for t in res["training"].values())
    assert res["evaluation"] is None and res["targets"]["checks"] == []
    assert res["training"]["asam"]["fast"]["passes_per_step"] == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--methods", "standard,bogus"], "unknown method 'bogus'"),
        (["--repeats", "0"], "--repeats must be >= 1"),
        (["--steps", "0"], "--steps must be >= 1"),
        (["--arch", "nonet"], "unknown architecture"),
        (["--batch-size", "64", "--n-images", "32"], "smaller than a batch"),
        (["--write-into", "README.md"], "--write-into works only with --markdown-from"),
        (["--budget-s", "10"], "--budget-s works only with --probe"),
        (["--markdown-from", "x.json", "--probe"], "--markdown-from prints a results file and --probe measures"),
        (["--models", "SomeModel", "--skip-eval"], "--models sets the attack timings that --skip-eval leaves out"),
    ],
)
def test_bad_inputs_exit_2_with_one_line(tmp_path, args, message):
    r = CliRunner().invoke(cli, ["bench", "--quick", "--out", str(tmp_path / "x.json"), *args])
    assert r.exit_code == 2, r.output
    assert r.output.strip().count("\n") == 0 and message in r.output
    assert not (tmp_path / "x.json").exists()


def test_run_bench_rejects_bad_values():
    with pytest.raises(BadInput, match="unknown method"):
        run_bench(device="cpu", methods=["sgd"])
    with pytest.raises(BadInput, match="--warmup"):
        run_bench(device="cpu", warmup=-1)


def test_summary_and_slug():
    assert summarize([3.0, 1.0, 2.0]) == {"runs": [3.0, 1.0, 2.0], "median": 2.0, "min": 1.0, "max": 3.0}
    assert device_slug("NVIDIA H100 80GB HBM3") == "nvidia-h100-80gb-hbm3"
    assert device_slug("cpu (x86_64, 2 threads)") == "cpu-x86-64-2-threads"


# ---------------------------------------------------------------------------------------------
# The baseline must be faithful: it trains, and its SAM moves BatchNorm statistics in both passes.


@pytest.mark.parametrize("method", ["standard", "sam"])
def test_paper_loop_trains(method):
    data = synthetic_dataset(n_train=256, n_test=8, seed=1)
    torch.manual_seed(0)
    model = paper_model(10, width=0.125)
    optimizer = paper_optimizer(method, model, lr=0.05)
    normalize = make_normalize("cifar10")
    batches = endless(paper_loader(data.x_train, data.y_train, batch_size=32))
    losses = [
        paper_step(method, model, optimizer, x, y, normalize, torch.device("cpu"))[0] / len(y)
        for x, y in (next(batches) for _ in range(24))
    ]
    assert all(math.isfinite(v) for v in losses)
    assert sum(losses[-4:]) / 4 < 0.7 * sum(losses[:4]) / 4, losses


def _bn_updates(model):
    return {
        name: int(m.num_batches_tracked) for name, m in model.named_modules() if isinstance(m, torch.nn.BatchNorm2d)
    }


def test_paper_sam_moves_bn_stats_in_both_passes_ours_in_one():
    data = synthetic_dataset(n_train=32, n_test=8)
    x, y = next(iter(paper_loader(data.x_train, data.y_train, batch_size=16)))
    normalize = make_normalize("cifar10")
    torch.manual_seed(0)
    paper = paper_model(10, width=0.0625)
    bn_before = paper.layer1[0].bn1.running_mean.clone()
    paper_step("sam", paper, paper_optimizer("sam", paper), x, y, normalize, torch.device("cpu"))
    assert set(_bn_updates(paper).values()) == {2}  # the paper's SAM: both passes move them
    assert not torch.equal(paper.layer1[0].bn1.running_mean, bn_before)

    paper_sgd = paper_model(10, width=0.0625)
    paper_step("standard", paper_sgd, paper_optimizer("standard", paper_sgd), x, y, normalize, torch.device("cpu"))
    assert set(_bn_updates(paper_sgd).values()) == {1}

    ours = create_model(make_spec("preactresnet18", 10, (0.5,) * 3, (0.25,) * 3, 0.0625))
    opt = SAM(ours.parameters(), torch.optim.SGD, rho=0.05, lr=0.1, momentum=0.9)
    train_step("sam", ours, opt, x, y)
    assert set(_bn_updates(ours).values()) == {1}  # sam-bench: the first pass only


def test_paper_sam_is_the_same_algorithm_as_ours_without_batchnorm():
    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    b = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    b.load_state_dict(a.state_dict())
    start = a[1].weight.detach().clone()
    kwargs = dict(lr=0.1, momentum=0.9, weight_decay=5e-4)
    opt_a, opt_b = PaperSAM(a.parameters(), torch.optim.SGD, rho=0.2, **kwargs), SAM(b.parameters(), rho=0.2, **kwargs)
    x, y = torch.randn(8, 12), torch.randint(0, 3, (8,))
    for _ in range(3):
        for model, opt in ((a, opt_a), (b, opt_b)):
            F.cross_entropy(model(x), y).backward()
            opt.first_step(zero_grad=True)
            F.cross_entropy(model(x), y).backward()
            opt.second_step(zero_grad=True)
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q)
    assert not torch.allclose(a[1].weight, start)  # it moved


def test_paper_pgd_stays_in_the_ball():
    torch.manual_seed(0)
    model = paper_model(10, width=0.0625)
    x, y = torch.rand(4, 3, 32, 32), torch.randint(0, 10, (4,))
    delta = paper_pgd(model, x, y, make_normalize("cifar10"), eps=8 / 255, step_size=2 / 255, steps=3)
    assert delta.abs().max() <= 8 / 255 + 1e-6
    assert (x + delta).min() >= -1e-6 and (x + delta).max() <= 1 + 1e-6
    assert delta.abs().max() > 4 / 255  # it searched


def test_every_finished_part_is_written_at_once(tmp_path):
    out = tmp_path / "deep" / "bench.json"
    seen = []

    def log(message):  # called before each part starts: the file holds every part finished so far
        if out.is_file():
            record = json.loads(out.read_text())
            seen.append((message, record["status"], sorted(record["training"])))

    result = run_bench(
        **{**QUICK, "methods": ("standard", "sam"), "paper_loop": False, "evaluation": False}, log=log, out=out
    )
    assert seen == [
        ("training throughput: standard (sam-bench loop)", "running", []),
        ("training throughput: sam (sam-bench loop)", "running", ["standard"]),
    ]
    assert result["status"] == "complete" and json.loads(out.read_text())["status"] == "complete"


def test_a_time_limit_skips_the_parts_that_would_end_after_it(tmp_path, monkeypatch):
    """Each part takes "a minute" on the clock; 1.5 minutes: the first runs, the next would end at 2."""
    fake = SimpleNamespace(now=1000.0)
    monkeypatch.setattr(clock, "time", SimpleNamespace(time=lambda: fake.now))
    honest = throughput.fast_training

    def a_minute(*args):
        fake.now += 60
        return honest(*args)

    monkeypatch.setattr(throughput, "fast_training", a_minute)
    out = tmp_path / "bench.json"
    result = run_bench(
        **{**QUICK, "methods": ("standard", "sam", "at"), "paper_loop": False, "evaluation": False},
        out=out,
        stop_at=fake.now + 90,
    )
    assert list(result["training"]) == ["standard"]
    assert result["status"] == "stopped" and result["not_measured"] == ["training: sam", "training: at"]
    assert json.loads(out.read_text())["not_measured"] == result["not_measured"]


def test_every_sam_method_is_benched_with_its_own_radius_or_the_one_given():
    """Without --rho each SAM method takes its own default radius (ASAM's 0.5 is on another scale than SAM's
    0.05); a given --rho reaches every SAM method's optimizer, in the timed loop and in the probe alike."""
    from sam_bench.bench import probe_steps
    from sam_bench.bench.measurement import train_config

    s = {**throughput.DEFAULTS, **QUICK, "precision": "fp32"}
    assert s["rho"] is None
    cpu = torch.device("cpu")
    for method, own in (("sam", 0.05), ("asam", 0.5), ("sam-at", 0.05)):
        assert train_config(method, s, cpu, compile=False).rho == own
        assert train_config(method, {**s, "rho": 0.3}, cpu, compile=False).rho == 0.3
        setup = probe_steps.training_setup(method, "eager", {**s, "rho": 0.3}, cpu)
        assert [g["rho"] for g in setup.optimizer.param_groups] == [0.3]
        assert setup.optimizer.param_groups[0]["adaptive"] == (method == "asam")
    assert train_config("standard", {**s, "rho": 0.3}, cpu, compile=False).rho is None


def test_the_probe_times_the_attack_on_the_architecture_it_was_given(monkeypatch):
    """The probe's attack step builds the benchmark's architecture with its --arch-kwargs, as the timed loop
    does: a timm model's small variant is the model measured, not its default size."""
    from sam_bench.bench import probe_steps

    built = []
    real = probe_steps.create_model
    monkeypatch.setattr(probe_steps, "create_model", lambda spec: built.append(spec) or real(spec))
    s = {**throughput.DEFAULTS, **QUICK, "arch_kwargs": {"depth": 2}, "attack_images": 2, "width": 1.0}
    s["arch"] = "timm:vit_tiny_patch16_224"
    probe_steps.attack_step("ieee", s, "cpu")
    assert [spec.get("kwargs") for spec in built] == [{"depth": 2}]
