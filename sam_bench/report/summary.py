"""A reproduction's summary for docs/leaderboard.md, rendered from its results files (never typed) between its
markers by `sam-bench report reproductions/<folder> --readme docs/leaderboard.md`: what ran, its time, its
evidence, and the verdicts; tests/test_readme_summaries.py fails when the page says anything else.
"""

from __future__ import annotations

import re
from pathlib import Path

from sam_bench import files
from sam_bench.errors import BadInput
from sam_bench.report import confirmatory, gpu_minutes, pareto
from sam_bench.report.claims import headline
from sam_bench.report.collapse import collapse_epoch
from sam_bench.report.folder import Folder, not_shown
from sam_bench.report.records import models
from sam_bench.report.run_record import RunRecord
from sam_bench.training import method_table as table

_MARK = "<!-- sam-bench summary {name} {edge} -->"


def summary(folder: str | Path | Folder) -> str:
    """The reproduction in `folder` (a path, or the folder loaded): one line on what ran, then what applies."""
    loaded = folder if isinstance(folder, Folder) else Folder.load(folder)
    records = loaded.records
    if not records:
        shown = "no results that can be shown" if loaded.left_out else "no results yet"
        raise BadInput(f"{loaded.path}: {shown}, nothing to summarise")
    judged = [v for subset in loaded.verdicts.values() for v in subset]
    seeds: dict[str, list[str]] = {}
    for name, group in models(records).items():
        seeds.setdefault(", ".join(str(r.seed) for r in group), []).append(name)
    runs = "; ".join(f"{', '.join(names)}: seed{'s' if ',' in s else ''} {s}" for s, names in seeds.items())
    training = sum(r.training.wall_time_s or 0 for r in records)
    evaluating = sum(r.results.evaluation_seconds for r in records)
    outcome_text = f"all {len(records)} results files record per-image outcomes" + (
        f"; not shown: {not_shown(loaded.path, loaded.left_out)}" if loaded.left_out else ""
    )
    several = any(len(group) > 1 for group in models(records).values())
    budget = loaded.budget_sentence("CPU time with the pilot's", "CPU time")
    items = [
        f"Time: training took {_duration(training)} and evaluation {_duration(evaluating)}, summed over the runs' "
        f"own clocks{'; ' + budget if budget else ''}.",
        f"Evidence: {outcome_text}; every accuracy in the report carries its 95% interval (Wilson's over the test "
        "images"
        + ("; over training seeds and test images together for a model with several seeds" if several else "")
        + ").",
        gpu_minutes.sentence(records).strip(),
        _primary_tests(loaded),
        ("Verdicts pooled over every seed (secondary)" if confirmatory.applies(loaded.plan) else "Verdicts")
        + ", one per claim and configuration:\n"
        + "\n".join(f"  - {line}." for line in headline(judged)),
        _equal_cost(records),
    ]
    lead = f"Rendered from its results by `sam-bench report`: {len(records)} runs ({runs})."
    return "\n".join([lead, "", *(f"- {item}" for item in items if item)])


def _primary_tests(loaded: Folder) -> str:
    """For a scale that fixed its primary tests before its runs: their verdicts, as the report gives them."""
    if not confirmatory.applies(loaded.plan):
        return ""
    results = confirmatory.primary_results(loaded.records, loaded.plan)
    return (
        "Primary tests, fixed in the recipe before the confirmatory seeds trained and judged on those seeds alone:"
        + ("".join(f"\n  - {r.phrase()}." for r in results) or " none.")
    )


def _equal_cost(records: list[RunRecord]) -> str:
    """For a grid with a Pareto section: the equal-cost verdict per budget, and how many single-step runs collapsed."""
    if not pareto.applies(records):
        return ""
    parts = []
    for v in pareto.equal_cost_verdicts(records):
        clean = v["clean_cost"]
        known = clean is not None and clean.difference is not None
        cost = f"; clean cost vs ST {clean.points()} points" if known else ""
        standing = [
            f"{words} {', '.join(names)}"
            for words, names in (("not separated from", v["not_separated_from"]), ("ahead of", v["ahead_of"]))
            if names
        ]
        if v.get("first_seeds_only"):  # one trained model per method: no verdict on the methods
            parts.append(
                f"{v['measure']} (first seeds only: one trained model each, so about these models, not their "
                f"methods): {v['best']}'s model is the most accurate ({'; '.join(standing)}{cost})"
            )
            continue
        verdict = "leads" if v["verdict"] == "not separated" else v["verdict"]
        parts.append(f"{v['measure']}: {v['best']} {verdict} ({'; '.join(standing)}{cost})")
    single = [r for r in records if table.single_step(r.method)]
    collapsed = sum(collapse_epoch(r) is not None for r in single)
    return (
        "At equal cost (two passes per step), the most accurate defence per budget (`wins`: significantly ahead of "
        "every other; `leads`: not separated from some): "
        + ("; ".join(parts) or "no budget has two of them measured")
        + ". "
        f"Catastrophic overfitting: {collapsed or 'none'} of {len(single)} single-step runs collapsed."
    )


def check_readme(readme: str | Path, folder: str | Path | Folder) -> tuple[str, re.Pattern, str, str]:
    """`readme`'s text and the folder's summary markers in it; refused (BadInput) where it lacks them."""
    name = Path(folder.path if isinstance(folder, Folder) else folder).name
    start, end = (_MARK.format(name=name, edge=edge) for edge in ("start", "end"))
    text = files.read_text(readme)
    pattern = re.compile(r"(?P<indent>[ \t]*)" + re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise BadInput(f"{readme}: no summary markers for {name}; put '{start}' and '{end}' where it belongs")
    return text, pattern, start, end


def has_markers(readme: str | Path, folder: str | Path | Folder) -> bool:
    """Whether `readme` holds the folder's summary markers."""
    try:
        check_readme(readme, folder)
    except BadInput:
        return False
    return True


def update_readme(readme: str | Path, folder: str | Path | Folder) -> Path:
    """Replace the folder's summary between its markers in `readme`."""
    readme = Path(readme)
    text, pattern, start, end = check_readme(readme, folder)
    lines = summary(folder).split("\n")

    def indented(m: re.Match) -> str:  # every line under the markers' indent (blank lines left blank): a list item
        body = "\n".join(f"{m['indent']}{line}" if line else "" for line in lines)
        return f"{m['indent']}{start}\n{body}\n{m['indent']}{end}"

    files.write_text(readme, pattern.sub(indented, text))
    return readme


def _duration(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"
