"""The report's check on AutoAttack's last two attacks: what FAB-T and Square found after APGD-CE + APGD-T, for a
grid that attacks its later seeds with those two alone and its first seeds with the standard version (whose
breakdown counts the images right after each attack); the custom version's count beside it, which should agree.
"""

from __future__ import annotations

from sam_bench import threat_models
from sam_bench.eps import parse_eps
from sam_bench.report.run_record import RunRecord

CHEAPER = ("apgd-ce", "apgd-t")  # the custom version the later seeds get
LAST_TWO = ("fab-t", "square")


def _rows(records: list[RunRecord]) -> list[dict]:
    """Per first seed's standard AutoAttack with a full breakdown, counts of images; none without the cheaper one."""
    if not any(  # some run attacked with APGD-CE + APGD-T alone
        ev.attack == "autoattack"
        and ev.settings.get("version") == "custom"
        and tuple(ev.settings.get("attacks") or ()) == CHEAPER
        for r in records
        for ev in r.results.evaluations
    ):
        return []
    rows = []
    for order, r in enumerate(records):
        if not r.primary:
            continue
        for ev in r.results.evaluations:
            breakdown = ev.breakdown or {}
            if ev.attack != "autoattack" or ev.settings.get("version") != "standard":
                continue
            if not all(name in breakdown for name in (*CHEAPER, *LAST_TWO)):
                continue
            n = int(ev.n_examples or 0)
            count = {name: round(float(breakdown[name]) * n) for name in (*CHEAPER, *LAST_TWO)}
            custom = r.evaluation("autoattack", ev.norm, ev.eps, version="custom", attacks=CHEAPER, images=n)
            rows.append(
                {
                    "model": f"{r.name} (seed {r.seed})",
                    "norm": ev.norm,
                    "eps": ev.eps,
                    "n": n,
                    "after_cheaper": count["apgd-t"],
                    "fab-t": count["apgd-t"] - count["fab-t"],
                    "square": count["fab-t"] - count["square"],
                    "final": count["square"],
                    "custom": None if custom is None else round(float(custom.robust_acc) * n),
                    "order": order,
                }
            )
    return sorted(rows, key=lambda row: (row["order"], threat_models.order(row["norm"]), parse_eps(row["eps"])))


def section(records: list[RunRecord]) -> list[str]:
    """The section, or nothing where no run was attacked with APGD-CE + APGD-T alone beside a standard breakdown."""
    rows = _rows(records)
    if not rows:
        return []
    lines = [
        "## AutoAttack's last two attacks: what APGD-CE + APGD-T missed",
        "",
        "Later seeds are attacked with APGD-CE + APGD-T alone; first seeds with standard AutoAttack, which runs "
        "those two first, then FAB-T and Square on the images still right. Images of each standard evaluation "
        "(its breakdown): right after APGD-T, flipped by FAB-T, flipped by Square, right after all four; and the "
        "custom version's count on the same images where the model has it too.",
        "",
        "| model | budget | images | right after APGD-T | flipped by FAB-T | flipped by Square | right after all four "
        "| APGD-CE + APGD-T run alone |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        custom = "–" if row["custom"] is None else f"{row['custom']:,}"
        if row["custom"] is not None and row["custom"] != row["after_cheaper"]:
            custom += " ⚠"
        lines.append(
            f"| {row['model']} | {row['norm']} {row['eps']} | {row['n']:,} | {row['after_cheaper']:,} "
            f"| {row['fab-t']:,} | {row['square']:,} | {row['final']:,} | {custom} |"
        )
    flipped = [row["fab-t"] + row["square"] for row in rows]
    worst = max(range(len(rows)), key=lambda i: (flipped[i] / rows[i]["n"], flipped[i]))
    images = "image" if sum(flipped) == 1 else "images"
    evaluations = "standard evaluation" if len(rows) == 1 else "standard evaluations"
    total = f"FAB-T and Square together flipped {sum(flipped):,} {images} over {len(rows)} {evaluations}"
    if sum(flipped):
        row = rows[worst]
        total += f"; the most in one: {flipped[worst]:,} of {row['n']:,} ({row['model']}, {row['norm']} {row['eps']})"
    lines += ["", total + "."]
    differ = [row for row in rows if row["custom"] is not None and row["custom"] != row["after_cheaper"]]
    if differ:
        lines.append(
            "⚠ The custom version's count differs from the standard version's after APGD-T for "
            + ", ".join(f"{row['model']} at {row['norm']} {row['eps']}" for row in differ)
            + ": the same two attacks from the same seed, computed differently (another device or batch)."
        )
    return lines + [""]
