"""The README's answer, first: each claim in a plain sentence and what every scale of the paper's grid found
for it, rendered from the reproductions' results (never typed).

`sam-bench report <folder> --readme README.md` replaces the text between `<!-- sam-bench findings start -->`
and `<!-- sam-bench findings end -->` with `table(folders)`, where the folders are the paper-cifar10
reproductions on CIFAR-10 beside the reported folder (`folders_of`), the largest scale first. A cell gives,
for the paper's SAM (rho 0.1) against ST, or AT against it for C3, the verdict and the effect with its 95%
interval: the primary test's over the confirmatory seeds where the scale fixed one, else the verdict pooling
its seeds. A line before it says what the primary tests decided and what waits for seeds not yet trained; the
front figure (`findings_figure`) is drawn beside the reproductions with it.
"""

from __future__ import annotations

import re
from pathlib import Path

from sam_bench import files
from sam_bench.errors import BadInput
from sam_bench.recipes.endpoints import Endpoints
from sam_bench.report import confirmatory, findings_figure
from sam_bench.report.claims import C1_MARGIN, cost_of
from sam_bench.report.folder import Folder
from sam_bench.report.records import models

START, END = "<!-- sam-bench findings start -->", "<!-- sam-bench findings end -->"
RECIPE = "paper-cifar10"
HEADLINE_SAM = "SAM-0.1"  # the paper's headline rho: the configuration each cell speaks for

# Each claim in one plain sentence (claims.CLAIMS states the tests behind them)
PLAIN = {
    "C1": f"SAM keeps ST's clean accuracy (at most {100 * C1_MARGIN:g} point below it).",
    "C2": "SAM is more robust than ST at small budgets (Linf 1/255, 2/255; L2 16/255, 32/255).",
    "C3": "AT is more robust than SAM at its own budget, and less accurate on clean images.",
    "C4": "SAM costs about 2x ST per training step, PGD-k AT about (k+1)x.",
}
# Scales in the order of their size, the paper's own first; a scale not listed follows
SCALES = ("full", "cpu-confirmatory", "cpu-decisive", "cpu")


def folders_of(reproductions: str | Path) -> list[Path]:
    """The paper's grid on CIFAR-10 in `reproductions` (the folders `reproduce` names `paper-cifar10-<scale>`), the
    largest scale first."""
    found = []
    for scale in SCALES:
        folder = Path(reproductions) / f"{RECIPE}-{scale}"
        if (folder / "plan.json").is_file() and files.read_json(folder / "plan.json").get("dataset") == "cifar10":
            found.append(folder)
    return found


def table(folders: list[Path]) -> str:
    """The findings block: a table (claims by scales) and the line on what is decided."""
    loaded = [Folder.load(f) for f in folders]
    if not loaded:
        raise BadInput("no paper-cifar10 reproduction on CIFAR-10 to render findings from")
    head = "| claim | " + " | ".join(_scale_title(f) for f in loaded) + " |"
    lines = [head, "|---|" + "---|" * len(loaded)]
    for claim, sentence in PLAIN.items():
        lines.append(f"| **{claim}**: {sentence} | " + " | ".join(_cell(f, claim) for f in loaded) + " |")
    note = (
        f"Each cell: the verdict for {HEADLINE_SAM} (the paper's rho) and the effect in accuracy points with its 95% "
        "interval over training seeds and test images: SAM − ST (C3: AT − SAM robust, SAM − AT clean); a primary "
        "test was fixed in the recipe before its seeds trained, the other verdicts pool every seed; AA is "
        "AutoAttack (APGD-CE + APGD-T where a primary test names it), C4 the cost per step with its interval."
    )
    return "\n".join([_decided(loaded), "", *lines, "", note])


def _scale_title(folder: Folder) -> str:
    """'`full`: PreActResNet-18, 100 epochs' from the plan's first model."""
    return f"`{folder.plan['scale']}`: {_network(folder)}"


def _network(folder: Folder) -> str:
    """'PreActResNet-18 at 1/8 width, 8 epochs' from the plan's first model."""
    config = folder.plan["models"][0]["config"]
    share = config.get("width", 1.0)
    width = "" if share == 1.0 else f" at {f'1/{round(1 / share)}' if (1 / share).is_integer() else f'{share:g}'} width"
    return f"PreActResNet-18{width}, {config['epochs']} epochs"


def _cell(folder: Folder, claim: str) -> str:
    primary = [r for r in confirmatory.primary_results(folder.records, folder.plan) if r.claim == claim]
    mine = [r for r in primary if HEADLINE_SAM in r.configuration] or primary
    if mine:
        result = mine[0]
        if not result.comparisons or result.verdict is None:
            have = result.have
            waiting = f"waiting: primary test fixed, {have} confirmatory seed{'s' if have != 1 else ''} so far"
            return waiting + _exploratory(folder, claim)
        seeds = result.comparisons[0].seeds
        return f"**{result.verdict}** · {_effects(result.comparisons)} · primary, {seeds} fresh seeds"
    verdict = _pooled(folder, claim)
    if verdict is None:
        return "–"
    if claim == "C4":
        return f"**{verdict['verdict']}** · {_cost(folder, verdict)}"
    comparisons = [c for c in verdict["comparisons"] if c.difference is not None]
    if not comparisons:
        return f"{verdict['verdict']}: {verdict['reason']}"
    seeds = min(c.seeds for c in comparisons)
    said = f"{seeds} seeds" if seeds > 1 else "one seed: two models, not yet two methods"
    # C2's four budgets: the cell shows one (the primary tests' budget); C1 and C3 show all of theirs
    shown = [c for c in comparisons if c.measure == "PGD Linf 2/255"] if claim == "C2" else comparisons
    return f"**{verdict['verdict']}** · {_effects(shown or comparisons[:1])} · {said}"


def _exploratory(folder: Folder, claim: str) -> str:
    """What the seeds outside the confirmatory sample show meanwhile (C1-C3), or nothing."""
    verdict = _pooled(folder, claim)
    comparisons = [c for c in (verdict or {}).get("comparisons", []) if c.difference is not None]
    if claim == "C2":
        comparisons = [c for c in comparisons if c.measure == "PGD Linf 2/255"] or comparisons[:1]
    if claim == "C4" or not comparisons:
        return ""
    seeds = min(c.seeds for c in comparisons)
    return f"; exploratory, {seeds} seed{'s' if seeds != 1 else ''}: {_effects(comparisons)}"


def _pooled(folder: Folder, claim: str) -> dict | None:
    """The pooled verdict the cell speaks for: the headline SAM's (C3: against the AT model with the most seeds)."""
    judged = [v for subset in folder.verdicts.values() for v in subset if v["claim"] == claim]
    mine = [
        v for v in judged if v["configuration"] == HEADLINE_SAM or v["configuration"].endswith(f"vs {HEADLINE_SAM}")
    ]
    if not mine:
        return None
    return max(mine, key=lambda v: min((c.seeds for c in v["comparisons"]), default=0))


def _effects(comparisons) -> str:
    """'-1.36 [-1.67, -1.06]' (clean, alone) or 'PGD Linf 8/255 +45.1 [...]; clean +12.0 [...]' (points)."""
    parts = []
    for c in comparisons:
        text = f"{100 * c.difference:+.2f} [{100 * c.low:+.2f}, {100 * c.high:+.2f}]"
        measure = _short(c.measure)
        parts.append(text if len(comparisons) == 1 and measure == "clean" else f"{measure} {text}")
    return "; ".join(parts)


def _short(measure: str) -> str:
    """A comparison's measure as a cell names it: 'clean', 'PGD Linf 2/255', 'AA Linf 2/255' (a primary test's
    label names its images too: the column's scale says how many)."""
    measure = measure.split(" on the first ")[0]
    if measure.startswith("AutoAttack"):
        return "AA " + measure.split(") ", 1)[1] if ") " in measure else measure
    return measure


def _cost(folder: Folder, verdict: dict) -> str:
    group = models(folder.records).get(verdict["configuration"])
    measured = cost_of(folder.cost, group) if group else None
    if not measured:
        return "no cost measurement (`sam-bench cost`) yet"
    if measured["ratio"].get("low") is None:
        return verdict["reason"]
    ratio = measured["ratio"]
    return f"{ratio['median']:.2f}x ST per step [{ratio['low']:.2f}, {ratio['high']:.2f}]"


def _decided(loaded: list[Folder]) -> str:
    """In words: what primary tests decided (per scale, the effect of each), and which scales still wait."""
    decided, waiting = [], []
    for folder in loaded:
        results = confirmatory.primary_results(folder.records, folder.plan)
        judged = [r for r in results if r.verdict is not None]
        scale = f"scale {folder.plan['scale']} ({_network(folder)}"
        if judged:
            seeds = min(c.seeds for r in judged for c in r.comparisons)
            decided.append(f"at {scale}, {seeds} fresh seeds), " + "; ".join(_in_words(r) for r in judged))
        if any(r.verdict is None for r in results):
            wanted = Endpoints.from_plan(folder.plan).confirmatory_seeds
            have = {(r.name, r.seed) for r in folder.records}
            done = sum((name, seed) in have for name, seeds in wanted.items() for seed in seeds)
            total = sum(len(seeds) for seeds in wanted.values())
            waiting.append(f"at {scale}), the primary tests are fixed and {done} of their {total} runs are done")
    text = "**Decided** by primary tests fixed before their seeds trained: " + ("; ".join(decided) or "nothing yet")
    return text + "." + (" **Not yet decided**: " + "; ".join(waiting) + "." if waiting else "")


def _in_words(result) -> str:
    """A primary result as a sentence: 'SAM-0.1 is 1.36 points [1.06, 1.67] below ST on clean images (C1 fails)'."""
    parts = []
    for c in result.comparisons:
        d, low, high = 100 * c.difference, 100 * c.low, 100 * c.high
        interval = (
            f"[{min(abs(low), abs(high)):.2f}, {max(abs(low), abs(high)):.2f}]"
            if low * high > 0
            else (f"[{low:+.2f}, {high:+.2f}]")
        )
        measure = _short(c.measure)
        where = "on clean images" if measure == "clean" else f"under {measure.replace('AA', 'AutoAttack')}"
        parts.append(f"{c.first} is {abs(d):.2f} points {interval} {'above' if d >= 0 else 'below'} {c.second} {where}")
    return " and ".join(parts) + f" ({result.claim} {result.verdict})"


def holds_markers(readme: str | Path) -> bool:
    return START in files.read_text(readme) and END in files.read_text(readme)


def update_readme(readme: str | Path, reproductions: str | Path) -> Path | None:
    """Replace the findings between their markers in `readme` with those of the reproductions in `reproductions`
    (None where `readme` has no such markers)."""
    readme = Path(readme)
    text = files.read_text(readme)
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        return None
    folders = folders_of(reproductions)
    rendered = table(folders)
    files.write_text(readme, pattern.sub(lambda _: f"{START}\n{rendered}\n{END}", text))
    findings_figure.draw(folders, Path(reproductions) / findings_figure.NAME)
    return readme


def in_readme(readme_text: str) -> str | None:
    """The findings block's text in a README, or None."""
    match = re.search(re.escape(START) + r"\n(.*?)\n" + re.escape(END), readme_text, re.S)
    return match[1] if match else None
