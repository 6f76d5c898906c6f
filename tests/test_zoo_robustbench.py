"""The plugin's core promise: RobustBench's own load_model and benchmark work on zoo entries,
offline, without unpickling anything but the plain state_dict we wrote."""

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from sam_bench.data import load_dataset
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.training.loop import TrainConfig, train
from sam_bench.zoo import store as zoo

ID = "SamBench2025RB_PRN18-w0.125"


@pytest.fixture(scope="module")
def zoo_dir(tmp_path_factory):
    torch.set_num_threads(1)  # a tiny model; more threads only fight over a busy machine's cores
    root = tmp_path_factory.mktemp("rb")
    train(
        TrainConfig(arch="preactresnet18", width=0.125, epochs=1, dataset="cifar10-sample", n_train=256, batch_size=64),
        root / "run",
        progress=False,
    )
    zoo.add(root / "run", ID, zoo_dir=root / "model_zoo")
    return root / "model_zoo"


@pytest.fixture(scope="module")
def sample():
    data = load_dataset("cifar10-sample")
    x = torch.from_numpy(np.ascontiguousarray(data.x_test[:64].transpose(0, 3, 1, 2))).float() / 255
    return x, torch.from_numpy(data.y_test[:64])


def test_robustbench_load_model_gives_our_model(zoo_dir, tmp_path, sample):
    from robustbench.utils import load_model

    assert zoo.register_with_robustbench(zoo_dir) == [ID]
    model_dir = tmp_path / "models"
    theirs = load_model(ID, model_dir=str(model_dir), dataset="cifar10", threat_model="Linf")
    ours = zoo.load_model(ID, zoo_dir=zoo_dir)
    x, _ = sample
    assert not theirs.training
    with torch.no_grad():
        assert torch.equal(theirs(x[:8]), ours(x[:8]))
    checkpoint = model_dir / "cifar10" / "Linf" / f"{ID}.pt"
    state = torch.load(checkpoint, weights_only=True)  # a plain state_dict: tensors only
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert state.keys() == ours.state_dict().keys()


def test_model_dir_can_be_the_zoo_itself(zoo_dir, tmp_path):
    from robustbench.utils import load_model

    zoo_copy = tmp_path / "model_zoo"
    shutil.copytree(zoo_dir, zoo_copy)
    zoo.register_with_robustbench(zoo_copy)
    load_model(ID, model_dir=str(zoo_copy), dataset="cifar10", threat_model="Linf")
    assert (zoo_copy / "cifar10" / "Linf" / f"{ID}.pt").is_file()
    zoo.register_with_robustbench(zoo_dir)


def test_a_stale_or_edited_pt_copy_is_refused(zoo_dir, tmp_path):
    from robustbench.utils import load_model

    zoo.register_with_robustbench(zoo_dir)
    model_dir = tmp_path / "models"
    load_model(ID, model_dir=str(model_dir), dataset="cifar10", threat_model="Linf")
    checkpoint = model_dir / "cifar10" / "Linf" / f"{ID}.pt"
    state = torch.load(checkpoint, weights_only=True)
    state["linear.bias"] = state["linear.bias"] + 1
    torch.save(state, checkpoint)
    with pytest.raises(SamBenchError, match=r"\.pt file in RobustBench's model_dir does not hold"):
        load_model(ID, model_dir=str(model_dir), dataset="cifar10", threat_model="Linf")


def test_tampered_zoo_weights_are_refused_through_robustbench(zoo_dir, tmp_path):
    from robustbench.utils import load_model

    zoo_copy = tmp_path / "model_zoo"
    shutil.copytree(zoo_dir, zoo_copy)
    weights = zoo_copy / "cifar10" / "Linf" / f"{ID}.safetensors"
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    zoo.register_with_robustbench(zoo_copy)
    try:
        with pytest.raises(SamBenchError, match=f"{weights.name}: sha256 does not match"):
            load_model(ID, model_dir=str(tmp_path / "models"), dataset="cifar10", threat_model="Linf")
        assert not (tmp_path / "models" / "cifar10" / "Linf" / f"{ID}.pt").exists()
    finally:
        zoo.register_with_robustbench(zoo_dir)


def test_robustbench_benchmark_runs_on_a_zoo_entry_with_local_data(zoo_dir, sample, monkeypatch):
    import robustbench.eval
    from robustbench.utils import load_model

    torch.set_num_threads(1)  # a tiny model: one thread is fastest, and immune to a busy machine
    x, y = sample
    asked = []

    def local_data(dataset, n_examples, data_dir, prepr):
        asked.append((dataset.value, n_examples))
        return x[:n_examples], y[:n_examples]

    monkeypatch.setattr(robustbench.eval, "load_clean_dataset", local_data)
    zoo.register_with_robustbench(zoo_dir)
    model = load_model(ID, model_dir=str(zoo_dir.parent / "models"), dataset="cifar10", threat_model="Linf")
    clean, robust = robustbench.eval.benchmark(
        model,
        n_examples=16,
        dataset="cifar10",
        threat_model="Linf",
        eps=8 / 255,
        device=torch.device("cpu"),
        batch_size=16,
    )
    assert asked == [("cifar10", 16)]
    with torch.no_grad():
        ours = (zoo.load_model(ID, zoo_dir=zoo_dir)(x[:16]).argmax(1) == y[:16]).float().mean().item()
    assert clean == ours
    assert 0.0 <= robust <= clean


def test_upstream_ids_are_never_shadowed(zoo_dir, tmp_path):
    from robustbench.model_zoo import model_dicts
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    upstream_id = "Carmon2019Unlabeled"
    board = model_dicts[BenchmarkDataset.cifar_10][ThreatModel.Linf]
    before = board[upstream_id]
    other = tmp_path / "model_zoo"
    shutil.copytree(zoo_dir, other)
    entry = other / "cifar10" / "Linf" / f"{ID}.json"
    text = entry.read_text().replace(ID, upstream_id)
    entry.unlink()
    (other / "cifar10" / "Linf" / f"{ID}.safetensors").rename(other / "cifar10" / "Linf" / f"{upstream_id}.safetensors")
    (other / "cifar10" / "Linf" / f"{upstream_id}.json").write_text(text)
    assert zoo.register_with_robustbench(other) == []
    assert board[upstream_id] is before


def test_registration_happens_when_robustbench_is_imported(zoo_dir, tmp_path):
    code = f"""
import sys
from sam_bench.zoo.robustbench_hook import install_robustbench_hook
install_robustbench_hook()
assert 'robustbench' not in sys.modules
from robustbench.utils import load_model
model = load_model({ID!r}, model_dir={str(tmp_path / "models")!r}, dataset='cifar10', threat_model='Linf')
print('loaded', type(model).__name__)
"""
    env = {**os.environ, "SAM_BENCH_ZOO": str(zoo_dir), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "loaded PreActResNet" in out.stdout


def test_an_id_no_zoo_holds_is_one_line_saying_how_to_point_at_the_zoo(zoo_dir, tmp_path, monkeypatch):
    from robustbench.utils import load_model

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SAM_BENCH_ZOO", str(tmp_path / "elsewhere"))
    (tmp_path / "elsewhere").mkdir()
    with pytest.raises(KeyError) as raised:  # RobustBench's own kind, as callers catch it
        load_model("Me2026Standard_nowhere", model_dir=str(tmp_path / "models"), dataset="cifar10", threat_model="Linf")
    said = str(raised.value)
    assert isinstance(raised.value, BadInput) and "\n" not in said
    assert said.startswith("'Me2026Standard_nowhere' is neither RobustBench's nor in a sam-bench zoo for cifar10/Linf")
    assert f"looked in: {tmp_path / 'elsewhere'}" in said and "SAM_BENCH_ZOO=DIR" in said


def test_robustbench_finds_the_zoo_in_the_working_directory(zoo_dir, tmp_path, monkeypatch):
    """A user's zoo, made with `--zoo-dir model_zoo` where they work, loaded by RobustBench's load_model with no
    SAM_BENCH_ZOO set (a raw KeyError before)."""
    from robustbench.utils import load_model

    shutil.copytree(zoo_dir, tmp_path / "model_zoo")
    entry = tmp_path / "model_zoo" / "cifar10" / "Linf" / f"{ID}.json"
    own = "Me2026Standard_here"
    entry.rename(entry.with_name(f"{own}.json"))
    entry.with_name(f"{own}.json").write_text(entry.with_name(f"{own}.json").read_text().replace(ID, own))
    (tmp_path / "model_zoo" / "cifar10" / "Linf" / f"{ID}.safetensors").rename(entry.with_name(f"{own}.safetensors"))
    monkeypatch.delenv("SAM_BENCH_ZOO", raising=False)
    monkeypatch.chdir(tmp_path)
    model = load_model(own, model_dir=str(tmp_path / "models"), dataset="cifar10", threat_model="Linf")
    assert type(model).__name__ == "PreActResNet"


def test_register_without_a_folder_finds_the_zoo_named_last(zoo_dir, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from sam_bench.cli import cli

    monkeypatch.delenv("SAM_BENCH_ZOO", raising=False)
    monkeypatch.chdir(tmp_path)  # no model_zoo/ here
    assert ID not in zoo.register_with_robustbench()
    assert CliRunner().invoke(cli, ["zoo", "verify", "--zoo-dir", str(zoo_dir)]).exit_code == 0
    assert ID in zoo.register_with_robustbench()
