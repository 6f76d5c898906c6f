"""The probe's parts for runs side by side in one process (`bench --probe --in-process`, docs/benchmarks.md):
lanes/<method>/<mode>/K<k>, K training runs each in a lane of the probe's process (runtime/lanes.py), as
`reproduce --parallel K --in-process` and `train --seeds` train them; their ratios against the first K timed and
against K processes (probe_arrangement.py) tell which way of K at once pays more.
"""

from __future__ import annotations

from functools import partial

import torch

from sam_bench.bench.measurement import attack_steps
from sam_bench.bench.probe import Part, Ratio
from sam_bench.bench.probe_steps import train_step
from sam_bench.runtime import clock, lanes

GIB = 2**30


def first_ratio(method: str, mode: str, k: int, first: int) -> str:
    return f"{method}: aggregate images/s in {mode} steps, K={k} side by side in one process / K={first}"


def processes_ratio(method: str, mode: str, k: int) -> str:
    return f"{method}: aggregate images/s in {mode} steps, K={k}, side by side in one process / in K processes"


def parts(s: dict, device: torch.device, runnable: list[tuple[str, str]]) -> tuple[list[Part], list[Ratio]]:
    """The side-by-side parts of each (method, mode) the arrangement could run here, at every K of `concurrency`,
    and their ratios; none unless `s["in_process"]`."""
    if not s.get("in_process"):
        return [], []
    out_parts, ratios = [], []
    first, seconds = s["concurrency"][0], s["concurrent_s"]
    for method, mode in runnable:
        for k in s["concurrency"]:
            name = f"lanes/{method}/{mode}/K{k}"
            info = {
                "kind": "lanes",
                "method": method,
                "mode": mode,
                "processes": 1,
                "attack_steps": attack_steps(method),
            }
            if k > 1:
                info["models"] = k
            out_parts.append(Part(name, partial(side_by_side, method, mode, k, s, device, seconds), info))
            key = "images_per_s_aggregate"
            if k != first:
                ratios.append(
                    Ratio.of(first_ratio(method, mode, k, first), name, f"lanes/{method}/{mode}/K{first}", key)
                )
            ratios.append(Ratio.of(processes_ratio(method, mode, k), name, f"concurrent/{method}/{mode}/K{k}", key))
    return out_parts, ratios


def side_by_side(method: str, mode: str, k: int, s: dict, device: torch.device, seconds: float):
    """Build k runs' steps, each in its lane (its stream), and return the part's `run`: the k runs side by side."""
    streams = lanes.make_streams(device, k)
    cuda = device.type == "cuda"
    held = torch.cuda.memory_allocated(device) if cuda else 0
    builds = [partial(train_step, method, mode, {**s, "seed": s["seed"] + i}, str(device)) for i in range(k)]
    built = lanes.run(builds, k, device, streams=streams)
    failed = next((o.error for o in built if o.error is not None), None)
    if failed is not None:
        raise failed
    steps = [o.value for o in built]
    held = torch.cuda.memory_allocated(device) - held if cuda else 0
    images = s["batch_size"]

    def run() -> dict[str, float]:
        counts = [0] * k

        def taking(i: int) -> None:
            while True:  # the first step always counts, so a slow one still gives a rate
                steps[i]()
                counts[i] += 1
                if clock.now() >= stop:
                    return
                lanes.turn()

        if cuda:
            torch.cuda.synchronize(device)
            before = torch.cuda.memory_allocated(device)
            torch.cuda.reset_peak_memory_stats(device)
        began = clock.now()
        stop = began + seconds
        ran = lanes.run([partial(taking, i) for i in range(k)], k, device, streams=streams)  # synchronised at its end
        took = clock.now() - began
        failed = next((o.error for o in ran if o.error is not None), None)
        if failed is not None:
            raise failed
        values = {"images_per_s_aggregate": sum(counts) * images / max(took, 1e-12)}
        if cuda:
            values["gpu_memory_gib"] = (held + torch.cuda.max_memory_allocated(device) - before) / GIB
        return values

    return run
