"""The README's answer, first: each claim in a plain sentence and what every scale of the paper's grid found for it,
rendered from the reproductions' results (never typed) between `START` and `END` by `sam-bench report <folder>
--readme README.md`: what the primary tests decided, a table of claims by scales (a cell's measures picked by
`claim_effects`), each scale's scope, the effects whose sign differs, the extension tests; and the front figure.
"""

from __future__ import annotations

from pathlib import Path

from sam_bench import files
from sam_bench.bench import marked_block
from sam_bench.errors import BadInput
from sam_bench.evaluation import check_statement
from sam_bench.recipes.plan_entry import plan_entries
from sam_bench.report import claim_effects, code_provenance, confirmatory, effect_plot, extension_tests, masking_check
from sam_bench.report.claims import C1_MARGIN, cost_of
from sam_bench.report.comparison import points_interval, table_head
from sam_bench.report.folder import Folder
from sam_bench.report.records import models

START, END = "<!-- sam-bench findings start -->", "<!-- sam-bench findings end -->"
RECIPE = "paper-cifar10"

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
    """The paper's grid on CIFAR-10 in `reproductions` (`paper-cifar10-<scale>`), the largest scale first."""
    found = []
    for scale in SCALES:
        folder = Path(reproductions) / f"{RECIPE}-{scale}"
        if (folder / "plan.json").is_file() and files.read_json(folder / "plan.json").get("dataset") == "cifar10":
            found.append(folder)
    return found


def table(loaded: list[Folder]) -> str:
    """The findings block (module docstring) of `folders_of`'s folders, loaded."""
    if not loaded:
        raise BadInput("no paper-cifar10 reproduction on CIFAR-10 to render findings from")
    lines = table_head("claim", *(f"`{f.plan['scale']}`: {_network(f)}" for f in loaded))
    for claim, sentence in PLAIN.items():
        lines.append(f"| **{claim}**: {sentence} | " + " | ".join(_cell(f, claim) for f in loaded) + " |")
    return "\n".join(
        [_decided(loaded), "", *lines, "", NOTE, "", *_scope(loaded), *_sign_changes(loaded), *_extensions(loaded)]
    )


# How to read a cell, and the rule that picks its measures (claim_effects), in short sentences
NOTE = " ".join(
    [
        f"Each cell gives the verdict for {claim_effects.HEADLINE_SAM}, the paper's rho.",
        "Each line under it is one measure: the two models' accuracies, each the mean over their seeds on the "
        "same test images.",
        "Then the effect in accuracy points, with its 95% interval over seeds and images.",
        "The effect is SAM − ST; for C3 it is AT − SAM robust and SAM − AT clean.",
        "Beside C2's, the AT model's accuracy on the same measure. C4: the cost per step with its interval.",
        "Which measures a cell shows follows four rules "
        "([docs/reproducing.md](docs/reproducing.md#which-figures-a-cell-shows)).",
        "1. A primary test fixed before its seeds trained, once decided, shows its measure over its fresh seeds, "
        "and its verdict.",
        "2. Otherwise the cell shows every budget of the claim over every seed, with the verdict that pools them "
        "(PGD-10, the claim's test).",
        "3. At each budget it shows AutoAttack (AA) where every seed of both models has it, else PGD-10.",
        "4. Under an AA effect, PGD-10 minus AA on the same seeds and images gives each model's gap: the check "
        "for gradient masking.",
        "⚠ marks a model whose gap is significantly larger than the other's: its PGD-10 gain would be overstated.",
    ]
)


def _network(folder: Folder) -> str:
    """'PreActResNet-18 at 1/8 width, 8 epochs' from the plan's first model."""
    share, epochs = _size(folder)
    width = "" if share == 1.0 else f" at {f'1/{round(1 / share)}' if (1 / share).is_integer() else f'{share:g}'} width"
    return f"PreActResNet-18{width}, {epochs} epochs"


def _size(folder: Folder) -> tuple[float, int]:
    config = plan_entries(folder.plan)[0].config
    return float(config.get("width", 1.0)), int(config["epochs"])


def _scope(loaded: list[Folder]) -> list[str]:
    """One sentence per scale; a scale smaller than the largest is said to be one whose verdicts may not transfer."""
    largest = max(loaded, key=_size)
    lines = ["Scope of each scale:", ""]
    for folder in loaded:
        grouped = models(folder.records)
        seeds = ", ".join(f"{name} {len(group)}" for name, group in grouped.items())
        wanted = code_provenance.seeds(folder.records, folder.plan).get(claim_effects.HEADLINE_SAM, [])
        done = len(set(wanted) & {r.seed for r in grouped.get(claim_effects.HEADLINE_SAM, [])})
        fresh = (
            f"; its primary tests are judged over {len(wanted)} seeds of each fixed before they trained"
            + ("" if done == len(wanted) else f" ({done} of them with results so far)")
            if wanted
            else "; no primary tests: its verdicts pool every seed"
        )
        sentence = f"- `{folder.plan['scale']}`: {_network(folder)}; seeds with results: {seeds or 'none yet'}{fresh}"
        checked = check_statement.of_files(r.path for r in folder.records if r.path is not None)
        if checked is not None:  # results recorded before per-image draws: checked by the rules that fit them
            sentence += f"; its results were recorded before per-image draws, {checked[1]}"
        if _size(folder) < _size(largest):
            sentence += (
                f"; smaller than `{largest.plan['scale']}` ({_network(largest)}), so its verdicts may not transfer "
                "to the larger model"
            )
        lines.append(sentence + ".")
    return [*lines, ""]


def _sign_changes(loaded: list[Folder]) -> list[str]:
    """A line per measure whose effect's 95% interval lies above zero at one scale and below it at another."""
    lines = []
    for claim in ("C1", "C2", "C3"):
        by_measure: dict[tuple, dict[str, list[claim_effects.Effect]]] = {}
        for folder in loaded:
            for effect in claim_effects.shown(folder, claim).effects:
                by_measure.setdefault(effect.measure, {}).setdefault(folder.plan["scale"], []).append(effect)
        for found in by_measure.values():
            split = claim_effects.signs_differ(found)
            if split is None:
                continue
            c = next(iter(found.values()))[0].comparison
            above, below = (", ".join(f"`{s}` ({_seeds(found[s])})" for s in scales) for scales in split)
            lines.append(
                f"- **{claim}** ({c.first} − {c.second}, {claim_effects.short_label(c.measure)}): above zero at "
                f"{above}; below zero at {below}."
            )
    if not lines:
        return []
    return ["Where an effect's sign differs between scales (each 95% interval excluding zero):", "", *lines]


def _seeds(effects: list[claim_effects.Effect]) -> str:
    n = min(e.comparison.seeds for e in effects)
    return f"{n} seed{'s' if n != 1 else ''}"


def _cell(folder: Folder, claim: str) -> str:
    if claim == "C4":
        verdict = claim_effects.pooled_verdict(folder, claim)
        return "–" if verdict is None else f"**{verdict['verdict']}** · {_cost(folder, verdict)}"
    shown = claim_effects.shown(folder, claim)
    effects = "<br>".join(_effect(e) for e in shown.effects)
    if shown.primary:
        seeds = min(e.comparison.seeds for e in shown.effects)
        return f"**{shown.verdict}** · primary, {seeds} fresh seeds<br>{effects}"
    if shown.waiting is not None:
        have = shown.waiting.have
        waiting = f"waiting: primary test fixed, {have} confirmatory seed{'s' if have != 1 else ''} so far"
        if not shown.effects:
            return waiting
        return f"{waiting}; exploratory, {_said(shown)}:<br>{effects}"
    if shown.verdict is None:
        return "–"
    return f"**{shown.verdict}** · {_said(shown)}<br>{effects}"


def _said(shown: claim_effects.Shown) -> str:
    seeds = min(e.comparison.seeds for e in shown.effects)
    return f"{seeds} seeds" if seeds > 1 else "one seed: two models, not yet two methods"


def _effect(effect: claim_effects.Effect) -> str:
    """'AA Linf 2/255 (APGD-CE + APGD-T): ST 1.83% → SAM-0.1 4.15%, +2.31 [+1.36, +3.27]; AT-Linf-8 51.00%'."""
    c = effect.comparison
    text = f"{claim_effects.short_label(c.measure)}: {c.levels()}, {c.points()}"
    if effect.beside is not None:
        text += f"; {effect.beside[0]} {100 * effect.beside[1]:.2f}%"
    if effect.check is not None:
        text += "<br>" + _check(effect.check)
    return text


def _check(check: masking_check.Check) -> str:
    """'⚠ PGD-10 − AA: ST +2.73, SAM-0.1 +3.95; SAM-0.1's gap larger by +1.21 [+0.63, +1.80] (gradient masking
    suspected)', or the same without the mark and 'not significantly'."""
    difference = points_interval(check.difference.estimate, *check.difference.interval())
    gaps = f"{check.second} {100 * check.second_gap.estimate:+.2f}, {check.first} {100 * check.first_gap.estimate:+.2f}"
    if check.flagged:
        return f"⚠ PGD-10 − AA: {gaps}; {check.first}'s gap larger by {difference} (gradient masking suspected)"
    return f"PGD-10 − AA: {gaps}; {check.first}'s gap − {check.second}'s {difference} (not significantly larger)"


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
    """In words: what primary tests decided at each scale, and which scales still wait."""
    decided, waiting = [], []
    for folder in loaded:
        results = confirmatory.primary_results(folder.records, folder.plan)
        judged = [r for r in results if r.verdict is not None]
        scale = f"scale {folder.plan['scale']} ({_network(folder)}"
        if judged:
            seeds = min(c.seeds for r in judged for c in r.comparisons)
            words = [_in_words(r, claim_effects.primary_effects(folder, r)) for r in judged]
            decided.append(f"at {scale}, {seeds} fresh seeds), " + "; ".join(words))
        if any(r.verdict is None for r in results):
            wanted = code_provenance.seeds(folder.records, folder.plan)
            have = {(r.name, r.seed) for r in folder.records}
            done = sum((name, seed) in have for name, seeds in wanted.items() for seed in seeds)
            total = sum(len(seeds) for seeds in wanted.values())
            waiting.append(f"at {scale}), the primary tests are fixed and {done} of their {total} runs are done")
    text = "**Decided** by primary tests fixed before their seeds trained: " + ("; ".join(decided) or "nothing yet")
    return text + "." + (" **Not yet decided**: " + "; ".join(waiting) + "." if waiting else "")


def _extensions(loaded: list[Folder]) -> list[str]:
    """Each scale's extension tests: the decided ones in words, the rest with how many of their runs are measured."""
    said = []
    for folder in loaded:
        for one in extension_tests.judged(folder.path, folder.plan):
            first, second = one.test.models
            at = f"**{one.name}** at scale {folder.plan['scale']}"
            c = one.comparison
            if one.verdict is None or c is None or c.difference is None:
                state = "not measured yet" if one.verdict is None else "inconclusive (an arm has no usable measurement)"
                levels = one.exploratory_levels() if one.verdict is None else None
                said.append(
                    f"- {at}: {first} − {second}, {one.test.label()}: {state}, {one.measured} of {one.needed} runs"
                    + (f"; {levels} (not judged)." if levels else ".")
                )
                continue
            beside = "".join(f", {m} {100 * level:.2f}%" for m, level, _ in one.beside())
            said.append(
                f"- {at} ({c.seeds} fresh seeds, measured on {extension_tests.set_used(one)}): {first} − {second} in "
                f"{one.test.measure()} on the first {one.test.images:,} test images, "
                f"{c.points(' points')}; {c.levels()}{beside} ({one.name} {one.verdict})."
            )
    if not said:
        return []
    return [
        "",
        "Beyond the paper: extension tests, fixed in the recipe before their data and judged like the primary tests; "
        "questions of this project, not claims of the paper:",
        "",
        *said,
    ]


def _in_words(result, effects: list[claim_effects.Effect]) -> str:
    """A primary result as a sentence with the models' levels: 'SAM-0.1 is 1.36 points [1.06, 1.67] below ST on
    clean images (C1 fails: ST 81.86% → SAM-0.1 80.49%)'."""
    parts = []
    for e in effects:
        c = e.comparison
        d, low, high = (100 * x for x in c.interval())
        interval = (
            f"[{min(abs(low), abs(high)):.2f}, {max(abs(low), abs(high)):.2f}]"
            if low * high > 0
            else (f"[{low:+.2f}, {high:+.2f}]")
        )
        measure = claim_effects.short_label(c.measure)
        where = "on clean images" if measure == "clean" else f"under {measure.replace('AA', 'AutoAttack', 1)}"
        level = c.levels() + (f", {e.beside[0]} {100 * e.beside[1]:.2f}%" if e.beside else "")
        parts.append(
            f"{c.first} is {abs(d):.2f} points {interval} {'above' if d >= 0 else 'below'} {c.second} {where}, {level}"
        )
    warnings = [
        f"; ⚠ gradient masking suspected: {e.check.first}'s PGD-10 − AA gap exceeds {e.check.second}'s on the same "
        f"seeds and images, so PGD-10 would overstate its gain"
        for e in effects
        if e.check is not None and e.check.flagged
    ]
    return " and ".join(parts) + f" ({result.claim} {result.verdict}{''.join(warnings)})"


def holds_markers(readme: str | Path) -> bool:
    return START in files.read_text(readme) and END in files.read_text(readme)


def update_readme(readme: str | Path, reproductions: str | Path) -> Path | None:
    """Replace the findings between their markers in `readme` (None where it lacks either), and draw the figure."""
    readme = Path(readme)
    if not holds_markers(readme):
        return None
    loaded = [Folder.load(f) for f in folders_of(reproductions)]
    marked_block.replace(readme, START, END, table(loaded))
    effect_plot.draw(effect_plot.points(loaded), Path(reproductions) / effect_plot.NAME)
    return readme
