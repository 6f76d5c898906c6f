"""How far a faithful evaluation with per-image draws (sam_bench/attacks/draws.py) and its re-run on other
arithmetic disagree, image by image, per attack and budget, in both strata: the rates the spot check's rule for
files it cannot replay exactly is measured from (sam_bench/evaluation/check_rules.py).

    python tools/draws_tolerance.py record --out DIR --data-dir DIR --isa SSE41      # evaluations on capped kernels
    python tools/draws_tolerance.py measure DIR/*.json --data-dir DIR --log benchmarks/draws-tolerance.log
    python tools/draws_tolerance.py clean RESULTS.json --images 2000 --data-dir DIR --log benchmarks/X.log

`record` runs `sam-bench evaluate` for a fixed plan of 1/8-width CIFAR-10 models of this repository's zoo (ST,
SAM-0.1, AT-Linf-8; PGD-10 at six budgets, AutoAttack standard, APGD-CE + APGD-T as the grid's small budgets run
it, APGD-CE alone where many images stay robust, and the clean pass on the whole test set)
with oneDNN's kernels capped at `--isa` (`ONEDNN_MAX_CPU_ISA`: other instruction sets, other sums), one thread.
`measure` re-runs every clean-correct image of every evaluation of each file as the spot check re-runs it
(`spot_check.verdicts`, `every_image`) on this process's kernels (uncapped unless the variable is set here), and
appends one JSON line per file to `--log`: each evaluation's images and differing images per stratum (AutoAttack's
recorded-robust ones split into those its per-image-replayed attacks fooled and those only Square fooled), with the
command, the CPU, the kernels of both sides, threads, seconds and load average. `clean` re-runs the clean pass of a
results file on its first `--images` images here and counts the images whose outcome differs from the file, per
stratum (a GPU's file's clean pass checked on a CPU). Recorded and measured on one machine with the same kernels
(`--isa ''` and no cap, or the same cap on both), the rule is the exact replay's (`benchmarks/draws-exact.log`). On
a GPU machine, `record --device cuda` and `measure` on its CPU measure a GPU's files checked on a CPU (docs/gpu.md).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

ST, SAM, AT = (
    "SamBench2026Standard_PRN18-w0.125_b199f514",
    "SamBench2026SAM_PRN18-w0.125_rho0.1_3d455f92",
    "SamBench2026AT_PRN18-w0.125_Linf-8_d6a65fd3",
)
STANDARD = ["--attack", "autoattack", "--version", "standard"]
APGD_CE = ["--attack", "autoattack", "--version", "custom", "--attacks", "apgd-ce"]
APGD = ["--attack", "autoattack", "--version", "custom", "--attacks", "apgd-ce,apgd-t"]  # the grid's small budgets
PGD = ["--attack", "pgd", "--steps", "10"]
# (file name, model, evaluate's arguments, images): 1/8-width models, for a CPU
PLAN = [
    ("st-pgd-linf", ST, [*PGD, "--norm", "Linf", "--eps", "1/255,2/255,4/255,8/255"], 1000),
    ("st-pgd-l2", ST, [*PGD, "--norm", "L2", "--eps", "16/255,32/255"], 1000),
    ("sam-pgd-linf", SAM, [*PGD, "--norm", "Linf", "--eps", "1/255,2/255,4/255,8/255"], 1000),
    ("at8-pgd-linf", AT, [*PGD, "--norm", "Linf", "--eps", "2/255,8/255"], 1000),
    ("st-aa-linf-2", ST, [*STANDARD, "--norm", "Linf", "--eps", "2/255"], 500),
    ("sam-aa-linf-2", SAM, [*STANDARD, "--norm", "Linf", "--eps", "2/255"], 500),
    ("st-apgdce-linf-1", ST, [*APGD_CE, "--norm", "Linf", "--eps", "1/255"], 500),
    ("at8-apgdce-linf-8", AT, [*APGD_CE, "--norm", "Linf", "--eps", "8/255"], 500),
    ("at8-apgdce-linf-4", AT, [*APGD_CE, "--norm", "Linf", "--eps", "4/255"], 3000),
    ("st-apgd-linf-1", ST, [*APGD, "--norm", "Linf", "--eps", "1/255"], 1000),
    ("sam-apgd-l2-32", SAM, [*APGD, "--norm", "L2", "--eps", "32/255"], 500),
    ("st-clean", ST, ["--attack", "clean"], 10000),
    ("sam-clean", SAM, ["--attack", "clean"], 10000),
    ("at8-clean", AT, ["--attack", "clean"], 10000),
]
# The full-scale models (PreActResNet-18, trained on an H200), for a GPU: the search in TF32 as the grid evaluates
# and in true fp32 (`--search-math ieee`), to be re-run on a CPU
FULL_ST, FULL_SAM = "SamBench2026Standard_PRN18", "SamBench2026SAM_PRN18_rho0.1"
FULL = [
    ("full-st-pgd-linf", FULL_ST, [*PGD, "--norm", "Linf", "--eps", "1/255,2/255,4/255,8/255"], 1000),
    ("full-st-pgd-l2", FULL_ST, [*PGD, "--norm", "L2", "--eps", "16/255,32/255,64/255,128/255"], 1000),
    ("full-sam-pgd-linf", FULL_SAM, [*PGD, "--norm", "Linf", "--eps", "1/255,2/255,4/255"], 1000),
    ("full-st-pgd-linf-ieee", FULL_ST, [*PGD, "--norm", "Linf", "--eps", "1/255,2/255", "--search-math", "ieee"], 1000),
    ("full-st-apgdce-linf-1", FULL_ST, [*APGD_CE, "--norm", "Linf", "--eps", "1/255"], 500),
    ("full-sam-aa-linf-2", FULL_SAM, [*STANDARD, "--norm", "Linf", "--eps", "2/255"], 200),
]
PLANS = {"cpu": PLAN, "full": FULL}


def record(out: Path, data_dir: str, isa: str | None, device: str, only: list[str], plan: str = "cpu") -> None:
    """Each evaluation of the plan, in a process of its own with the kernels capped at `isa`, one thread."""
    out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    for name, model, arguments, images in PLANS[plan]:
        if only and name not in only:
            continue
        target = out / f"{name}.json"
        if target.is_file():
            print(f"{target}: there already", flush=True)
            continue
        command = [sys.executable, "-m", "sam_bench", "evaluate", model, *arguments, "--n-examples", str(images)]
        command += ["--data-dir", data_dir, "--device", device, "--quiet", "--out", str(target)]
        started = time.time()
        subprocess.run(command, env=env, cwd=ROOT, check=True)
        print(f"{target}: {time.time() - started:.0f} s", flush=True)


def measured(path: Path, data_dir: str | None, threads: int, device: str = "cpu") -> dict:
    """Every clean-correct image of every evaluation of the file re-run as the spot check re-runs it."""
    from sam_bench.evaluation import spot_check

    started, rows = time.time(), []
    options = {"data_dir": data_dir, "every_image": True, "threads": threads, "seed": 0, "device": device}
    for verdict in spot_check.verdicts(path, **options):
        row = {"evaluation": verdict.evaluation, "rule": verdict.rule, "strata": []}
        for s in verdict.strata:
            stratum = {
                "recorded": "robust" if s.recorded_correct else "fooled",
                "images": s.sampled,
                "differing": s.differing,
            }
            if s.tail is not None:
                stratum["differing, fooled only by attacks that do not replay"] = s.tail
            if s.tries > 1:
                stratum["differing at the first try"] = s.first_try
            stratum["differing images"] = s.images
            row["strata"].append(stratum)
        rows.append(row)
    return {"results": str(path), "evaluations": rows, "seconds": round(time.time() - started, 1)}


RECORDED = ("device", "device_name", "cpu_isa", "cpu_model", "cpu_threads")


def measure(
    paths: list[Path], data_dir: str | None, threads: int, log: Path, argv: list[str], device: str = "cpu"
) -> None:
    import torch

    from sam_bench import files
    from sam_bench.runtime.provenance import cpu_model

    for path in paths:
        record = measured(path, data_dir, threads, device)
        environment = files.read_json(path)["environment"]
        record.update(
            {
                "command": shlex.join(["python", "tools/draws_tolerance.py", *argv]),
                "recorded on": {
                    key: environment.get(key)
                    for key in ("device", "device_name", "cpu_isa", "cpu_model", "cpu_threads")
                },
                "measured on": {
                    "device": device,
                    "cpu_isa": {
                        "aten": torch.backends.cpu.get_cpu_capability(),
                        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
                    },
                    "cpu_model": cpu_model(),
                    "threads": threads,
                    "torch": torch.__version__,
                    "machine": platform.machine(),
                },
                "load_average": [round(v, 1) for v in os.getloadavg()],
            }
        )
        with open(log, "a") as handle:
            handle.write(json.dumps(record) + "\n")
        print(json.dumps(record), flush=True)


def clean(path: Path, images: int, data_dir: str | None, threads: int, log: Path, argv: list[str]) -> None:
    """The clean pass of the file's first `images` images again here, compared image by image with its outcomes."""
    import numpy as np
    import torch

    from sam_bench.evaluation import check_model, outcomes
    from sam_bench.evaluation.recheck import measured_data, named_weights
    from sam_bench.evaluation.results_record import Results
    from sam_bench.runtime.memory_format import EVALUATION, place
    from sam_bench.runtime.provenance import cpu_model

    torch.set_num_threads(threads)
    started = time.time()
    results = Results.read(path)
    net, _ = named_weights(path, results, None, None)
    data = measured_data(path, results, data_dir)
    model = check_model.CheckedModel(place(net, torch.device("cpu"), EVALUATION).eval(), torch.device("cpu"), "ieee")
    recorded = outcomes.decode(results.clean_outcomes)[:images]
    x, y = check_model.images(data, np.arange(len(recorded)))
    now = (model.predictions(x, 250) == y).numpy()
    strata = {
        name: {"images": int(mask.sum()), "differing": int((mask & (now != recorded)).sum())}
        for name, mask in (("recorded correct", recorded), ("recorded wrong", ~recorded))
    }
    record = {
        "results": str(path),
        "evaluation": "clean",
        "strata": strata,
        "differing images": [int(i) for i in np.flatnonzero(now != recorded)],
        "command": shlex.join(["python", "tools/draws_tolerance.py", *argv]),
        "recorded on": {key: results.environment.get(key) for key in ("device", "device_name")},
        "measured on": {"device": "cpu", "cpu_model": cpu_model(), "threads": threads, "torch": torch.__version__},
        "seconds": round(time.time() - started, 1),
        "load_average": [round(v, 1) for v in os.getloadavg()],
    }
    with open(log, "a") as handle:
        handle.write(json.dumps(record) + "\n")
    print(json.dumps(record), flush=True)


def main(argv=None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    rec = commands.add_parser("record", help="the plan's evaluations on capped kernels")
    rec.add_argument("--out", type=Path, required=True)
    rec.add_argument("--data-dir", required=True)
    rec.add_argument("--isa", default="SSE41", help="ONEDNN_MAX_CPU_ISA for the recording ('' for none)")
    rec.add_argument("--device", default="cpu")
    rec.add_argument("--only", default="", help="comma-separated names of the plan")
    rec.add_argument("--plan", choices=sorted(PLANS), default="cpu", help="cpu: 1/8-width models; full: full-scale")
    mea = commands.add_parser("measure", help="every image of each file re-run here")
    mea.add_argument("results", nargs="+", type=Path)
    mea.add_argument("--data-dir")
    mea.add_argument("--threads", type=int, default=1)
    mea.add_argument("--device", default="cpu", help="where to re-run (cuda: a GPU's file on the recording kind)")
    mea.add_argument("--log", type=Path, required=True)
    cle = commands.add_parser("clean", help="a file's clean pass on its first images, re-run here")
    cle.add_argument("results", type=Path)
    cle.add_argument("--images", type=int, default=2000)
    cle.add_argument("--data-dir")
    cle.add_argument("--threads", type=int, default=1)
    cle.add_argument("--log", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.command == "clean":
        clean(args.results, args.images, args.data_dir, args.threads, args.log, argv)
    elif args.command == "record":
        only = [n for n in args.only.split(",") if n]
        record(args.out, args.data_dir, args.isa or None, args.device, only, args.plan)
    else:
        measure(args.results, args.data_dir, args.threads, args.log, argv, args.device)


if __name__ == "__main__":
    main()
