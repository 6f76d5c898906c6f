"""Runs that travel in parts (packing.py, pack.py, unpack.py): byte-exact round trips within the limits, one clear
line and nothing written for a missing, altered or foreign part, and a training run and an
evaluation packed mid-way that continue on a "fresh machine" (another folder) to exactly the
weights and numbers of an uninterrupted run."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import packing
import pytest
import torch
from click.testing import CliRunner
from pack import pack_command, unpack_command
from safetensors.torch import load_file

from sam_bench import schema
from sam_bench.errors import BadInput, SamBenchError

KIB = 1024


def tree(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture
def work(tmp_path, monkeypatch):
    """A folder with a nested tree of files of awkward sizes (empty, exactly a part, random bytes)."""
    src = tmp_path / "src"
    (src / "run" / "sub").mkdir(parents=True)
    (src / "run" / "weights.bin").write_bytes(os.urandom(300 * KIB + 7))
    (src / "run" / "exact.bin").write_bytes(os.urandom(64 * KIB))
    (src / "run" / "empty.txt").write_bytes(b"")
    (src / "run" / "sub" / "metadata.json").write_text('{"a": 1}\n')
    (src / "run" / "checkpoint.pt").write_bytes(os.urandom(1000))
    monkeypatch.chdir(src)
    return tmp_path


def small(paths, out, **kwargs):
    """Parts of 64 KiB, batches of 3 files / 200 KiB: several parts and batches from a small tree."""
    return packing.pack(paths, out, part_mib=64 / 1024, batch_files=3, batch_mib=200 / 1024, **kwargs)


def test_round_trip_is_byte_exact_and_within_the_limits(work):
    packed = small(["run"], work / "out")
    manifest = packed.manifest
    assert len(manifest["parts"]) == 6 and len(packed.batches) == 3
    for folder in packed.batches:
        inside = list(folder.iterdir())
        assert len(inside) <= 3 and sum(p.stat().st_size for p in inside) <= 200 * KIB
        assert all(p.stat().st_size <= 64 * KIB for p in inside)
        assert sum(p.name.endswith(".manifest.json") for p in inside) == 1
    assert [p["batch"] for p in manifest["parts"]] == sorted(p["batch"] for p in manifest["parts"])
    done = packing.unpack([work / "out"], work / "dest")
    assert tree(work / "dest") == tree(work / "src")
    assert sorted(done["written"]) == sorted(tree(work / "src"))
    again = packing.unpack([b for b in packed.batches], work / "dest")  # the batch folders one by one
    assert len(again["identical"]) == 5 and not again["written"]


def test_excluded_files_and_the_default_limits(work):
    packed = packing.pack(["run"], work / "out", exclude=["*/checkpoint.pt"])
    assert len(packed.batches) == 1 and len(packed.manifest["parts"]) == 1
    assert packed.manifest["limits"] == {"part_bytes": 15 << 20, "batch_files": 8, "batch_bytes": 64 << 20}
    packing.unpack([work / "out"], work / "dest")
    assert "run/checkpoint.pt" not in tree(work / "dest") and "run/weights.bin" in tree(work / "dest")


def test_only_what_changed_and_no_spent_checkpoints(work):
    import time

    (work / "src" / "run" / "metadata.json").write_text('{"status": "complete"}')
    marker = work / "marker"
    marker.write_text("")
    past = time.time() - 60
    for path in (work / "src").rglob("*"):
        os.utime(path, (past, past))
    os.utime(marker, (past + 30, past + 30))
    (work / "src" / "run" / "sub" / "metadata.json").write_text('{"a": 2}\n')  # changed after the marker
    os.utime(work / "src" / "run" / "checkpoint.pt", None)  # changed too, but its run is complete
    packed = packing.pack(["run"], work / "out", newer_than=marker, drop_finished_checkpoints=True)
    assert [f["path"] for f in packed.manifest["files"]] == ["run/sub/metadata.json"]
    kept = packing.pack(["run"], work / "out2", newer_than=marker)
    assert [f["path"] for f in kept.manifest["files"]] == ["run/checkpoint.pt", "run/sub/metadata.json"]


def test_a_file_stamped_in_the_markers_own_clock_tick_is_packed(work):
    """The kernel stamps files from a clock that advances once a tick: a file written just after the marker was
    touched can carry the marker's very mtime. It is packed; one stamped a nanosecond before is not."""
    marker = work / "marker"
    marker.write_text("")
    tick = 1_700_000_000_123_456_789
    for path in (work / "src").rglob("*"):
        os.utime(path, ns=(tick - 1, tick - 1))
    os.utime(marker, ns=(tick, tick))
    os.utime(work / "src" / "run" / "sub" / "metadata.json", ns=(tick, tick))
    packed = packing.pack(["run"], work / "out", newer_than=marker)
    assert [f["path"] for f in packed.manifest["files"]] == ["run/sub/metadata.json"]


def test_run_weights_come_back_only_where_they_are_a_later_seeds_only_copy(tmp_path, monkeypatch):
    """--drop-published-run-weights: a first seed's model.safetensors is left out (the zoo keeps it in fp16), a
    finished later seed's goes in (not published: its only copy), an unfinished run's and that of a run no plan.json
    names as a later seed stay out; every other file of the runs goes in."""
    root = tmp_path / "repro"
    plan = {"models": [{"name": n, "key": k, "seed": s, "primary": s == 0} for n, k, s in RUNS]}
    (root / "runs").mkdir(parents=True)
    (root / "plan.json").write_text(json.dumps(plan))
    for name, key, _ in RUNS:
        run = root / "runs" / f"{name}-{key}"
        run.mkdir()
        status = "running" if key == "c3" else "complete"
        (run / "metadata.json").write_text(json.dumps({"status": status}))
        (run / "model.safetensors").write_bytes(b"weights of " + name.encode())
    (tmp_path / "other" / "runs" / "ST-d4").mkdir(parents=True)  # no plan.json: not known to be a later seed
    (tmp_path / "other" / "runs" / "ST-d4" / "metadata.json").write_text('{"status": "complete"}')
    (tmp_path / "other" / "runs" / "ST-d4" / "model.safetensors").write_bytes(b"w")
    monkeypatch.chdir(tmp_path)
    packed = packing.pack(["repro", "other"], tmp_path / "out", drop_published_run_weights=True)
    weights = [f["path"] for f in packed.manifest["files"] if f["path"].endswith("model.safetensors")]
    assert weights == ["repro/runs/ST-b2/model.safetensors"]
    assert len(packed.manifest["files"]) == 1 + 4 + 1  # plan.json, the four runs' metadata, one file of weights
    everything = packing.pack(["repro", "other"], tmp_path / "out2")
    assert sum(f["path"].endswith("model.safetensors") for f in everything.manifest["files"]) == 4
    # the command line's flag, as the relay passes it
    done = CliRunner().invoke(
        pack_command, ["repro", "--drop-published-run-weights", "--out", str(tmp_path / "out3"), "--name", "full"]
    )
    assert done.exit_code == 0, done.output
    manifest = json.loads(next((tmp_path / "out3" / "batch-1").glob("*.manifest.json")).read_text())
    assert [f["path"] for f in manifest["files"] if "model" in f["path"]] == ["repro/runs/ST-b2/model.safetensors"]


RUNS = [("ST", "a1", 0), ("ST", "b2", 1), ("ST", "c3", 2)]  # a first seed, a later seed, a later seed training


def test_a_file_written_to_while_it_is_packed_goes_in_as_one_version(work, monkeypatch):
    """Another process appends to a file right after pack has hashed it: what the manifest says and what the
    archive holds are the same bytes, the version read, so the pack unpacks."""
    source = work / "src" / "run" / "sub" / "metadata.json"
    before = source.read_bytes()
    real = packing.files.sha256_file

    def hash_then_append(path):
        digest = real(path)
        with open(source, "ab") as f:  # the source changes after its bytes were hashed
            f.write(b"appended\n")
        return digest

    monkeypatch.setattr(packing.files, "sha256_file", hash_then_append)
    packing.pack(["run/sub"], work / "out")
    monkeypatch.setattr(packing.files, "sha256_file", real)
    packing.unpack([work / "out"], work / "dest")
    assert (work / "dest" / "run" / "sub" / "metadata.json").read_bytes() == before


def test_a_file_removed_while_the_pack_is_made_is_left_out_and_claims_never_travel(work, monkeypatch):
    """A cell's claim is released, an atomic write's temporary renamed, between pack's listing and its reading.
    What is gone is left out, the rest goes in and unpacks; claims and temporaries, which name processes of the
    machine the pack comes from, are left out even when they stay."""
    run = work / "src" / "run"
    (run / "cells").mkdir()
    (run / "cells" / "ST-1.claim").write_text('{"host": "gpu", "pid": 7}')
    (run / "cells" / "ST-1.claim.takeover").write_text("{}")
    (run / ".results.json.x1y2.tmp").write_text("half")
    gone_by_its_stat, gone_by_its_copy = run / "sub" / "metadata.json", run / "exact.bin"
    marker = work / "mark"
    marker.write_text("")
    os.utime(marker, (0, 0))  # every file is newer: the listing stats each one
    real_modified, real_copy = packing._modified_since, packing.shutil.copy2

    def removed_before_its_stat(file, since):
        if file == gone_by_its_stat.absolute():
            file.unlink()
        return real_modified(file, since)

    def removed_before_its_copy(source, target):
        if Path(source) == gone_by_its_copy.absolute():
            Path(source).unlink()
        return real_copy(source, target)

    monkeypatch.setattr(packing, "_modified_since", removed_before_its_stat)
    monkeypatch.setattr(packing.shutil, "copy2", removed_before_its_copy)
    packed = packing.pack(["run"], work / "out", newer_than=marker)
    monkeypatch.undo()
    assert [f["path"] for f in packed.manifest["files"]] == [
        "run/checkpoint.pt",
        "run/empty.txt",
        "run/weights.bin",
    ]
    packing.unpack([work / "out"], work / "dest")
    assert tree(work / "dest") == {
        k: v for k, v in tree(work / "src").items() if k in {"run/checkpoint.pt", "run/empty.txt", "run/weights.bin"}
    }


@pytest.mark.parametrize("fault", ["missing", "altered", "foreign", "truncated"])
def test_a_bad_part_stops_unpack_and_writes_nothing(work, fault):
    packed = small(["run"], work / "out")
    parts = sorted(p for b in packed.batches for p in b.glob("*.part-*"))
    victim = parts[2]
    if fault == "missing":
        victim.unlink()
        expected = "missing.*bring back batch 2"
    elif fault == "altered":
        data = bytearray(victim.read_bytes())
        data[100] ^= 0xFF
        victim.write_bytes(bytes(data))
        expected = "altered or damaged"
    elif fault == "truncated":
        victim.write_bytes(victim.read_bytes()[:-1])
        expected = "altered or damaged"
    else:  # a part of another pack (the run a little later), renamed to stand in for this one's
        (work / "src" / "run" / "weights.bin").write_bytes(os.urandom(300 * KIB + 7))
        other = small(["run"], work / "other")
        stranger = sorted(p for b in other.batches for p in b.glob("*.part-*"))[2]
        shutil.copy(stranger, victim)
        expected = "altered or damaged"
    with pytest.raises(SamBenchError, match=expected):
        packing.unpack([work / "out"], work / "dest")
    assert not (work / "dest").exists() or not any(p.is_file() for p in (work / "dest").rglob("*"))


def test_existing_files_are_replaced_only_when_asked(work):
    small(["run"], work / "out")
    (work / "dest" / "run" / "sub").mkdir(parents=True)
    (work / "dest" / "run" / "sub" / "metadata.json").write_text("mine\n")
    with pytest.raises(BadInput, match="exists with other content; nothing was unpacked"):
        packing.unpack([work / "out"], work / "dest")
    assert tree(work / "dest") == {"run/sub/metadata.json": b"mine\n"}
    done = packing.unpack([work / "out"], work / "dest", overwrite=True)
    assert done["replaced"] == ["run/sub/metadata.json"] and tree(work / "dest") == tree(work / "src")


def test_a_pack_that_would_write_outside_its_folder_is_refused(work):
    """A hand-made pack whose manifest is honest about a '../' path: the sha256 checks pass, the tar
    filter refuses it, and nothing lands outside (or inside) the folder."""
    import hashlib
    import io
    import tarfile

    stream = io.BytesIO()
    with tarfile.open(fileobj=stream, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("../escaped.txt")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    data = stream.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    folder = work / "evil" / "batch-1"
    folder.mkdir(parents=True)
    (folder / "evil-000000000000.part-001").write_bytes(data)
    manifest = {
        "format": packing.FORMAT,
        "name": "evil",
        "id": "000000000000",
        "archive": {"bytes": len(data), "sha256": digest},
        "parts": [{"file": "evil-000000000000.part-001", "bytes": len(data), "sha256": digest, "batch": 1}],
        "files": [{"path": "../escaped.txt", "bytes": 3, "sha256": hashlib.sha256(b"bad").hexdigest()}],
    }
    (folder / "evil-000000000000.manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SamBenchError, match="outside"):
        packing.unpack([work / "evil"], work / "dest")
    assert not (work / "escaped.txt").exists()


def run(*args):
    """pack.py or unpack.py as the command line runs them: `run("pack", ...)`, `run("unpack", ...)`."""
    command = {"pack": pack_command, "unpack": unpack_command}[args[0]]
    return CliRunner().invoke(command, list(map(str, args[1:])))


def test_bad_input_is_one_line_on_the_command_line(work):

    cases = [
        (("pack", "nothing-here", "--out", work / "o1"), "does not exist"),
        (("pack", "run", "--out", work / "o2", "--part-mib", "0"), "--part-mib must be positive"),
        (("pack", "run", "--out", work / "o3", "--batch-files", "1"), "--batch-files must be at least 2"),
        (("pack", "run", "--out", work / "o4", "--part-mib", "70"), "cannot hold a part"),
        (("pack", "run", "--out", work / "o5", "--name", "a/b"), "--name"),
        (("pack", work.parent, "--out", work / "o6"), "outside the root"),
        (("unpack", work / "nowhere"), "does not exist"),
        (("unpack", work / "src"), "no manifest"),
    ]
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output, (
            args,
            result.output,
        )
    (work / "o7").mkdir()
    (work / "o7" / "keep").write_text("x")
    result = run("pack", "run", "--out", work / "o7")
    assert result.exit_code == 2 and "not an empty folder" in result.output
    small(["run"], work / "one")
    small(["run"], work / "two")
    result = run("unpack", work / "one", work / "two", "--into", work / "dest")
    assert result.exit_code == 2 and "several packs" in result.output
    ok = run("pack", "run", "--out", work / "ok", "--part-mib", "0.1")
    assert ok.exit_code == 0 and "as 4 parts in 1 batches" in ok.output, ok.output
    ok = run("unpack", work / "ok", "--into", work / "dest")
    assert ok.exit_code == 0 and "5 written" in ok.output, ok.output


def test_packing_into_a_file_and_a_manifest_without_parts_are_one_line(work):
    (work / "notes.txt").write_text("x")
    result = run("pack", "run", "--out", work / "notes.txt" / "batches")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert [line for line in result.output.splitlines() if line.startswith("Error:")] == [
        f"Error: cannot write {work / 'notes.txt' / 'batches'}: not a folder"
    ]
    assert (work / "notes.txt").read_text() == "x"
    assert run("pack", "run", "--out", work / "out").exit_code == 0
    manifest = next((work / "out").rglob("*.manifest.json"))
    data = json.loads(manifest.read_text())
    del data["parts"]
    manifest.write_text(json.dumps(data))
    result = run("unpack", work / "out", "--into", work / "dest")
    (line,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert result.exit_code == 2 and "missing 'parts'" in line and "nothing was unpacked" in line
    assert not (work / "dest" / "run").exists()


EXAMPLE = Path(__file__).with_name("packs") / "example.manifest.json"


def test_the_example_manifest_passes_and_the_checker_agrees_with_jsonschema_on_broken_copies():
    """The manifest's schema (pack-manifest.schema.json beside packing.py, its sha256 fields the package's
    run-metadata schema's) as unpack checks it, against the jsonschema package where installed."""
    manifest = json.loads(EXAMPLE.read_text())
    assert packing._read_manifest(EXAMPLE)[0] == manifest["id"]
    jsonschema = pytest.importorskip("jsonschema")
    referencing = pytest.importorskip("referencing")
    own = json.loads(packing.MANIFEST_SCHEMA.read_text())
    jsonschema.Draft202012Validator.check_schema(own)
    registry = referencing.Registry().with_resources(
        (s["$id"], referencing.Resource.from_contents(s)) for s in (own, schema.load("run-metadata"))
    )
    validator = jsonschema.Draft202012Validator(own, registry=registry)
    broken = [
        {k: v for k, v in manifest.items() if k != "parts"},
        {**manifest, "format": "sam-bench/pack/v0"},
        {**manifest, "parts": [{**manifest["parts"][0], "sha256": "not-a-sha"}]},
        {**manifest, "parts": [{**manifest["parts"][0], "bytes": -1}]},
        manifest,
    ]
    for document in broken:
        ours = schema.problem(document, own, own) is None
        assert ours == validator.is_valid(document), document
    assert sum(schema.problem(d, own, own) is None for d in broken) == 1


# ---------------------------------------------------------------------------------------------
# Fresh-machine resumption: packed mid-way here, unpacked in another folder, finished there.


def sam_bench(cwd: Path, *args) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "sam_bench", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


TRAIN = [
    "train",
    "--method",
    "sam",
    "--rho",
    "0.1",
    "--dataset",
    "synthetic",
    "--width",
    "0.125",
    "--epochs",
    "3",
    "--batch-size",
    "64",
    "--n-train",
    "192",
    "--lr",
    "0.05",
    "--device",
    "cpu",
    "--quiet",
]


def test_a_training_run_packed_mid_way_finishes_on_a_fresh_machine_to_the_same_weights(tmp_path):
    here, there = tmp_path / "here", tmp_path / "there"
    here.mkdir()
    there.mkdir()
    sam_bench(here, *TRAIN, "--out", "runs/straight")
    sam_bench(here, *TRAIN, "--out", "runs/moved", "--stop-after-epochs", "2")
    assert not (here / "runs" / "moved" / "model.safetensors").exists()
    packing.pack([here / "runs" / "moved"], tmp_path / "parts", root=here, part_mib=0.05, batch_files=3, batch_mib=0.2)
    for batch in sorted((tmp_path / "parts").iterdir()):  # one batch per "command", as from a GPU machine
        shutil.move(str(batch), str(tmp_path / f"came-back-{batch.name}"))
    packing.unpack(sorted(tmp_path.glob("came-back-*")), there)
    sam_bench(there, *TRAIN, "--out", "runs/moved", "--resume")
    a = load_file(here / "runs" / "straight" / "model.safetensors")
    b = load_file(there / "runs" / "moved" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    log = [json.loads(line)["epoch"] for line in (there / "runs" / "moved" / "log.jsonl").read_text().splitlines()]
    assert log == [1, 2, 3]


def test_an_evaluation_packed_mid_way_finishes_on_a_fresh_machine_to_the_same_numbers(tmp_path, evaluation_clock):
    from sam_bench.data import load_dataset
    from sam_bench.evaluation.evaluate import EvaluationStopped, evaluate
    from sam_bench.evaluation.model_ref import load_model_ref
    from sam_bench.evaluation.specs import make_attacks
    from sam_bench.training.loop import TrainConfig, train

    here, there = tmp_path / "here", tmp_path / "there"
    train(
        TrainConfig(
            arch="preactresnet18",
            width=0.125,
            epochs=1,
            n_train=128,
            batch_size=64,
            dataset="cifar10-sample",
            device="cpu",
        ),
        here / "run",
        progress=False,
    )
    sample = load_dataset("cifar10-sample")
    specs = make_attacks("pgd", "Linf", ["4/255"], steps=2)
    kwargs = dict(n_examples=48, batch_size=16, chunk_size=16, progress=False)
    model, info = load_model_ref(str(here / "run"))
    reference = evaluate(model, sample, specs, model_info=info, **kwargs)
    evaluation_clock.per_pgd_image = 3.75  # a 16-image chunk: a minute (its probe 7.5 s): 2 chunks in 3 minutes
    with pytest.raises(EvaluationStopped):
        evaluate(
            model,
            sample,
            specs,
            model_info=info,
            state_path=here / "results" / "r.json.partial",
            stop_at=evaluation_clock.now + 180,
            **kwargs,
        )
    packing.pack([here / "run", here / "results"], tmp_path / "parts", root=here)
    packing.unpack([tmp_path / "parts"], there)
    evaluation_clock.per_pgd_image = 0
    model, info = load_model_ref(str(there / "run"))
    resumed = evaluate(model, sample, specs, model_info=info, state_path=there / "results" / "r.json.partial", **kwargs)
    assert resumed["evaluations"][0]["chunks"]["resumed"] == 2
    for key in ("clean_acc", "robust_acc", "per_class_robust_acc", "outcomes"):
        assert resumed["evaluations"][0][key] == reference["evaluations"][0][key]


def test_local_reproduce_needs_no_submitit_jsonschema_or_robustbench(tmp_path):
    """A lent GPU machine has none of them (README.md here): importing the CLI and the local executor must not
    need them (the rehearsal, tests/test_gpu_rehearsal.py, runs reproduce in an environment with exactly the GPU
    machine's packages)."""
    code = """
import sys
for name in ("submitit", "jsonschema", "robustbench"):
    sys.modules[name] = None  # any import of them fails
from sam_bench import cli
from sam_bench.experiments import reproduce
from sam_bench.experiments import executors  # noqa
from sam_bench.experiments.executors import claimed_cells, GridRef  # noqa
print("imported")
"""
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0 and proc.stdout.strip() == "imported", proc.stdout[-3000:] + proc.stderr[-2000:]
