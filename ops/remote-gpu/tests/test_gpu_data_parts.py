"""ops/remote-gpu/gpu_data_parts.py and `ops/remote-gpu/gpu_relay.sh data`: CIFAR-10 goes to the lent GPU machine in as
many parts as the working tree leaves room for (a device call carries 64 MiB, the tree included), and
the machine unpacks it once every part is there, or says that an earlier part is gone."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
OPS = ROOT / "ops" / "remote-gpu"
TOOL = OPS / "gpu_data_parts.py"
RELAY = OPS / "gpu_relay.sh"
CIFAR10 = ROOT.parent / "shared" / "data" / "cifar10"
UNPACKER = ROOT.parent / "shared" / "tools" / "cifar10_unpack.py"
MIB = 1 << 20

spec = importlib.util.spec_from_file_location("gpu_data_parts", TOOL)
assert spec and spec.loader
parts_tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(parts_tool)

needs_data = pytest.mark.skipif(not (CIFAR10 / "manifest.json").is_file(), reason=f"no packed CIFAR-10 at {CIFAR10}")


def test_the_fewest_even_parts_that_fit_with_the_manifest_first():
    files = {f"train_{i:02d}.webp": 10 for i in range(10)} | {"manifest.json": 1, "labels.npz": 1}
    parts = parts_tool.cut(files, room=35)
    # 102 units: 3 parts would need one of 36; 4 parts of at most 35
    assert len(parts) == 4
    assert sorted(n for p in parts for n in p) == sorted(files)
    assert {"manifest.json", "labels.npz"} <= set(parts[0])
    assert max(sum(files[n] for n in p) for p in parts) <= 35
    assert len(parts_tool.cut(files, room=200)) == 1
    with pytest.raises(parts_tool.TooBig, match="does not fit"):
        parts_tool.cut(files, room=9)
    with pytest.raises(parts_tool.TooBig, match="no room"):
        parts_tool.cut(files, room=0)


def test_the_linters_caches_are_never_part_of_the_tree(tmp_path):
    """CI runs mypy beside the tests, and mypy writes .mypy_cache's own catch-all .gitignore only when it
    finishes: until then only the checkout's .gitignore keeps its 60 MiB out of what a call carries (a
    rehearsal that measured the tree meanwhile found no room for data). Checked against that file alone."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_bytes((ROOT / ".gitignore").read_bytes())
    for folder in (".mypy_cache", ".ruff_cache", ".import_linter_cache"):
        (tmp_path / folder / "3.11").mkdir(parents=True)
        (tmp_path / folder / "3.11" / "torch.data.json").write_text("{}")
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert listed.stdout.split() == [".gitignore"]


@needs_data
def test_every_data_call_fits_with_todays_tree(tmp_path):
    """The real data set against this checkout's tree: no call carries over 64 MiB."""
    out = tmp_path / "parts"
    proc = subprocess.run(
        [sys.executable, str(TOOL), "--src", str(CIFAR10), "--unpacker", str(UNPACKER), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    tree = parts_tool.tree_bytes(ROOT)
    code = parts_tool.path_bytes(ROOT / ".vendor")
    folders = sorted(out.iterdir())
    assert len(folders) == len([line for line in proc.stdout.splitlines() if line.startswith("call ")]) >= 2
    for folder in folders:
        sent = tree + parts_tool.path_bytes(folder) + code
        assert sent <= 64 * MIB - parts_tool.MARGIN, f"{folder.name}: {sent / MIB:.1f} MiB"
    shipped = sorted(p.name for p in out.rglob("*") if p.is_file())
    expected = sorted([p.name for p in CIFAR10.iterdir() if p.name != "README.md"] + [UNPACKER.name])
    assert shipped == expected


def test_bad_input_is_one_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(TOOL), "--src", str(tmp_path), "--out", str(tmp_path / "parts")],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "no manifest.json" in proc.stderr


def relay_call(machine_home: Path, call_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """One device call: a fresh copy of the tree (here only what the data subcommand reads) in
    call_dir, the machine's home kept between calls; a whole window left."""
    return subprocess.run(
        ["bash", str(RELAY), "data", "--left", "30", *args],
        cwd=call_dir,
        env={**os.environ, "HOME": str(machine_home), "OUT": str(call_dir / "out"), "PYTHON": sys.executable},
        capture_output=True,
        text=True,
    )


@needs_data
def test_the_relay_unpacks_once_every_part_is_there(tmp_path):
    out = tmp_path / "parts"
    cut = [sys.executable, str(TOOL), "--src", str(CIFAR10), "--unpacker", str(UNPACKER), "--out", str(out)]
    subprocess.run(cut, cwd=ROOT, check=True, capture_output=True)
    parts = sorted(out.iterdir(), key=lambda p: int(p.name.split("-")[1]))
    calls = iter(range(1, 100))

    def call(home: Path, part: Path, *args: str) -> subprocess.CompletedProcess:
        where = tmp_path / f"call-{next(calls)}"
        (where / ".data").mkdir(parents=True)
        os.symlink(part, where / ".data" / part.name)
        home.mkdir(exist_ok=True)
        return relay_call(home, where, *args)

    # a later part on a machine without part 1 (one handed back after part 1): refused, start again
    later = call(tmp_path / "handed-back", parts[1])
    assert later.returncode == 3 and "start again with part 1" in later.stderr
    home = tmp_path / "home"
    first = call(home, parts[0])  # the data set is over 64 MiB: never one part
    assert first.returncode == 0 and "still to come" in first.stdout, first.stderr
    # --last before everything is there: refused, naming what is missing
    early = call(home, parts[0], "--last")
    assert early.returncode == 3 and "still missing" in early.stderr
    for part in parts[1:-1]:
        assert call(home, part).returncode == 0
    last = call(home, parts[-1], "--last")
    assert last.returncode == 0 and "complete" in last.stdout, last.stdout + last.stderr
    assert (home / "c10" / "cifar10.npz").is_file()
