"""A benchmark's results as the terminal table, and the same as Markdown tables (for the README)."""

from __future__ import annotations

from sam_bench.bench.targets import targets as judge
from sam_bench.runtime import provenance
from sam_bench.training import method_table


def format_table(result: dict, markdown: bool = False) -> str:
    """The results as a terminal table, or as Markdown tables (`markdown=True`)."""

    def table(rows, align) -> str:
        if markdown:
            rule = ["---:" if right else "---" for right, _ in zip(align, rows[0])]
            return "\n".join("| " + " | ".join(r) + " |" for r in [rows[0], rule, *rows[1:]])
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        return "\n".join(
            "  ".join(c.ljust(w) if j < 2 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows
        )

    env = result["environment"]
    lines = []
    if markdown:
        cuda = f" (CUDA {env['cuda']}, cuDNN {env['cudnn']})" if env.get("cuda") else ""
        lines += [
            f"Device: **{env['device_name']}**, torch {env['torch_version']}{cuda}, {provenance.shown(result)}.",
            "",
        ]
    lines.append(table(_training_rows(result["training"]), (0, 0, 1, 0, 1, 1, 1)))
    ev = result["evaluation"]
    if ev is not None:
        p = ev["pgd"]
        lines.append("")
        math = p.get("math_mode") or {}
        exact = " without TF32" if set(math.values()) == {"ieee"} else ""
        lines.append(f"PGD-10 (Linf 8/255, eval mode, fp32{exact}, batch {p['batch_size']}): {_rate(p)} images/s")
        lines.append("")
        if ev["autoattack"]:
            lines.append(table(_autoattack_rows(ev["autoattack"]), (0, 1, 1, 1, 1, 1, 1)))
        skipped = [n for n in result.get("not_measured") or [] if "AutoAttack" in n]
        if skipped:
            lines.append(f"Not measured in the time given (`--max-minutes`): {'; '.join(skipped)}.")
    # judged again from the measurements, by today's rules (sam_bench/bench/targets.py), not read from the record
    lines += _target_lines(judge(result), markdown)
    if not markdown:
        lines += ["", f"{env['device_name']}, torch {env['torch_version']}, commit {env['code_commit'] or 'unknown'}"]
    return "\n".join(lines)


def _rate(m: dict) -> str:
    r = m["images_per_s"]
    return f"{r['median']:,.0f} [{r['min']:,.0f}-{r['max']:,.0f}]"


def _training_rows(training: dict) -> list[tuple[str, ...]]:
    """Per method: sam-bench's loop, at the paper's batch too if measured, and the paper's loop."""
    rows: list[tuple[str, ...]] = [
        ("method", "loop", "batch", "precision", "images/s median [min-max]", "epoch s", "x paper")
    ]
    for name, t in training.items():
        method = method_table.label(name)  # as every page names it (ST, SAM, AT)
        rows.append(_loop_row(method, t["fast"], t["x_paper"]))
        if t.get("fast_paper_batch") is not None:
            rows.append(_loop_row(method, t["fast_paper_batch"], t["x_paper_same_batch"]))
        p = t["paper"]
        if p is not None:
            rows.append((method, "paper", str(p["batch_size"]), p["precision"], _rate(p), f"{p['epoch_s']:.2f}", "1x"))
    return rows


def _loop_row(method: str, m: dict, x_paper: float | None) -> tuple[str, ...]:
    """A row of sam-bench's loop at one batch size, its speed against the paper's loop."""
    precision = m["precision"] + (" compiled" if m["compile"] else "")
    times = "-" if x_paper is None else f"{x_paper:.2f}x"
    return (method, "sam-bench", str(m["batch_size"]), precision, _rate(m), f"{m['epoch_s']:.2f}", times)


def _autoattack_rows(records: list[dict]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [
        ("AutoAttack standard", "images", "clean", "robust", "seconds", "s / 1,000", "s / 1,000 correct")
    ]
    for a in records:
        per_correct = a["seconds_per_1000_correct"]
        cells = [
            f"{a['clean_acc']:.1%}",
            f"{a['robust_acc']:.1%}",
            f"{a['seconds']:.1f}",
            f"{a['seconds_per_1000']:.1f}",
        ]
        rows.append((a["model"], str(a["n_images"]), *cells, "-" if per_correct is None else f"{per_correct:.1f}"))
    return rows


def _target_lines(targets: dict, markdown: bool) -> list[str]:
    """Each target checked, after a blank line (none when no target applies to the device)."""
    checks = targets["checks"]
    if not checks:
        return []
    lines = ["", "Targets" + ("" if targets["applies"] else " (settings differ from the targets')") + ":"]
    if markdown:
        lines.append("")
    for c in checks:
        verdict = "met" if c["met"] else "MISSED"
        if c["spread"] is not None:
            verdict += f" [{c['spread'][0]:.2f}-{c['spread'][1]:.2f}{'' if c['clear'] else ': within the spread'}]"
        lines.append(f"{'-' if markdown else ' '} {c['name']} {c['target']:g}: {c['measured']:.2f} {verdict}")
    return lines
