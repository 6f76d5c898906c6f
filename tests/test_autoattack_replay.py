"""AutoAttack's first attack replayed exactly as a recorded evaluation ran it (evaluation/autoattack_replay.py):
on the machine that recorded it, the replay gives every image the outcome the file records, chunk by chunk and
batch by batch; where the kernels or the device differ it does not claim to replay at all."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.evaluation import outcomes
from sam_bench.evaluation.autoattack_replay import kernels, replay, replayable, replayed_robust
from sam_bench.evaluation.recheck import measured_data, named_weights
from sam_bench.evaluation.results_record import Results

ID = "SamBench2026Standard_replay"
TINY = ["--arch", "preactresnet18", "--width", "0.125", "--batch-size", "64", "--device", "cpu", "--quiet"]


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0 and "Traceback" not in result.output, result.output
    return result


@pytest.fixture(scope="module")
def recorded(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny model's APGD-CE at Linf 2/255 on 48 images in two chunks of 32 and 16, batches of 12: the first
    attack is the whole evaluation, so its replay must give exactly the recorded outcomes."""
    w = tmp_path_factory.mktemp("replay")
    invoke("train", "--dataset", "cifar10-sample", "--epochs", "2", "--lr", "0.02", "--out", w / "run", *TINY)
    invoke("zoo", "add", w / "run", "--id", ID, "--zoo-dir", w / "zoo")
    invoke(
        "evaluate", ID, "--attack", "autoattack", "--version", "custom", "--attacks", "apgd-ce",
        "--eps", "2/255", "--n-examples", "48", "--chunk-size", "32", "--batch-size", "12",
        "--zoo-dir", w / "zoo", "--device", "cpu", "--quiet", "--out", w / "aa.json",
    )  # fmt: skip
    return w / "aa.json", w / "zoo"


def _loaded(path: Path, zoo: Path):
    results = Results(json.loads(path.read_text()), path)
    net, _ = named_weights(path, results, zoo, None)
    return results, net.eval(), results.evaluations[-1], measured_data(path, results)


def test_the_first_attack_replayed_gives_every_image_its_recorded_outcome(recorded):
    """APGD-CE is the whole evaluation here: its replay, over both chunks and all their batches, gives every image
    exactly the recorded outcome (a re-run in other batches would not: its random starts differ)."""
    results, net, ev, data = _loaded(*recorded)
    robust = outcomes.decode(ev.outcomes)
    clean = outcomes.decode(results.evaluation("clean").outcomes)[: len(robust)]
    assert ev.chunks["count"] == 2 and ev.chunks["batch_size"] == 12
    everything = np.arange(len(robust))
    threads = torch.get_num_threads()
    torch.set_num_threads(results.environment["cpu_threads"])
    try:
        left = replayed_robust(net, ev, data.x_test, data.y_test, everything, results.search_math)
    finally:
        torch.set_num_threads(threads)
    assert (left == robust).all()
    assert (clean & ~robust).sum() >= 3  # images the attack fooled: the replay fooled each of them again
    # a subset is replayed with its chunks whole: the same outcome as the whole replay
    some = everything[[1, 5, 40, 47]]
    again = replayed_robust(net, ev, data.x_test, data.y_test, some, results.search_math)
    assert (again == left[some]).all()


def test_it_does_not_replay_where_the_kernels_or_the_device_differ(recorded):
    results, net, ev, data = _loaded(*recorded)
    env, cpu = dict(results.environment), torch.device("cpu")
    assert replayable(ev, env, cpu)
    for change in (
        {"device": "cuda:0"},
        {"cpu_isa": {"aten": env["cpu_isa"]["aten"], "onednn_max_cpu_isa": "SSE41"}},  # convolutions capped lower
        {"cpu_isa": None},
        {"cpu_model": "another processor"},
    ):
        assert not replayable(ev, {**env, **change}, cpu), change
        found = replay(net, ev, {**env, **change}, cpu, data.x_test, data.y_test, np.arange(3), "ieee")
        assert found is None
    capped_here = {**env, "cpu_isa": {"aten": "AVX512", "onednn_max_cpu_isa": kernels(env["cpu_isa"])}}
    assert replayable(ev, capped_here, cpu)  # an AVX-512 machine's file with its convolutions capped at ours
    assert not replayable(replace(ev, attack="pgd"), env, cpu)  # PGD's draws are replayed whole (spot_check)
    assert not replayable(replace(ev, chunks=None), env, cpu)  # chunks not recorded: its batches are unknown
    assert not replayable(replace(ev, chunks={**ev.chunks, "resumed": 1}), env, cpu)  # a chunk from another process
