"""The model zoo: add / list / verify / load, pickle-free and verified, and its error paths."""

import hashlib
import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import sam_bench
from sam_bench import files
from sam_bench.cli import cli
from sam_bench.data import load_dataset
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.rundir import blobs
from sam_bench.rundir.model import load_run
from sam_bench.training.loop import TrainConfig, train
from sam_bench.zoo import store as zoo

ID = "SamBench2025Test_PRN18-w0.125"


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory):
    torch.set_num_threads(1)  # a tiny model; more threads only fight over a busy machine's cores
    out = tmp_path_factory.mktemp("zoo") / "run"
    train(
        TrainConfig(arch="preactresnet18", width=0.125, epochs=1, dataset="cifar10-sample", n_train=256, batch_size=64),
        out,
        progress=False,
    )
    return out


@pytest.fixture(scope="session")
def images():
    data = load_dataset("cifar10-sample")
    return torch.from_numpy(np.ascontiguousarray(data.x_test[:8].transpose(0, 3, 1, 2))).float() / 255


@pytest.fixture
def zoo_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))  # never the user's cache
    return tmp_path / "model_zoo"


def tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


def test_round_trip_train_add_load_gives_identical_outputs(run_dir, zoo_dir, images):
    entry = zoo.add(run_dir, ID, zoo_dir=zoo_dir)
    model = sam_bench.load_model(ID, dataset="cifar10", threat_model="Linf", zoo_dir=zoo_dir)
    reference, _ = load_run(run_dir)
    assert not model.training
    with torch.no_grad():
        assert torch.equal(model(images), reference(images))
    assert tree(zoo_dir) == ["cifar10", "cifar10/Linf", f"cifar10/Linf/{ID}.json", f"cifar10/Linf/{ID}.safetensors"]
    weights = zoo_dir / "cifar10" / "Linf" / f"{ID}.safetensors"
    assert weights.read_bytes() == (run_dir / "model.safetensors").read_bytes()  # small: kept byte for byte
    assert entry["weights_sha256"] == entry["weights"]["sha256"] == files.sha256_file(weights)


def test_entry_records_spec_recipe_cost_and_provenance(run_dir, zoo_dir):
    zoo.add(run_dir, ID, zoo_dir=zoo_dir, paper={"authors": "A. Author"})
    stored = json.loads((zoo_dir / "cifar10" / "Linf" / f"{ID}.json").read_text())
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert stored["schema"] == zoo.SCHEMA and stored["id"] == ID
    assert (stored["dataset"], stored["threat_model"], stored["trained_on"]) == ("cifar10", "Linf", "cifar10-sample")
    assert stored["arch"] == meta["arch"] and stored["architecture"] == "PreActResNet-18 (width x0.125)"
    assert stored["training"]["config"] == meta["config"]  # the full recipe
    cost = stored["training_cost"]
    assert cost["wall_time_s"] == meta["wall_time_s"] > 0 and cost["images_per_s"] == meta["images_per_s"]
    assert cost["passes_per_step"] == 1 and cost["device_name"] == meta["device_name"] and cost["epochs"] == 1
    assert stored["paper"]["authors"] == "A. Author" and stored["paper"]["venue"] == "N/A"
    assert stored["added"]["run_weights_sha256"] == meta["weights_sha256"]
    if shutil.which("git"):  # the blob id is git's own
        weights = zoo_dir / "cifar10" / "Linf" / f"{ID}.safetensors"
        out = subprocess.run(["git", "hash-object", str(weights)], capture_output=True, text=True)
        assert stored["weights"]["git_blob"] == out.stdout.strip()


def test_suggested_id_follows_robustbench_scheme(run_dir):
    meta = json.loads((run_dir / "metadata.json").read_text())
    suggested = zoo.suggest_id(meta, year=2025)
    assert suggested == "SamBench2025Standard_PRN18-w0.125_sample"
    zoo.check_id(suggested)
    assert "_" not in suggested.split("_")[0]
    meta["config"].update(method="sam-at", rho=0.1, attack_norm="Linf", attack_eps="8/255", seed=3)
    assert zoo.suggest_id(meta, year=2025) == "SamBench2025SAMAT_PRN18-w0.125_rho0.1_Linf-8_sample_s3"


@pytest.mark.parametrize(
    "bad",
    [
        "sambench2025X",
        "Sam_Bench2025X",
        "SamBench25X",
        "SamBench2025X_",
        "../SamBench2025X",
        "SamBench2025X_a/b",
        "SamBench2025X_a*",
    ],
)
def test_invalid_ids_are_refused(run_dir, zoo_dir, bad):
    with pytest.raises(BadInput, match="invalid model id"):
        zoo.add(run_dir, bad, zoo_dir=zoo_dir)
    assert tree(zoo_dir) == []


def test_duplicate_id_is_refused_in_any_folder(run_dir, zoo_dir):
    zoo.add(run_dir, ID, zoo_dir=zoo_dir)
    before = {p: p.read_bytes() for p in zoo_dir.rglob("*") if p.is_file()}
    for threat_model in ("Linf", "L2"):
        with pytest.raises(BadInput, match="already taken"):
            zoo.add(run_dir, ID, threat_model=threat_model, zoo_dir=zoo_dir)
    assert {p: p.read_bytes() for p in zoo_dir.rglob("*") if p.is_file()} == before


def test_the_same_weights_twice_on_one_leaderboard_are_refused_naming_the_entry(run_dir, zoo_dir):
    """`zoo add` of the same run under a second id added a second entry with the same weights: two rows of one model
    on a board, and results (matched by their weights' sha256) that belong to either."""
    zoo.add(run_dir, ID, zoo_dir=zoo_dir)
    before = tree(zoo_dir)
    result = CliRunner().invoke(cli, ["zoo", "add", str(run_dir), "--id", f"{ID}_again", "--zoo-dir", str(zoo_dir)])
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert f"zoo entry {ID} (cifar10/Linf) already holds these weights (the same tensors)" in result.output
    assert tree(zoo_dir) == before  # nothing written
    zoo.add(run_dir, f"{ID}_fp16", zoo_dir=zoo_dir, precision="fp16")  # other weights: the model stored in fp16
    zoo.add(run_dir, f"{ID}_L2", threat_model="L2", zoo_dir=zoo_dir)  # the same weights on another leaderboard


def test_the_same_tensors_under_a_second_id_are_refused_though_their_files_differ(run_dir, zoo_dir, tmp_path):
    """An fp16 copy's header holds its id, so the same tensors under two ids are two files with two sha256s; an
    import of the zoo's own weights file under a new id likewise."""
    from sam_bench.zoo import imported

    first = zoo.add(run_dir, ID, zoo_dir=zoo_dir, precision="fp16")
    again = zoo._to_fp16(run_dir / "model.safetensors", f"{ID}_again")
    assert hashlib.sha256(again).hexdigest() != first["weights_sha256"]  # the files differ
    before = tree(zoo_dir)
    with pytest.raises(BadInput, match=rf"zoo entry {ID} \(cifar10/Linf\) already holds these weights \(the same"):
        zoo.add(run_dir, f"{ID}_again", zoo_dir=zoo_dir, precision="fp16")
    entry = zoo.find_entry(ID, zoo_dir)
    told = imported.trained_elsewhere("standard", "a copy", "https://example.org", "cifar10")
    with pytest.raises(BadInput, match=f"zoo entry {ID} .*already holds these weights"):
        imported.import_file(
            zoo_dir / "cifar10" / "Linf" / f"{ID}.safetensors",
            entry.arch,
            told,
            "Me2026Standard_copy",
            zoo_dir=zoo_dir,
            precision="fp16",
        )
    assert tree(zoo_dir) == before


def test_run_without_weights_or_unfinished_is_refused(run_dir, zoo_dir, tmp_path):
    copy = tmp_path / "run_copy"
    shutil.copytree(run_dir, copy)
    (copy / "model.safetensors").unlink()
    with pytest.raises(BadInput, match="no weights to add"):
        zoo.add(copy, ID, zoo_dir=zoo_dir)
    meta = json.loads((copy / "metadata.json").read_text())
    meta["status"] = "running"
    (copy / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(BadInput, match="has not finished"):
        zoo.add(copy, ID, zoo_dir=zoo_dir)
    with pytest.raises(BadInput, match="not a run directory"):
        zoo.add(tmp_path / "nowhere", ID, zoo_dir=zoo_dir)
    assert tree(zoo_dir) == []


def test_a_failed_add_leaves_nothing_behind(run_dir, zoo_dir, monkeypatch):
    def broken(path, obj):
        raise OSError("disk full")

    monkeypatch.setattr(files, "write_json", broken)
    with pytest.raises(OSError):
        zoo.add(run_dir, ID, zoo_dir=zoo_dir)
    assert [p for p in zoo_dir.rglob("*") if p.is_file()] == []


def test_unknown_id_and_wrong_leaderboard(run_dir, zoo_dir):
    zoo.add(run_dir, ID, zoo_dir=zoo_dir)
    with pytest.raises(BadInput, match="did you mean SamBench2025Test_PRN18-w0.125"):
        zoo.load_model("SamBench2025Test_PRN18-w0.25", zoo_dir=zoo_dir)
    with pytest.raises(BadInput, match="unknown model id"):
        zoo.load_model_with_info("Nobody2020Nothing", zoo_dir=zoo_dir)
    with pytest.raises(BadInput, match="is a cifar10/Linf model, not cifar10/L2"):
        zoo.load_model(ID, threat_model="L2", zoo_dir=zoo_dir)


def test_load_model_with_info_finds_any_leaderboard(run_dir, zoo_dir, images):
    zoo.add(run_dir, ID, threat_model="L2", zoo_dir=zoo_dir)
    model, entry = zoo.load_model_with_info(ID, zoo_dir=zoo_dir)
    assert (entry["id"], entry["dataset"], entry["threat_model"]) == (ID, "cifar10", "L2")
    assert entry["weights_sha256"] and entry["arch"]["arch"] == "preactresnet18" and entry["training"]["config"]
    reference, _ = load_run(run_dir)
    with torch.no_grad():
        assert torch.equal(model(images), reference(images))


@pytest.mark.parametrize("damage", ["flip", "truncate", "missing"])
def test_tampered_truncated_or_missing_weights_give_a_clear_error(run_dir, zoo_dir, damage):
    zoo.add(run_dir, ID, zoo_dir=zoo_dir)
    weights = zoo_dir / "cifar10" / "Linf" / f"{ID}.safetensors"
    data = bytearray(weights.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x01
        weights.write_bytes(bytes(data))
    elif damage == "truncate":
        weights.write_bytes(bytes(data[: len(data) // 3]))
    else:
        weights.unlink()
    expected = "weights file not found" if damage == "missing" else "sha256 does not match zoo entry"
    with pytest.raises(SamBenchError, match=expected) as err:
        zoo.load_model(ID, zoo_dir=zoo_dir)
    assert weights.name in str(err.value)
    [(mid, ok, message)] = zoo.verify(zoo_dir=zoo_dir)
    assert (mid, ok) == (ID, False) and weights.name in message

    result = CliRunner().invoke(cli, ["zoo", "verify", "--zoo-dir", str(zoo_dir)])
    assert result.exit_code == 1 and "FAIL" in result.output and weights.name in result.output
    assert "Traceback" not in result.output


def test_fp16_storage_halves_the_file_and_loads_as_fp32(run_dir, zoo_dir, images):
    entry = zoo.add(run_dir, ID, zoo_dir=zoo_dir, precision="fp16")
    weights = zoo_dir / "cifar10" / "Linf" / f"{ID}.safetensors"
    stored = files.load_safetensors(weights)
    assert entry["weights"]["dtype"] == "float16"
    assert all(v.dtype == torch.float16 for v in stored.values() if v.is_floating_point())
    assert weights.stat().st_size < 0.6 * (run_dir / "model.safetensors").stat().st_size
    assert entry["weights_sha256"] != entry["added"]["run_weights_sha256"]  # numbers must come from this copy
    model = zoo.load_model(ID, zoo_dir=zoo_dir)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    reference, _ = load_run(run_dir)
    with torch.no_grad():
        torch.testing.assert_close(model(images), reference(images), atol=5e-2, rtol=5e-2)


def test_fp16_weights_rehashed_into_a_float32_entry_are_refused(run_dir, zoo_dir):
    """The hash alone would pass them: the entry (and every board row made from it) would say float32."""
    import json

    from safetensors.torch import save_file

    entry = zoo.add(run_dir, ID, zoo_dir=zoo_dir)
    assert entry["weights"]["dtype"] == "float32"
    weights = zoo_dir / "cifar10" / "Linf" / f"{ID}.safetensors"
    halved = {k: (v.half() if v.is_floating_point() else v) for k, v in files.load_safetensors(weights).items()}
    save_file(halved, str(weights), metadata=files.safetensors_header(weights))
    record_path = zoo_dir / "cifar10" / "Linf" / f"{ID}.json"
    record = json.loads(record_path.read_text())
    record["weights"]["sha256"] = record["weights_sha256"] = files.sha256_file(weights)
    record_path.write_text(json.dumps(record))
    with pytest.raises(SamBenchError, match=f"stored as float16, but zoo entry {ID} says float32"):
        zoo.load_model(ID, zoo_dir=zoo_dir)


def git(repo, *args):
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
    )


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_weights_dropped_from_the_tree_come_back_from_git_history(run_dir, tmp_path, monkeypatch, images):
    cache = tmp_path / "cache"
    monkeypatch.setenv("SAM_BENCH_CACHE", str(cache))
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    zoo_dir = repo / "model_zoo"
    entry = zoo.add(run_dir, ID, zoo_dir=zoo_dir, precision="fp16")
    git(repo, "add", "model_zoo")
    git(repo, "commit", "-q", "-m", "add weights once")
    git(repo, "rm", "-q", f"model_zoo/cifar10/Linf/{ID}.safetensors")
    git(repo, "commit", "-q", "-m", "drop them from the tree")
    assert not (zoo_dir / "cifar10" / "Linf" / f"{ID}.safetensors").exists()

    [(_, ok, message)] = zoo.verify(ID, zoo_dir=zoo_dir)
    assert ok and message.endswith("(git)")
    cached = cache / "weights" / f"{entry['weights_sha256']}.safetensors"
    assert files.sha256_file(cached) == entry["weights_sha256"]
    model = zoo.load_model(ID, zoo_dir=zoo_dir)
    [(_, ok, message)] = zoo.verify(ID, zoo_dir=zoo_dir)
    assert ok and message.endswith("(cache)")
    with torch.no_grad():
        assert torch.isfinite(model(images)).all()
    cached.write_bytes(cached.read_bytes()[:100])  # a damaged cached copy: discarded and fetched from git again
    with pytest.warns(UserWarning, match="the cached copy does not match its sha256; discarded"):
        [(_, ok, message)] = zoo.verify(ID, zoo_dir=zoo_dir)
    assert ok and message.endswith("(git)") and files.sha256_file(cached) == entry["weights_sha256"]

    cached.unlink()
    shallow = tmp_path / "shallow"  # `git clone --depth 1`: the tree without the commit that holds the weights
    git(tmp_path, "clone", "-q", "--depth", "1", repo.as_uri(), str(shallow))
    with pytest.raises(SamBenchError, match=r"not in the git history .* \(a shallow clone: `git fetch --unshallow`"):
        zoo.load_model(ID, zoo_dir=shallow / "model_zoo")
    git(shallow, "fetch", "-q", "--unshallow")  # as the error says
    [(_, ok, message)] = zoo.verify(ID, zoo_dir=shallow / "model_zoo")
    assert ok and message.endswith("(git)")
    cached.unlink()

    shutil.rmtree(repo / ".git")  # history gone too: a clear error, naming the file and what to do
    with pytest.raises(
        SamBenchError,
        match=f"{ID}.safetensors: weights file not found.*git blob .*has no git history.*clone the repository",
    ):
        zoo.load_model(ID, zoo_dir=zoo_dir)


def test_url_field_fetches_and_a_failed_fetch_is_a_clear_error(run_dir, zoo_dir, tmp_path, images):
    hosted = tmp_path / "hosted.safetensors"
    shutil.copy(run_dir / "model.safetensors", hosted)
    zoo.add(run_dir, ID, zoo_dir=zoo_dir, url=hosted.as_uri())
    (zoo_dir / "cifar10" / "Linf" / f"{ID}.safetensors").unlink()
    model = zoo.load_model(ID, zoo_dir=zoo_dir)
    reference, _ = load_run(run_dir)
    with torch.no_grad():
        assert torch.equal(model(images), reference(images))

    other = "SamBench2025Test_elsewhere"  # the same weights on another board (on one, they are one entry)
    zoo.add(run_dir, other, threat_model="L2", zoo_dir=zoo_dir, url=(tmp_path / "gone.safetensors").as_uri())
    (zoo_dir / "cifar10" / "L2" / f"{other}.safetensors").unlink()
    shutil.rmtree(tmp_path / "cache")  # same weights as the first entry: the cache would answer
    with pytest.raises(SamBenchError, match="could not fetch weights from file:"):
        zoo.load_model(other, threat_model="L2", zoo_dir=zoo_dir)


def test_a_fetched_copy_with_the_wrong_bytes_is_not_used(run_dir, zoo_dir, tmp_path):
    hosted = tmp_path / "hosted.safetensors"
    hosted.write_bytes(b"not the weights")
    zoo.add(run_dir, ID, zoo_dir=zoo_dir, url=hosted.as_uri())
    (zoo_dir / "cifar10" / "Linf" / f"{ID}.safetensors").unlink()
    with pytest.raises(SamBenchError, match="url copy does not match"):
        zoo.load_model(ID, zoo_dir=zoo_dir)
    assert not any((tmp_path / "cache").rglob("*.safetensors"))


def test_cli_add_list_verify(run_dir, zoo_dir):
    runner = CliRunner()
    result = runner.invoke(cli, ["zoo", "add", str(run_dir), "--id", ID, "--zoo-dir", str(zoo_dir)])
    assert result.exit_code == 0, result.output
    assert ID in result.output and "float32" in result.output
    result = runner.invoke(cli, ["zoo", "list", "--zoo-dir", str(zoo_dir)])
    assert result.exit_code == 0 and ID in result.output and "cifar10-sample" in result.output
    result = runner.invoke(cli, ["zoo", "list", "--threat-model", "L2", "--zoo-dir", str(zoo_dir)])
    assert result.exit_code == 0 and "no entries match" in result.output
    result = runner.invoke(cli, ["zoo", "list", "--json", "--zoo-dir", str(zoo_dir)])
    assert [e["id"] for e in json.loads(result.output)] == [ID]
    result = runner.invoke(cli, ["zoo", "verify", ID, "--zoo-dir", str(zoo_dir)])
    assert result.exit_code == 0 and "1 entries verified" in result.output
    result = runner.invoke(cli, ["zoo", "add", str(run_dir), "--id", ID, "--zoo-dir", str(zoo_dir)])
    assert result.exit_code == 2 and "already taken" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, ["zoo", "verify", "Nobody2020Nothing", "--zoo-dir", str(zoo_dir)])
    assert result.exit_code == 2 and "unknown model id" in result.output


def test_default_zoo_dir_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM_BENCH_ZOO", str(tmp_path / "elsewhere"))
    assert zoo.default_zoo_dir() == tmp_path / "elsewhere"
    monkeypatch.delenv("SAM_BENCH_ZOO")
    assert zoo.default_zoo_dir().name == "model_zoo"
    assert hashlib.sha1(b"blob 0\0").hexdigest() == blobs.git_blob_id(b"")
