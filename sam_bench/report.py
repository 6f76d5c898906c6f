"""REPORT.md and plots of a reproduction, computed from its results files only.

Claims of the paper checked, each with a verdict computed from the numbers:
  C1  SAM's clean accuracy is within 0.5 points of ST's, or better.
  C2  SAM's PGD accuracy beats ST's at Linf 1/255 and 2/255 and L2 16/255 and 32/255.
  C3  AT beats SAM in robust accuracy at AT's training eps, and loses to SAM in clean accuracy.
  C4  SAM costs about 2x ST per epoch, PGD-k AT about (k+1)x ("about": within 35%), per epoch
      meaning the median epoch after the first (the first carries start-up costs).
A claim holds when it holds for every SAM (and AT) model of the grid, partly when for some. A
comparison with a degenerate model (`sam_bench.degenerate`: near chance, or one class for most
images) is no evidence: it is left out, and a claim with nothing else to rest on is inconclusive.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import statistics

from . import degenerate, files
from .eps import parse_eps

C1_TOLERANCE = 0.005  # 0.5 points
C2_BUDGETS = [("Linf", "1/255"), ("Linf", "2/255"), ("L2", "16/255"), ("L2", "32/255")]
C4_TOLERANCE = 0.35


def load_results(out: Path) -> list[dict]:
    """One record per model of the plan that has results, in the plan's order."""
    plan = files.read_json(out / "plan.json")
    records = []
    for m in plan["models"]:
        path = out / "results" / f"{m['name']}-{m['key']}.json"
        if not path.is_file():
            continue
        results = files.read_json(path)
        training = results["model"].get("training") or {}
        config = training.get("config") or m["config"]
        log = out / "runs" / f"{m['name']}-{m['key']}" / "log.jsonl"
        epochs = [json.loads(line)["seconds"] for line in log.read_text().splitlines()] if log.is_file() else []
        records.append({"name": m["name"], "config": config, "results": results, "path": path,
                        "training": training, "epoch_seconds": epochs, "degenerate": degenerate.reason(results)})
    return records


def accuracy(record: dict, attack: str, norm: str | None = None, eps: str | None = None) -> float | None:
    """A fraction from the record's results; None when that evaluation was not run."""
    if attack == "clean":
        return record["results"]["clean_acc"]
    for ev in record["results"]["evaluations"]:
        if ev["attack"] == attack and ev["norm"] == norm and abs(ev["eps_value"] - parse_eps(eps)) < 1e-9:
            return ev["robust_acc"]
    return None


def seconds_per_epoch(record: dict) -> float | None:
    """The median epoch after the first (which carries start-up: imports, allocation, compilation);
    without the run's log, wall time / epochs."""
    epochs = record.get("epoch_seconds") or []
    if epochs:
        return statistics.median(epochs[1:] or epochs)
    t, n = record["training"], record["config"].get("epochs")
    return t["wall_time_s"] / n if t.get("wall_time_s") and n else None


def pgd_budgets(records: list[dict]) -> list[tuple[str, str]]:
    seen = {}
    for r in records:
        for ev in r["results"]["evaluations"]:
            if ev["attack"] == "pgd":
                seen[(ev["norm"], ev["eps"])] = ev["eps_value"]
    return sorted(seen, key=lambda k: (k[0] != "Linf", seen[k]))


def aa_budgets(records: list[dict]) -> list[tuple[str, str]]:
    seen = []
    for r in records:
        for ev in r["results"]["evaluations"]:
            if ev["attack"] == "autoattack" and (ev["norm"], ev["eps"]) not in seen:
                seen.append((ev["norm"], ev["eps"]))
    return seen


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def _by_method(records, *methods):
    return [r for r in records if r["config"]["method"] in methods]


def _overall(results: list[bool], left_out: list[str] = ()) -> str:
    if not results:
        return "inconclusive: every comparison involves a degenerate model" if left_out else "not tested"
    return "holds" if all(results) else "partly holds" if any(results) else "does not hold"


def _unusable(*records) -> str | None:
    """Why a comparison of these models is no evidence (one of them is degenerate), or None."""
    bad = [f"{r['name']} is degenerate ({r['degenerate']})" for r in records if r["degenerate"]]
    return "left out: " + "; ".join(bad) if bad else None


def verdicts(records: list[dict]) -> list[dict]:
    st = next(iter(_by_method(records, "standard")), None)
    sams = _by_method(records, "sam")
    ats = _by_method(records, "at")
    out = []

    def claim(name, text, comparisons):
        """comparisons: (records compared, passed?, evidence line); degenerate ones are left out."""
        ok, lines, left_out = [], [], []
        for compared, passed, line in comparisons:
            why = _unusable(*compared)
            if why:
                left_out.append(why)
                lines.append(f"{line} ({why})")
            else:
                ok.append(passed)
                lines.append(line)
        out.append({"claim": name, "text": text, "verdict": _overall(ok, left_out), "evidence": lines})

    # C1
    comparisons = []
    for s in sams if st else []:
        d = accuracy(s, "clean") - accuracy(st, "clean")
        comparisons.append(((s, st), d >= -C1_TOLERANCE, f"{s['name']} {_pct(accuracy(s, 'clean'))} vs ST "
                            f"{_pct(accuracy(st, 'clean'))} ({100 * d:+.2f} points)"))
    claim("C1", "SAM's clean accuracy is within 0.5 points of ST's or better", comparisons)

    # C2
    comparisons = []
    for s in sams if st else []:
        wins, parts = [], []
        for norm, eps in C2_BUDGETS:
            a, b = accuracy(s, "pgd", norm, eps), accuracy(st, "pgd", norm, eps)
            if a is None or b is None:
                continue
            wins.append(a > b)
            parts.append(f"{norm} {eps}: {_pct(a)} vs {_pct(b)}")
        if wins:
            comparisons.append(((s, st), all(wins), f"{s['name']} vs ST: " + "; ".join(parts)))
    claim("C2", "SAM's PGD-10 accuracy beats ST's at Linf 1/255, 2/255 and L2 16/255, 32/255", comparisons)

    # C3
    comparisons = []
    for a in ats:
        norm, eps = a["config"]["attack_norm"], a["config"]["attack_eps"]
        for s in sams:
            ra, rs = accuracy(a, "pgd", norm, eps), accuracy(s, "pgd", norm, eps)
            if ra is None or rs is None:
                continue
            ca, cs = accuracy(a, "clean"), accuracy(s, "clean")
            comparisons.append(((a, s), ra > rs and ca < cs, f"{a['name']} vs {s['name']}: PGD {norm} {eps} "
                                f"{_pct(ra)} vs {_pct(rs)}; clean {_pct(ca)} vs {_pct(cs)}"))
    claim("C3", "AT beats SAM in robust accuracy at its training eps and loses to it in clean accuracy", comparisons)

    # C4: cost does not depend on what a model learned, so degenerate models count here
    ok, lines = [], []
    base = seconds_per_epoch(st) if st else None
    if base:
        for r in sams + ats:
            t = seconds_per_epoch(r)
            if t is None:
                continue
            expected = 2 if r["config"]["method"] == "sam" else r["config"]["attack_steps"] + 1
            ratio = t / base
            ok.append(abs(ratio / expected - 1) <= C4_TOLERANCE)
            lines.append(f"{r['name']}: {ratio:.2f}x ST per epoch (expected about {expected}x)")
    out.append({"claim": "C4", "text": "SAM costs about 2x ST per epoch (median epoch after the first), PGD-k AT "
                                       "about (k+1)x (within 35%)", "verdict": _overall(ok), "evidence": lines})
    return out


def _plots(out: Path, records: list[dict]) -> list[str]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    budgets = pgd_budgets(records)
    norms = [n for n in ("Linf", "L2") if any(b[0] == n for b in budgets)]
    if norms:
        fig, axes = plt.subplots(1, len(norms), figsize=(5.5 * len(norms), 4), squeeze=False)
        for ax, norm in zip(axes[0], norms):
            eps = [e for n, e in budgets if n == norm]
            for r in records:
                xs = [0.0] + [255 * parse_eps(e) for e in eps]
                ys = [accuracy(r, "clean")] + [accuracy(r, "pgd", norm, e) for e in eps]
                pts = [(x, 100 * y) for x, y in zip(xs, ys) if y is not None]
                ax.plot(*zip(*pts), marker="o", label=r["name"])
            ax.set_xlabel(f"{norm} eps (x/255)")
            ax.set_ylabel("PGD-10 accuracy (%)")
            ax.set_title(f"Robust accuracy against {norm} eps")
            ax.grid(alpha=0.3)
        axes[0][-1].legend(fontsize=8)
        fig.tight_layout()
        files.atomic_write(out / "robust_vs_eps.png", lambda f: fig.savefig(f, format="png", dpi=110))
        plt.close(fig)
        written.append("robust_vs_eps.png")

    target = next(((("autoattack",) + b) for b in aa_budgets(records)), None) or \
        next(((("pgd",) + b) for b in budgets if b == ("Linf", "8/255")), None)
    if target:
        fig, ax = plt.subplots(figsize=(5.5, 4.2))
        for r in records:
            y = accuracy(r, *target)
            if y is not None:
                ax.scatter(100 * accuracy(r, "clean"), 100 * y, s=40)
                ax.annotate(r["name"], (100 * accuracy(r, "clean"), 100 * y), fontsize=8,
                            xytext=(4, 4), textcoords="offset points")
        label = "AutoAttack" if target[0] == "autoattack" else "PGD-10"
        ax.set_xlabel("clean accuracy (%)")
        ax.set_ylabel(f"{label} {target[1]} {target[2]} accuracy (%)")
        ax.set_title("Clean vs robust accuracy")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        files.atomic_write(out / "tradeoff.png", lambda f: fig.savefig(f, format="png", dpi=110))
        plt.close(fig)
        written.append("tradeoff.png")

    timed = [(r["name"], seconds_per_epoch(r)) for r in records if seconds_per_epoch(r)]
    if timed:
        fig, ax = plt.subplots(figsize=(1.1 * len(timed) + 2.5, 3.8))
        ax.bar([n for n, _ in timed], [t for _, t in timed], color="tab:blue")
        ax.set_ylabel("seconds per epoch")
        ax.set_title("Training cost")
        ax.tick_params(axis="x", rotation=30)
        fig.tight_layout()
        files.atomic_write(out / "cost.png", lambda f: fig.savefig(f, format="png", dpi=110))
        plt.close(fig)
        written.append("cost.png")
    return written


def _setup_lines(records: list[dict]) -> list[str]:
    first = records[0]
    cfg, data = first["config"], first["results"]["dataset"]
    devices = sorted({r["training"].get("device_name") or "?" for r in records})
    eval_devices = sorted({r["results"]["environment"]["device_name"] for r in records})
    commits = sorted({str(r["results"]["environment"].get("code_commit")) for r in records})
    torch_versions = sorted({r["results"]["environment"]["torch_version"] for r in records})
    return [
        f"- Training: {cfg['arch']} (width {cfg['width']:g}), {cfg['epochs']} epochs, batch {cfg['batch_size']}, "
        f"SGD lr {cfg['lr']:g} ({cfg['schedule']}), momentum {cfg['momentum']:g}, weight decay "
        f"{cfg['weight_decay']:g}, data set `{cfg['dataset']}`"
        + (f" ({cfg['n_train']} training images)" if cfg.get("n_train") else "") + ".",
        f"- Evaluation: the first {data['n_examples']} of {data['n_test_total']} test images of "
        f"`{data['name']}`; PGD-10 with random start; AutoAttack through pyautoattack.",
        f"- Trained on: {', '.join(devices)}. Evaluated on: {', '.join(eval_devices)}. "
        f"torch {', '.join(torch_versions)}; sam-bench commit {', '.join(commits)}.",
    ]


def write_report(out: str | Path) -> Path:
    """(Re)write REPORT.md and its plots from the reproduction's results files."""
    out = Path(out)
    plan = files.read_json(out / "plan.json")
    records = load_results(out)
    report = out / "REPORT.md"
    lines = [f"# Reproduction: {plan['name']}, scale `{plan['scale']}`", "",
             f"Paper: {plan['paper']}.", "",
             f"Written by `sam-bench report {out}` from the results files in `results/` "
             f"({len(records)} of {len(plan['models'])} models done), "
             f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. Accuracies in %.", ""]
    missing = [m["name"] for m in plan["models"] if m["name"] not in {r["name"] for r in records}]
    if missing:
        lines += [f"Not done yet: {', '.join(missing)}.", ""]
    if not records:
        files.write_text(report, "\n".join(lines) + "\n")
        return report
    lines += ["## Setup", "", *_setup_lines(records), ""]

    pgd, aa = pgd_budgets(records), aa_budgets(records)
    header = ["model", "method", "clean"] + [f"PGD {n} {e}" for n, e in pgd] + [f"AA {n} {e}" for n, e in aa]
    lines += ["## Accuracy", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in records:
        name = f"{r['name']} ⚠ degenerate" if r["degenerate"] else r["name"]
        cells = [name, r["config"]["method"], _pct(accuracy(r, "clean"))]
        cells += [_pct(accuracy(r, "pgd", n, e)) for n, e in pgd]
        cells += [_pct(accuracy(r, "autoattack", n, e)) for n, e in aa]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    flagged = [r for r in records if r["degenerate"]]
    if flagged:
        lines += ["⚠ Degenerate models (no verdict rests on them): "
                  + "; ".join(f"{r['name']}: {r['degenerate']}" for r in flagged) + ".", ""]

    lines += ["## Verdicts", "", "| claim | verdict | what was compared |", "|---|---|---|"]
    for v in verdicts(records):
        evidence = "<br>".join(v["evidence"]) or "the grid lacks the models this claim compares"
        lines.append(f"| **{v['claim']}** {v['text']} | **{v['verdict']}** | {evidence} |")
    lines.append("")

    st = next(iter(_by_method(records, "standard")), None)
    base = seconds_per_epoch(st) if st else None
    lines += ["## Training cost", "", "Seconds per epoch: the median epoch after the first (the first carries start-up "
              "costs), from each run's `log.jsonl`.", "",
              "| model | passes per step | seconds per epoch | x ST | images/s | wall time (s) |",
              "|---|---|---|---|---|---|"]
    for r in records:
        t = seconds_per_epoch(r)
        ratio = f"{t / base:.2f}" if t and base else "–"
        ips = r["training"].get("images_per_s")
        lines.append(f"| {r['name']} | {r['training'].get('passes_per_step', '–')} | "
                     f"{'–' if t is None else f'{t:.1f}'} | {ratio} | {'–' if ips is None else f'{ips:.0f}'} | "
                     f"{r['training'].get('wall_time_s', 0):.0f} |")
    lines += ["", "Timings on a shared CPU are noisy; compare ratios taken in one run.", ""]

    plots = _plots(out, records)
    titles = {"robust_vs_eps.png": "Robust accuracy against eps", "tradeoff.png": "Clean vs robust accuracy",
              "cost.png": "Training cost per epoch"}
    if plots:
        lines += ["## Plots", ""] + [f"### {titles[p]}\n\n![{titles[p]}]({p})\n" for p in plots]
    lines += ["## Sources", ""] + [f"- `{r['path'].relative_to(out)}` ({r['name']}, weights sha256 "
                                   f"`{r['results']['model']['weights_sha256'][:12]}…`)" for r in records]
    files.write_text(report, "\n".join(lines) + "\n")
    return report

