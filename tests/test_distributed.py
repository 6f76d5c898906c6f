"""Several processes (gloo, 2 CPU processes) compute what one process computes."""

import copy
import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from sam_bench.data import STATS
from sam_bench.models import create_model, make_spec
from sam_bench.runtime import distributed
from sam_bench.training.loop import TrainConfig, build_optimizer
from sam_bench.training.methods import train_step

CPU = torch.device("cpu")
SPEC = make_spec("preactresnet18", 10, *STATS["cifar10"], width=0.125)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _in_group(rank: int, world: int, port: int, worker, *args) -> None:
    """Runs worker(ctx, *args) as process `rank` of a Gloo group on this machine."""
    torch.set_num_threads(1)
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank)
    )
    try:
        worker(distributed.start("cpu"), *args)
    finally:
        distributed.stop()
    # A worker that got here passed. It leaves without the interpreter's teardown: torch keeps a DDP-wrapped
    # model's Gloo group alive after destroy_process_group (its threads, pt_gloo_runloop and gloo_tcp_loop, still
    # run after stop(); a group used without DDP ends with it), and tearing that group down at exit aborted the
    # process now and then ("terminate called without an active exception": 2 of 80 runs with both cores busy).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def _spawn(worker, *args):
    """worker(ctx, *args) in 2 processes; a failed assertion in either fails the test."""
    mp.spawn(_in_group, args=(2, _free_port(), worker, *args), nprocs=2)


def _batchnorm_worker(ctx):
    torch.manual_seed(0)
    x, w = torch.randn(8, 4, 5, 5, dtype=torch.float64), torch.randn(8, 4, 5, 5, dtype=torch.float64)
    whole = torch.nn.BatchNorm2d(4).double()
    whole.weight.data.uniform_()
    whole.bias.data.uniform_()
    split = distributed.synchronise_batchnorm(copy.deepcopy(whole), CPU)
    assert isinstance(split, distributed.GlobalBatchNorm2d)
    xw = x.clone().requires_grad_()
    (whole(xw) * w).sum().backward()
    xs = ctx.take(x).clone().requires_grad_()
    out = split(xs)
    (out * ctx.take(w)).sum().backward()
    torch.testing.assert_close(
        out,
        ctx.take(
            torch.nn.functional.batch_norm(x, None, None, whole.weight.detach(), whole.bias.detach(), training=True)
        ),
        rtol=1e-12,
        atol=1e-12,
    )
    torch.testing.assert_close(xs.grad, ctx.take(xw.grad), rtol=1e-10, atol=1e-12)
    weight_grad = ctx.sum(split.weight.grad)
    torch.testing.assert_close(weight_grad, whole.weight.grad, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(split.running_mean, whole.running_mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(split.running_var, whole.running_var, rtol=1e-12, atol=1e-12)


def test_global_batchnorm_is_batchnorm_over_the_whole_batch():
    _spawn(_batchnorm_worker)


def _step_worker(ctx):
    for method in ("standard", "sam", "at", "sam-at", "fgsm-rs", "n-fgsm"):
        cfg = TrainConfig(
            method=method,
            attack_steps=1 if method in ("fgsm-rs", "n-fgsm") else 2,
            attack_norm="L2" if method == "sam-at" else "Linf",
            attack_eps="32/255" if method == "sam-at" else "8/255",
        ).validate()
        torch.manual_seed(0)
        alone = create_model(SPEC).double()
        shared = distributed.synchronise_batchnorm(copy.deepcopy(alone), CPU)
        ddp, shard = distributed.wrap(shared, ctx, "global")
        opt_alone, opt_shared = build_optimizer(cfg, alone), build_optimizer(cfg, shared)
        x, y = torch.rand(8, 3, 32, 32, dtype=torch.float64), torch.randint(0, 10, (8,))
        for _ in range(2):
            rng = torch.get_rng_state()
            loss_alone, _ = train_step(method, alone.train(), opt_alone, x, y, cfg.attack())
            torch.set_rng_state(rng)  # the same random starts for the attack
            loss_shard, logits = train_step(method, ddp.train(), opt_shared, x, y, cfg.attack(), shard=shard)
            assert logits.shape[0] == 4
            torch.testing.assert_close(ctx.sum(loss_shard) / ctx.world, loss_alone, rtol=1e-10, atol=1e-12)
        for (name, a), b in zip(alone.state_dict().items(), shared.state_dict().values()):
            torch.testing.assert_close(b, a, rtol=1e-8, atol=1e-10, msg=f"{method}: {name}")


def test_a_sharded_step_equals_one_process_step_for_every_method():
    _spawn(_step_worker)


def _per_worker_worker(ctx):
    cfg = TrainConfig(method="sam", rho=0.1).validate()
    x, y = torch.rand(8, 3, 32, 32, dtype=torch.float64), torch.randint(0, 10, (8,))
    results = {}
    for mode in ("global", "per-worker"):
        torch.manual_seed(0)
        model = distributed.synchronise_batchnorm(create_model(SPEC).double(), CPU)
        ddp, shard = distributed.wrap(model, ctx, mode)
        train_step("sam", ddp.train(), build_optimizer(cfg, model), x, y, shard=shard)
        flat = torch.cat([p.detach().flatten() for p in model.parameters()])
        everyone = ctx.gather(flat)
        assert all(torch.equal(everyone[0], f) for f in everyone), f"{mode}: processes disagree"
        results[mode] = flat
    # Per-worker perturbations use each half batch's own gradient: a different (m-sharpness) step.
    assert (results["global"] - results["per-worker"]).abs().max() > 1e-6


def test_per_worker_sam_perturbation_differs_and_keeps_processes_in_step():
    _spawn(_per_worker_worker)


def test_processes_leave_their_group_together_unless_an_error_is_on_its_way_out(monkeypatch):
    # One destroying its group while another still works aborted in Gloo's threads now and then (CI's torchrun
    # test: rank 1 done, rank 0 writing its checkpoint); so a clean exit waits for the others, and an exit on an
    # error does not (the others may never come).
    calls: list[str] = []
    monkeypatch.setattr(distributed.dist, "barrier", lambda: calls.append("barrier"))
    monkeypatch.setattr(distributed.dist, "destroy_process_group", lambda: calls.append("destroy"))
    monkeypatch.setattr(distributed, "_current", distributed.Distributed(0, 2, CPU))
    distributed.stop()
    assert calls == ["barrier", "destroy"]
    calls.clear()
    monkeypatch.setattr(distributed, "_current", distributed.Distributed(0, 2, CPU))
    with pytest.raises(RuntimeError):
        try:
            raise RuntimeError("training failed")
        finally:
            distributed.stop()
    assert calls == ["destroy"]
    distributed.stop()  # a group left is left: nothing more
    assert calls == ["destroy"]


def _evaluate_worker(ctx, net, data, out):
    from sam_bench.evaluation.evaluate import evaluate
    from sam_bench.evaluation.specs import make_attacks

    specs = make_attacks("pgd", "Linf", ["2/255", "8/255"], steps=3) + make_attacks("pgd", "L2", ["0.25"], steps=3)
    results = evaluate(
        net,
        data,
        specs,
        n_examples=100,
        batch_size=20,
        chunk_size=20,
        progress=False,
        state_path=out / f"state{ctx.rank}.json",
    )
    # auto sizes: the processes settle on one batch size (a collective every process joins)
    results["auto_chunks"] = evaluate(net, data, make_attacks("clean"), n_examples=100, progress=False)["evaluations"][
        0
    ]["chunks"]
    (out / f"rank{ctx.rank}.json").write_text(json.dumps(results))


def _comparable(results: dict) -> list:
    return [
        {k: v for k, v in e.items() if k not in ("seconds", "cpu_seconds", "chunks")} for e in results["evaluations"]
    ]


def test_sharded_evaluation_gathers_what_one_process_computes(tiny_net, sample, tmp_path):
    from sam_bench.evaluation.evaluate import evaluate
    from sam_bench.evaluation.specs import make_attacks

    specs = make_attacks("pgd", "Linf", ["2/255", "8/255"], steps=3) + make_attacks("pgd", "L2", ["0.25"], steps=3)
    alone = evaluate(tiny_net, sample, specs, n_examples=100, batch_size=20, chunk_size=20, progress=False)
    assert 0 < alone["evaluations"][0]["robust_acc"] < alone["clean_acc"]  # a test that can tell
    _spawn(_evaluate_worker, tiny_net, sample, tmp_path)
    for rank in (0, 1):
        shared = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert _comparable(shared) == _comparable(alone)
        assert shared["auto_chunks"] == {"size": 500, "count": 1, "resumed": 0, "batch_size": 250}
    assert (tmp_path / "state0.json").is_file() and not (tmp_path / "state1.json").exists()  # rank 0 keeps state


def _cli(*args, torchrun=False):
    launcher = (
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
        if torchrun
        else [sys.executable]
    )
    # gloo finds its interface through the host's name unless told; in CI's network namespace (loopback
    # only, no resolver) that lookup fails now and then ("hostname of the client socket cannot be retrieved")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "GLOO_SOCKET_IFNAME": os.environ.get("GLOO_SOCKET_IFNAME", "lo")}
    return subprocess.run([*launcher, "-m", "sam_bench", *args], capture_output=True, text=True, env=env)


def test_torchrun_training_matches_one_process_and_resumes(tmp_path):
    common = [
        "train",
        "--method",
        "sam",
        "--rho",
        "0.05",
        "--dataset",
        "synthetic",
        "--width",
        "0.125",
        "--n-train",
        "128",
        "--batch-size",
        "64",
        "--epochs",
        "2",
        "--lr",
        "0.01",
        "--device",
        "cpu",
        "--quiet",
    ]
    alone = _cli(*common, "--out", str(tmp_path / "alone"))
    assert alone.returncode == 0, alone.stderr
    first = _cli(*common, "--out", str(tmp_path / "shared"), "--stop-after-epochs", "1", torchrun=True)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("stopped after epoch 1/2") == 1  # rank 0 speaks
    second = _cli("train", "--out", str(tmp_path / "shared"), "--resume", "--quiet", torchrun=True)
    assert second.returncode == 0, second.stderr
    meta = json.loads((tmp_path / "shared" / "metadata.json").read_text())
    assert meta["status"] == "complete" and meta["processes"] == 2
    logs = [
        [json.loads(line) for line in (tmp_path / d / "log.jsonl").read_text().splitlines()]
        for d in ("alone", "shared")
    ]
    for a, b in zip(*logs):
        assert a["images"] == b["images"] == 128
        assert b["train_loss"] == pytest.approx(a["train_loss"], rel=1e-4)
        assert b["test_acc"] == pytest.approx(a["test_acc"], abs=1 / 256 + 1e-9)
    w_alone, w_shared = (load_file(tmp_path / d / "model.safetensors") for d in ("alone", "shared"))
    # fp32 sums in another order: running the single process with 2 threads instead of 1 moves these
    # weights by up to ~1e-3 as well; per-worker SAM moves them by ~6e-3. The exact (fp64) equality
    # is test_a_sharded_step_equals_one_process_step_for_every_method's.
    for k in w_alone:
        torch.testing.assert_close(w_shared[k], w_alone[k], rtol=0, atol=2.5e-3, msg=k)


def test_torchrun_refuses_a_batch_it_cannot_split(tmp_path):
    r = _cli(
        "train",
        "--dataset",
        "synthetic",
        "--width",
        "0.125",
        "--n-train",
        "64",
        "--batch-size",
        "63",
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        str(tmp_path / "run"),
        torchrun=True,
    )
    assert r.returncode != 0
    # Our processes say one line each; the launcher then adds its own report on the failed children.
    assert "Error: --batch-size 63 must be divisible by the 2 processes" in r.stderr
    assert "sam_bench/" not in r.stderr  # no traceback through our code


def test_srun_tasks_find_their_process_group_in_slurms_variables(monkeypatch):
    """Not under torchrun: SLURM's own variables give rank, world, local rank and the master."""
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SLURM_NTASKS", "8")
    monkeypatch.setenv("SLURM_PROCID", "5")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("SLURM_JOB_ID", "123456")
    monkeypatch.setenv("SLURM_STEP_NODELIST", "gpu[07-10]")
    monkeypatch.delenv("SLURM_STEP_ID", raising=False)
    assert not distributed.launched_by_srun()  # the batch script itself, outside srun's tasks
    monkeypatch.setenv("SLURM_STEP_ID", "0")
    assert distributed.launched_by_srun()

    def no_scontrol(*args, **kwargs):
        raise OSError("no scontrol here")

    monkeypatch.setattr(distributed.subprocess, "run", no_scontrol)  # read the node list ourselves
    assert distributed.slurm_environment() == {
        "RANK": "5",
        "WORLD_SIZE": "8",
        "LOCAL_RANK": "1",
        "MASTER_ADDR": "gpu07",
        "MASTER_PORT": str(20000 + 123456 % 20000),
    }
    assert distributed.first_node("node-a,node-b") == "node-a"
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.1")  # a setup line's choice wins
    assert distributed.slurm_environment()["MASTER_ADDR"] == "10.0.0.1"
    monkeypatch.setenv("WORLD_SIZE", "2")  # under torchrun, torchrun's variables rule
    assert not distributed.launched_by_srun()
