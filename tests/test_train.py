import json

import pytest
import torch
from safetensors.torch import load_file
from tiny_training import tiny

import sam_bench.training.epoch as train_module
from sam_bench import files
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.rundir.model import load_run
from sam_bench.training.epoch import learning_rate
from sam_bench.training.loop import TrainConfig, train


def test_resume_equals_uninterrupted(tmp_path):
    for method in ("sam", "at"):
        straight = train(tiny(method=method, attack_steps=2), tmp_path / f"{method}-a", progress=False)
        interrupted = train(
            tiny(method=method, attack_steps=2), tmp_path / f"{method}-b", stop_after_epochs=1, progress=False
        )
        assert interrupted["status"] == "running" and interrupted["epochs_done"] == 1
        assert not (tmp_path / f"{method}-b" / "model.safetensors").exists()
        resumed = train(tiny(method=method, attack_steps=2), tmp_path / f"{method}-b", resume=True, progress=False)
        a = load_file(tmp_path / f"{method}-a" / "model.safetensors")
        b = load_file(tmp_path / f"{method}-b" / "model.safetensors")
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        assert (
            resumed["final"] == straight["final"] or resumed["final"]["train_loss"] == straight["final"]["train_loss"]
        )
        log = (tmp_path / f"{method}-b" / "log.jsonl").read_text().splitlines()
        assert [json.loads(line)["epoch"] for line in log] == [1, 2]
        # CPU time is kept per epoch and summed over both calls (the measure of cost when cores are shared)
        cpu = [json.loads(line)["cpu_seconds"] for line in log]
        assert all(c > 0 for c in cpu) and resumed["cpu_time_s"] == pytest.approx(sum(cpu))


def test_run_directory_rebuilds_the_model(tmp_path):
    meta = train(tiny(method="standard", epochs=1), tmp_path / "run", progress=False)
    assert {"model.safetensors", "metadata.json", "log.jsonl", "checkpoint.pt"} <= {
        p.name for p in (tmp_path / "run").iterdir()
    }
    for key in (
        "config",
        "arch",
        "dataset",
        "code_commit",
        "torch_version",
        "device",
        "wall_time_s",
        "final",
        "weights_sha256",
        "passes_per_step",
    ):
        assert key in meta
    assert meta["dataset"]["sha256"] and meta["passes_per_step"] == 1
    model, stored = load_run(tmp_path / "run")
    assert stored == json.loads((tmp_path / "run" / "metadata.json").read_text())
    # the rebuilt model scores exactly what training reported
    from sam_bench.data import load_dataset

    data = load_dataset("synthetic")
    with torch.no_grad():
        x = torch.from_numpy(data.x_test).permute(0, 3, 1, 2).float() / 255
        acc = (model(x).argmax(1) == torch.from_numpy(data.y_test)).float().mean().item()
    assert acc == pytest.approx(meta["final"]["test_acc"], abs=1e-6)


def test_every_method_trains_and_learns(tmp_path):
    for method, extra in (
        ("standard", {}),
        ("sam", {"rho": 0.05}),
        ("asam", {}),
        ("at", {"attack_norm": "L2", "attack_eps": "32/255", "attack_steps": 2}),
        ("sam-at", {"attack_eps": "2/255", "attack_steps": 1}),
    ):
        meta = train(tiny(method=method, epochs=4, n_train=512, **extra), tmp_path / method, progress=False)
        # 10 classes: chance is 0.1 (sd 0.013 over 512 images), so twice chance is learning; the runs
        # end between 0.25 and 0.95 depending on the CPU's oneDNN code path and threads (sam-at lowest).
        # Training accuracy, because after 32 steps at this learning rate the test accuracy still
        # swings with BatchNorm's lagging running statistics.
        assert meta["final"]["train_acc"] > 0.2, method
    at = json.loads((tmp_path / "at" / "metadata.json").read_text())
    assert at["passes_per_step"] == 3 and at["config"]["attack_step_size"] == "40/255"  # 2.5 * eps / steps


def test_nan_loss_stops_and_keeps_last_good_checkpoint(tmp_path, monkeypatch):
    real_step, calls = train_module.train_step, {"n": 0}

    def poisoned(*args, **kwargs):
        loss, logits = real_step(*args, **kwargs)
        calls["n"] += 1
        return (loss * float("nan") if calls["n"] > 3 else loss), logits  # epoch 1 has 3 steps

    monkeypatch.setattr(train_module, "train_step", poisoned)
    with pytest.raises(SamBenchError, match="loss became nan in epoch 2.*epoch 1"):
        train(tiny(checkpoint_every_s=0), tmp_path / "run", progress=False)
    ckpt = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 1
    assert not (tmp_path / "run" / "model.safetensors").exists()


def test_checkpoints_come_at_most_once_per_interval_and_whenever_a_call_stops(tmp_path, monkeypatch):
    """A checkpoint costs a GPU a good part of an epoch: with an hour's interval, a call writes one only
    where it stops (--stop-after-epochs, a time limit) and after the last epoch; 0 means every epoch.
    The log lists exactly the checkpointed epochs, and the run resumes from them to the same weights."""
    saved = []
    real_save = files.torch_save
    monkeypatch.setattr(
        files,
        "torch_save",
        lambda path, obj: (saved.append((path.parent.name, obj["epoch"])), real_save(path, obj)),
    )
    train(tiny(epochs=3, checkpoint_every_s=3600), tmp_path / "hourly", progress=False)
    train(tiny(epochs=3, checkpoint_every_s=0), tmp_path / "every", progress=False)
    train(tiny(epochs=3, checkpoint_every_s=3600), tmp_path / "stopped", stop_after_epochs=2, progress=False)
    assert saved == [("hourly", 3), ("every", 1), ("every", 2), ("every", 3), ("stopped", 2)]
    log = (tmp_path / "stopped" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in log] == [1, 2]
    train(tiny(epochs=3, checkpoint_every_s=3600), tmp_path / "stopped", resume=True, progress=False)
    a, b = load_file(tmp_path / "hourly" / "model.safetensors"), load_file(tmp_path / "stopped" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(BadInput, match="checkpoint-every"):
        train(tiny(checkpoint_every_s=-1), tmp_path / "bad", progress=False)


def test_bad_inputs(tmp_path):
    with pytest.raises(BadInput, match="rho"):
        train(tiny(method="sam", rho=-1.0), tmp_path / "a", progress=False)
    with pytest.raises(BadInput, match="unknown method"):
        train(tiny(method="adam"), tmp_path / "a", progress=False)
    with pytest.raises(BadInput, match="eps"):
        train(tiny(method="at", attack_eps="abc"), tmp_path / "a", progress=False)
    with pytest.raises(BadInput, match="unknown architecture"):
        train(tiny(arch="vgg"), tmp_path / "a", progress=False)
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("someone else's")
    with pytest.raises(BadInput, match="already holds files"):
        train(tiny(), tmp_path / "busy", progress=False)
    assert (tmp_path / "busy" / "keep.txt").read_text() == "someone else's"


def test_corrupted_checkpoint_on_resume(tmp_path):
    train(tiny(), tmp_path / "run", stop_after_epochs=1, progress=False)
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"\x00garbage")
    with pytest.raises(SamBenchError, match="corrupted or unreadable checkpoint"):
        train(tiny(), tmp_path / "run", resume=True, progress=False)


def test_a_resumed_run_whose_checkpoint_is_gone_says_so_in_one_line_and_trains_from_its_start(tmp_path, recwarn):
    train(tiny(epochs=2), tmp_path / "run", stop_after_epochs=1, progress=False)
    train(tiny(epochs=2), tmp_path / "kept", stop_after_epochs=1, progress=False)
    (tmp_path / "run" / "checkpoint.pt").unlink()
    with pytest.warns(UserWarning) as said:
        meta = train(tiny(epochs=2), tmp_path / "run", resume=True, progress=False)
    (message,) = [str(w.message) for w in said if "checkpoint.pt" in str(w.message)]
    said = "1 epochs were trained, but their checkpoint.pt is not here: the run trains from its start"
    assert message == f"{tmp_path / 'run'}: {said}"
    log = [json.loads(line)["epoch"] for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert meta["status"] == "complete" and log == [1, 2]  # epoch 1 trained again: one record of each epoch
    recwarn.clear()
    train(tiny(epochs=2), tmp_path / "kept", resume=True, progress=False)  # its checkpoint is there: no word
    assert not [w for w in recwarn if "checkpoint.pt" in str(w.message)]


def test_schedules():
    cfg = TrainConfig(epochs=100, lr=0.1)
    assert [learning_rate(cfg, e, 0, 10) for e in (0, 74, 75, 89, 90, 99)] == pytest.approx(
        [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    )
    cos = TrainConfig(epochs=10, lr=0.1, schedule="cosine")
    assert learning_rate(cos, 0, 0, 10) == pytest.approx(0.1)
    assert learning_rate(cos, 5, 0, 10) == pytest.approx(0.05)


def test_resume_refuses_to_switch_precision(tmp_path):
    """`auto` is bf16 on a GPU and fp32 on a CPU: a run started on a GPU can't silently go on in fp32."""
    out = tmp_path / "run"
    meta = train(tiny(method="standard", epochs=2), out, stop_after_epochs=1, progress=False)
    assert meta["precision_used"] == "fp32"
    stored = json.loads((out / "metadata.json").read_text())
    started_on_gpu = {**stored, "device": "cuda:0"}
    del started_on_gpu["precision_used"]  # as runs written before the field existed
    (out / "metadata.json").write_text(json.dumps(started_on_gpu))
    with pytest.raises(BadInput, match="trained in bf16 so far and would continue in fp32 on cpu"):
        train(tiny(method="standard", epochs=2), out, resume=True, progress=False)
    (out / "metadata.json").write_text(json.dumps(stored))
    assert train(tiny(method="standard", epochs=2), out, resume=True, progress=False)["status"] == "complete"


def test_time_limit_discounts_the_first_steps_compilation():
    from sam_bench.training.epoch import expected_epoch_seconds

    record = {"seconds": 14.0, "first_step_s": 5.0}  # 10 steps: a 5 s first step, then 1 s each
    assert expected_epoch_seconds(20.0, record, 10, first_of_call=True) == pytest.approx(16.0)
    assert expected_epoch_seconds(20.0, record, 10, first_of_call=False) == 20.0
    assert expected_epoch_seconds(20.0, record, 1, first_of_call=True) == 20.0


def test_training_stops_before_an_epoch_that_would_end_after_the_limit(tmp_path, training_clock):
    """Every epoch takes 100 s on the injected clock, so the limit alone decides how many run."""
    cfg, out = tiny(method="standard", epochs=4), tmp_path / "a"
    meta = train(cfg, out, stop_at=training_clock.now + 150, progress=False)  # a second would end at 200
    assert meta["status"] == "running" and meta["epochs_done"] == 1  # the first epoch always runs
    meta = train(cfg, out, resume=True, stop_at=training_clock.now + 250, progress=False)  # 2 fit, a 3rd ends at 300
    assert meta["status"] == "running" and meta["epochs_done"] == 3
    meta = train(cfg, out, resume=True, stop_at=training_clock.now + 10, progress=False)  # the first of a call runs
    assert meta["status"] == "complete"
