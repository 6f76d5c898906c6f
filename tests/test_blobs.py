"""The weights cache heals itself (sam_bench/blobs.py): a cached copy whose sha256 is not the recorded one is
discarded, with a warning, and fetched again from the git history or the url; only when no source gives the
right bytes is it one line saying what was tried. A damaged cache file blocked a committed model for good: the
error said to restore it with git checkout, which cannot restore a file outside the tree."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest

from sam_bench.errors import WeightsNotHere
from sam_bench.rundir import blobs

WEIGHTS = b"the weights' bytes " * 100
SHA = hashlib.sha256(WEIGHTS).hexdigest()


def git(where, *args):
    subprocess.run(["git", "-C", str(where), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "weights"


@pytest.fixture
def committed(tmp_path):
    """A checkout whose history holds the weights, dropped from its tree: (where they were, their git blob id)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    local = repo / "model.safetensors"
    local.write_bytes(WEIGHTS)
    git(repo, "add", "model.safetensors")
    git(repo, "commit", "-q", "-m", "weights once")
    local.unlink()
    return local, blobs.git_blob_id(WEIGHTS)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_a_damaged_cached_copy_is_discarded_and_fetched_again_from_git(cache, committed):
    local, blob = committed
    cached = cache / f"{SHA}.safetensors"
    cache.mkdir(parents=True)
    cached.write_bytes(WEIGHTS[:-7])  # truncated: a disk that filled, a copy cut short
    with pytest.warns(UserWarning, match=rf"{cached}: the cached copy does not match its sha256; discarded"):
        found, source = blobs.materialise(local, SHA, blob)
    assert (found, source) == (cached, "git")
    assert cached.read_bytes() == WEIGHTS
    assert blobs.materialise(local, SHA, blob) == (cached, "cache")  # healed: the next call takes it from the cache


def test_a_damaged_cached_copy_with_no_source_to_heal_it_is_one_line_saying_what_was_tried(cache, tmp_path):
    cached = cache / f"{SHA}.safetensors"
    cache.mkdir(parents=True)
    cached.write_bytes(b"something else")
    hosted = tmp_path / "hosted.safetensors"
    hosted.write_bytes(b"other bytes")
    with pytest.warns(UserWarning, match="discarded"), pytest.raises(WeightsNotHere) as refused:
        blobs.materialise(tmp_path / "model.safetensors", SHA, None, hosted.as_uri())
    message = str(refused.value)
    assert len(message.splitlines()) == 1
    assert "model.safetensors: weights file not found" in message
    assert f"the cached copy {cached} did not match the recorded sha256 (discarded)" in message
    assert "the url copy does not match the recorded sha256" in message
    assert not cached.exists()
