"""Correct weight gradients on every x86 CPU code path (oneDNN #6035, see sam_bench/runtime/memory_format.py).

Every (architecture, width) the project trains goes through tests/memory_format_probe.py, all in one
subprocess (Python and torch start once), with the CPU's own instruction set and in another with oneDNN
held to AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`, the code path of AVX2-only CPUs, where the bug was seen; on such
a CPU, where oneDNN reports the same instruction set both ways, the second run is skipped as the first
one's twin): every method takes a training step and every convolution weight gradient must match an fp64
NCHW reference. A crash or a hang (no step for 240 s) fails with a message that says where, never a CI
time-out.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from sam_bench.bench.throughput import DEFAULTS, QUICK
from sam_bench.recipes import recipe
from sam_bench.runtime.memory_format import compile_options, meets_onednn_6035, training_format
from sam_bench.training.method_table import names as method_names

PROBE = Path(__file__).with_name("memory_format_probe.py")
ROOT = PROBE.parent.parent
# fp32 against fp64, one layer at a time: measured up to ~3e-6 here; the bug gave 7e-3 to 25x.
TOLERANCE = 1e-4
TIMEOUT_S = 240
ISAS = {"native": None, "avx2": "AVX2"}
# Architectures the tests train (tests/test_models.py, tests/test_timm_models.py and the default widths of
# the other tests): (arch, width, timm constructor arguments as JSON).
TESTED = {
    ("preactresnet18", 0.0625, "null"),
    ("preactresnet18", 0.125, "null"),
    ("preactresnet18", 1.0, "null"),
    ("wideresnet-16-4", 0.25, "null"),
    ("timm:resnet10t", 1.0, "null"),
    ("timm:vit_tiny_patch16_224", 1.0, '{"depth": 2, "embed_dim": 48, "num_heads": 3}'),
}


def trained_anywhere() -> list[tuple[str, float, str]]:
    """Every model a CPU scale of a recipe, `bench` (default and --quick) or a test trains. Scales named
    `full` are for GPUs, where oneDNN (and its bug) is not in the path."""
    used = set(TESTED) | {(DEFAULTS["arch"], DEFAULTS["width"], "null"), (DEFAULTS["arch"], QUICK["width"], "null")}
    for name in recipe.available():
        for scale in recipe._read(name)[0].get("scales", {}):
            if scale != "full":
                used |= {
                    (p.config.arch, p.config.width, json.dumps(p.config.arch_kwargs, sort_keys=True))
                    for p in recipe.load_recipe(name, scale).models
                }
    return sorted(used)


def onednn_env(isa: str | None) -> dict[str, str]:
    """This environment with oneDNN on the CPU's own instruction set, or held to `isa`."""
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"}
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    return env


Model = tuple[str, float, str]  # (arch, width, timm constructor arguments as JSON)


def run_probe(
    models: list[Model], isa: str | None, *extra: str, timeout_s: float = TIMEOUT_S
) -> tuple[list[dict], str]:
    """The probe's JSON lines for `models`, probed one after the other in one process (Python and torch start
    once), and what ended it early: a crash, an error, or a hang (no step finished for `timeout_s`)."""
    env = onednn_env(isa)
    env["PYTHONPATH"] = f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    env.pop("OMP_NUM_THREADS", None)  # the threads a user's training gets (conftest sets one for the other tests)
    # Idle threads sleep instead of spinning: beside other busy processes (pytest-xdist's other workers)
    # spinning threads made a probe 5-17x slower. Which kernels run, and on how many threads, is unchanged.
    env["OMP_WAIT_POLICY"] = "PASSIVE"
    command = [sys.executable, str(PROBE), "--models", json.dumps(models), *extra]
    with tempfile.TemporaryFile("w+") as stderr:
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=stderr, text=True)
        arrived: queue.Queue[str | None] = queue.Queue()

        def read_lines() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                arrived.put(line)
            arrived.put(None)  # the output has ended: the process is ending

        threading.Thread(target=read_lines, daemon=True).start()
        lines: list[dict] = []
        while True:
            try:
                line = arrived.get(timeout=timeout_s)
            except queue.Empty:  # a hang: no step finished for that long
                proc.kill()
                proc.wait()
                return lines, f"hung for {timeout_s} s (the oneDNN #6035 symptom on 2 threads; {last_finished(lines)})"
            if line is None:
                break
            if line.startswith("{"):
                lines.append(json.loads(line))
        returncode = proc.wait()
        stderr.seek(0)
        error = stderr.read().strip().splitlines()[-1:]
    if returncode < 0:
        return lines, f"crashed ({signal.Signals(-returncode).name}; {last_finished(lines)})"
    if returncode:
        return lines, f"failed (exit {returncode}; {last_finished(lines)}): {error}"
    return lines, ""


def last_finished(lines: list[dict]) -> str:
    if not lines:
        return "no step finished"
    arch, width, arch_kwargs = lines[-1]["model"]
    return f"last finished: {arch} width {width} {arch_kwargs}, {lines[-1]['method']} step {lines[-1]['step']}"


@functools.cache
def probed(isa: str) -> tuple[list[dict], str]:
    """Every model trained anywhere, probed in one process under `isa` (the first test of each ISA runs it)."""
    return run_probe(trained_anywhere(), ISAS[isa])


@functools.cache
def onednn_isa(max_isa: str | None) -> str:
    """The instruction set oneDNN says it runs on this CPU (ONEDNN_VERBOSE), natively or held to max_isa."""
    env = {**onednn_env(max_isa), "ONEDNN_VERBOSE": "1"}
    nhwc_step = (
        "import torch; conv = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last); "
        "conv(torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)).sum().backward()"
    )
    out = subprocess.run([sys.executable, "-c", nhwc_step], env=env, capture_output=True, text=True, timeout=120).stdout
    return next((line.split(",isa:", 1)[1] for line in out.splitlines() if ",isa:" in line), "unknown")


@pytest.mark.parametrize("isa", list(ISAS))
@pytest.mark.parametrize("arch,width,arch_kwargs", trained_anywhere())
def test_training_gradients_match_fp64(arch, width, arch_kwargs, isa):
    if ISAS[isa] and platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("ONEDNN_MAX_CPU_ISA is x86-only")
    if ISAS[isa] and onednn_isa(None) == onednn_isa(ISAS[isa]) != "unknown":  # an AVX2-only CPU, as here
        pytest.skip(f"oneDNN runs {onednn_isa(None)} natively on this CPU: the native run took this code path")
    every, failure = probed(isa)
    lines = [line for line in every if line["model"] == [arch, width, arch_kwargs]]
    where = f"{arch} width {width} {arch_kwargs}, oneDNN ISA {isa}"
    if {line["method"] for line in lines} != set(method_names()):  # every training method, the single-step ones too
        assert failure, f"{where}: the probe did not train every method: {sorted(line['method'] for line in lines)}"
        pytest.fail(f"{where}: not every method trained: the probe's process {failure}")
    for line in lines:
        assert line["weight_gradients_checked"] > 0
        assert line["error"] <= TOLERANCE, (
            f"{where}: {line['method']} step {line['step']}: weight gradient of {line['layer']} is off by "
            f"{line['error']:.2g} (relative) from the fp64 reference ({line['layout']})"
        )


def test_the_probe_catches_a_weight_gradient_a_tenth_of_a_percent_off():
    """The probe can fail, on any machine: a gradient 0.1% off (its first convolution's, altered by --fault
    before the check sees it) is ten times its tolerance, and it names the layer. (oneDNN #6035 itself showed
    as a 7e-3 to 25x error, or a hang, on the AVX2 path, and not on every machine.)"""
    tiniest = [("preactresnet18", 0.0625, "null")]
    lines, failure = run_probe(tiniest, None, "--methods", "standard", "--fault")
    assert not failure, failure
    assert lines and all(line["error"] > TOLERANCE for line in lines)
    assert {line["layer"] for line in lines} == {"conv1"}
    clean, _ = run_probe(tiniest, None, "--methods", "standard")
    assert all(line["error"] <= TOLERANCE for line in clean)


def test_a_probe_that_fails_or_hangs_ends_with_what_happened_and_where():
    """A model the probe cannot build fails its process (the models after it are never reached, and their tests
    say so); a process that prints no step for the timeout is killed and called hung."""
    lines, failure = run_probe(
        [("preactresnet18", 0.0625, "null"), ("no-such-arch", 1.0, "null")], None, "--methods", "standard"
    )
    assert [line["model"] for line in lines] == [["preactresnet18", 0.0625, "null"]]
    assert failure.startswith("failed (exit 1; last finished: preactresnet18 width 0.0625 null, standard step 0)")
    lines, failure = run_probe([("preactresnet18", 0.0625, "null")], None, "--hang", timeout_s=1)
    assert lines == [] and failure.startswith("hung for 1 s") and "no step finished" in failure


def test_rule_picks_nchw_for_few_channel_strided_1x1_convolutions_on_cpu():
    few = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 16, 1, stride=2))
    many = nn.Sequential(nn.Conv2d(3, 16, 3), nn.Conv2d(16, 32, 1, stride=2), nn.Conv2d(4, 8, 1), nn.Conv2d(4, 8, 3, 2))
    assert meets_onednn_6035(few[1]) and not any(meets_onednn_6035(m) for m in many)
    assert meets_onednn_6035(nn.Conv2d(32, 32, 1, stride=2, groups=4))  # 8 input channels per group
    assert training_format(few, "cpu") == torch.contiguous_format
    assert training_format(many, "cpu") == torch.channels_last
    assert training_format(few, "cuda") == torch.channels_last  # GPUs keep NHWC


def test_compiling_on_cpu_keeps_convolutions_out_of_nhwc_only_below_avx2s_channel_block():
    """inductor runs every convolution in NHWC on a CPU (its layout optimization), whatever format the model
    is in: below 8 input channels that crashed (`train --compile` at 1/16 width: a segfault), so there it is off;
    at 8-15 (1/8 width, whose compiled runs are recorded) and above it stays on."""
    below = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Conv2d(4, 8, 1, stride=2))
    eighth = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Conv2d(8, 16, 1, stride=2))
    assert compile_options(below) == {"layout_optimization": False}
    assert compile_options(eighth) == {} and compile_options(nn.Conv2d(16, 32, 1, stride=2)) == {}
    assert compile_options(nn.Linear(4, 4)) == {}


def test_a_compiled_run_of_a_sixteenth_width_model_trains_on_cpu(tmp_path):
    """The segfault itself, in a process of its own (a crash must fail this test, not the suite)."""
    args = ["--dataset", "cifar10-sample", "--n-train", "64", "--width", "0.0625", "--batch-size", "32"]
    args += ["--epochs", "1", "--device", "cpu", "--compile", "--quiet", "--out", str(tmp_path / "run")]
    done = subprocess.run(
        [sys.executable, "-m", "sam_bench", "train", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"},
    )
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr[-2000:]}"
    assert (tmp_path / "run" / "model.safetensors").is_file()


def test_the_sharpness_of_a_sixteenth_width_model_is_measured_on_cpu(tmp_path):
    """`analyze`'s images were a permuted view of NHWC arrays, NHWC in their strides, so oneDNN ran the model's
    convolutions in NHWC and the weight gradients of the sharpness measure met #6035 (a double free or a
    segfault at 1/16 width). In processes of their own: a crash must fail this test, not the suite."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    train = ["--dataset", "cifar10-sample", "--n-train", "64", "--width", "0.0625", "--batch-size", "32"]
    train += ["--epochs", "1", "--device", "cpu", "--quiet", "--out", str(tmp_path / "run")]
    analyze = [str(tmp_path / "run"), "--out", str(tmp_path / "analysis"), "--measures", "sharpness"]
    analyze += ["--train-images", "8", "--sharpness-batch", "8", "--device", "cpu", "--quiet"]
    for command in (["train", *train], ["analyze", *analyze]):
        done = subprocess.run(
            [sys.executable, "-m", "sam_bench", *command], capture_output=True, text=True, timeout=600, env=env
        )
        assert done.returncode == 0, f"{command[0]}: exit {done.returncode}: {done.stderr[-2000:]}"
