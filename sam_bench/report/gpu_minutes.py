"""GPU minutes per model, training and evaluation apart, each counted where it ran on a GPU: wall time, not a GPU's
busy time (the device is held for the whole of it).
"""

from __future__ import annotations

from sam_bench.eps import parse_eps
from sam_bench.evaluation.results_record import Evaluation
from sam_bench.report.run_record import RunRecord
from sam_bench.threat_models import LINF, threat_model


def _on_gpu(device_name: str | None) -> bool:
    """A CPU names itself "cpu (x86_64, N threads)"; a GPU by its model, e.g. "NVIDIA H200"."""
    return bool(device_name) and not str(device_name).startswith("cpu")


def evaluated_on(record: RunRecord) -> str | None:
    """The GPU a record's evaluation ran on, or None where it ran on a CPU."""
    environment = record.results.environment
    return environment.get("device_name") if str(environment.get("device", "")).startswith("cuda") else None


def attack_seconds(evaluation: Evaluation) -> float:
    """An attack's wall time: its chunks' and its timed probes' (none in results from before probes were recorded)."""
    probes = (evaluation.chunks or {}).get("probe_seconds") or 0.0
    return float(evaluation.seconds or 0.0) + float(probes)


def labelled(name: str, seed: int) -> str:
    """A run as the README names it: the model, and its seed where it is not the first."""
    return name + ("" if seed == 0 else f" seed {seed}")


def rows(records: list[RunRecord]) -> list[dict]:
    """One row per run that trained or was evaluated on a GPU: name, seed, the GPU, and the minutes of each
    part that ran there (None for a part that ran elsewhere). Runs reused from another folder count there."""
    out = []
    for r in records:
        trained_on = r.training.device_name if _on_gpu(r.training.device_name) else None
        evaluated_where = evaluated_on(r)
        if r.training.reused_from or not (trained_on or evaluated_where):
            continue
        training_min = float(r.training.wall_time_s or 0.0) / 60 if trained_on else None
        evaluation_min = sum(attack_seconds(e) for e in r.results.evaluations) / 60 if evaluated_where else None
        out.append(
            {
                "name": r.name,
                "seed": r.seed,
                "device": trained_on or evaluated_where,
                "training_min": training_min,
                "evaluation_min": evaluation_min,
                "total_min": (training_min or 0.0) + (evaluation_min or 0.0),
            }
        )
    return out


def lines(records: list[RunRecord]) -> list[str]:
    """The report's table of GPU minutes per model, or nothing when no run touched a GPU."""
    table = rows(records)
    if not table:
        return []

    def minutes(value: float | None) -> str:
        return "–" if value is None else f"{value:.1f}"

    body = [
        f"| {t['name']} | {t['seed']} | {t['device']} | {minutes(t['training_min'])} | "
        f"{minutes(t['evaluation_min'])} | {t['total_min']:.1f} |"
        for t in table
    ]
    total = sum(t["total_min"] for t in table)
    return [
        "GPU minutes per model: the wall time of each run's training and of its evaluation on all its attacks, "
        "where they ran on a GPU (`sam_bench/report/gpu_minutes.py`; – where that part ran elsewhere).",
        "",
        "| model | seed | GPU | training (min) | evaluation (min) | together (min) |",
        "|---|---|---|---|---|---|",
        *body,
        f"| all | | | | | {total:.1f} |",
        "",
    ]


def sentence(records: list[RunRecord]) -> str:
    """For a README summary: each GPU run's minutes, and the seconds standard AutoAttack took at RobustBench's
    Linf budget on all the test images it attacked (the speed a RobustBench user compares); '' without GPU runs."""
    table = rows(records)
    if not table:
        return ""
    devices = sorted({t["device"] for t in table})

    def parts(t: dict) -> str:
        spent = (("training", t["training_min"]), ("evaluation", t["evaluation_min"]))
        return " + ".join(f"{value:.1f} {part}" for part, value in spent if value is not None)

    minutes = "; ".join(f"{labelled(t['name'], t['seed'])}: {parts(t)}" for t in table)
    board = threat_model(LINF).board_eps()
    budget = parse_eps(board)
    timed = []
    for r in (r for r in records if evaluated_on(r)):
        for e in r.results.evaluations:
            standard = e.settings.get("version") == "standard"
            if e.attack == "autoattack" and e.norm == LINF and standard and e.eps_value == budget:
                timed.append(f"{labelled(r.name, r.seed)} {e.seconds:.1f} s on {e.n_examples:,} images")
    return (
        f" GPU minutes per model on {', '.join(devices)} (`sam_bench/report/gpu_minutes.py`): {minutes}"
        + (f"; standard AutoAttack at {LINF} {board}: {', '.join(timed)}" if timed else "")
        + "."
    )
