"""REPORT.md and plots of a reproduction, computed from its results files only: the claims are judged in
`report.claims`; this module lays out the numbers, each accuracy with its 95% interval, the verdicts, C4's cost,
wall times and plots, and calls each section's module where it applies.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from sam_bench import files
from sam_bench.evaluation import attack_table, check_statement
from sam_bench.evaluation.results_record import Evaluation
from sam_bench.recipes.plan_entry import plan_entries
from sam_bench.report import (
    against_published,
    autoattack_tail,
    collapse,
    confirmatory,
    extension_tests,
    gpu_minutes,
    imported_models,
    mechanism,
    pareto,
    plots,
    rechecked,
    small_budgets_figure,
    spent,
)
from sam_bench.report.claims import CLAIMS, headline
from sam_bench.report.comparison import percent, table_head, with_interval
from sam_bench.report.folder import Folder, LeftOut, not_shown, pilot_candidates
from sam_bench.report.records import (
    aa_budgets,
    aa_label,
    accuracy_over_seeds,
    by_architecture,
    cost_against_st,
    models,
    pgd_budgets,
    seconds_per_epoch,
)
from sam_bench.report.run_record import RunRecord
from sam_bench.stats import inference, mixed_model
from sam_bench.training import method_table


def _cell(group: list[RunRecord], *measure, **select) -> str:
    """One table cell: an accuracy with its 95% interval (Wilson's, or over seeds and images with several seeds)."""
    if len(group) > 1:
        result = accuracy_over_seeds(group, *measure, **select)
        if result is None:
            return "–"
        low, high = mixed_model.accuracy_interval(result)
        return f"{percent(result.estimate)} ({100 * low:.1f}–{100 * high:.1f})"
    return _with_interval(group[0], *measure, **select)


def _with_interval(record: RunRecord, *measure, **select) -> str:
    ev = record.evaluation(*measure, **select)
    if ev is None:
        return "–"
    n = ev.n_examples
    if not n:
        return percent(ev.robust_acc)
    low, high = inference.wilson(round(ev.robust_acc * n), n)
    return f"{percent(ev.robust_acc)} ({100 * low:.1f}–{100 * high:.1f})"


def _setup_lines(records: list[RunRecord]) -> list[str]:
    first = records[0]
    cfg, data = first.config, first.results.dataset
    devices = sorted({r.training.device_name or "?" for r in records})
    eval_devices = sorted({r.results.environment["device_name"] for r in records})
    commits = sorted({str(r.results.environment.get("code_commit")) for r in records})
    torch_versions = sorted({r.results.environment["torch_version"] for r in records})
    aa = sorted(
        {
            _aa_text(ev, r.results.dataset.n_examples)
            for r in records
            for ev in r.results.evaluations
            if attack_table.is_headline(ev.attack)
        }
    )
    seeds = sorted({r.seed for r in records})
    architectures = list(by_architecture(records))
    trained = (
        f"{cfg.arch} (width {cfg.width:g})"
        if len(architectures) == 1
        else f"{len(architectures)} architectures ({'; '.join(architectures)})"
    )
    return [
        f"- Training: {trained}, {cfg.epochs} epochs, batch {cfg.batch_size}, "
        f"SGD lr {cfg.lr:g} ({cfg.schedule}), momentum {cfg.momentum:g}, weight decay "
        f"{cfg.weight_decay:g}, data set `{cfg.dataset}`"
        + (f" ({cfg.n_train} training images)" if cfg.n_train else "")
        + f"; training seed{'s' if len(seeds) > 1 else ''} {', '.join(map(str, seeds))}.",
        f"- Evaluation: the first {data.n_examples} of {data.n_test_total} test images of "
        f"`{data.name}`; PGD-10 with random start"
        + (f"; AutoAttack ({'; '.join(aa)}) through pyautoattack" if aa else "")
        + ".",
        f"- Trained on: {', '.join(devices)}. Evaluated on: {', '.join(eval_devices)}. "
        f"torch {', '.join(torch_versions)}; sam-bench commit {', '.join(commits)}.",
    ]


def _aa_text(ev: Evaluation, n_evaluated: int | None = None) -> str:
    """AutoAttack's version (and, when it attacked fewer images than the rest of the evaluation, how many)."""
    version = ev.settings.get("version", "standard")
    text = version if version == "standard" else f"{version}: {', '.join(ev.settings.get('attacks') or [])}"
    if n_evaluated is not None and ev.n_examples not in (None, n_evaluated):
        text += f", on the first {ev.n_examples} of them"
    return text


def write_report(
    out: str | Path, folder: Folder | None = None, measured_again: bool = False, unmeasured: list[str] | None = None
) -> Path:
    """(Re)write REPORT.md and its plots (`folder`: already loaded, as `report --readme` hands it to the summary too).
    `measured_again`, `unmeasured`: `report --verify` agreed, and the evaluations its time limit left out."""
    out = Path(out)
    folder = folder or Folder.load(out)
    plan, records, cost = folder.plan, folder.records, folder.cost
    report = out / "REPORT.md"
    lines = _header_lines(out, plan, records, folder.left_out)
    if not records:
        files.write_text(report, "\n".join(lines) + "\n")
        return report
    lines += [_measured_again_line(len(records), measured_again, unmeasured or []), ""]
    checked = check_statement.of_files(r.path for r in records if r.path is not None)
    if checked is not None:  # results recorded before per-image draws: checked by the rules that fit them
        lines += [
            f"Recorded before per-image draws ({checked[0]} of the {len(records)} results files shown): a spot "
            f"check of them, by the rules that fit them, refuses in >= 99% of checks "
            f"{checked[1].removeprefix('checked for ')} (`sam_bench/evaluation/check_statement.py`).",
            "",
        ]
    lines += ["## Setup", "", *_setup_lines(records), ""]
    lines += _accuracy_lines(records)
    if confirmatory.applies(plan):  # the primary tests fixed before the runs, over the confirmatory seeds
        lines += confirmatory.section(out, records, plan)
    if extension_tests.applies(plan):  # questions beyond the claims, fixed before their data
        lines += extension_tests.section(out, plan)
    lines += autoattack_tail.section(records)  # what standard AutoAttack's FAB-T and Square add to APGD-CE + APGD-T
    lines += against_published.section(out, records)  # full-scale models beside RobustBench's published ones
    lines += imported_models.section(folder)  # the recipe's zoo models trained elsewhere, if any
    lines += _guard_lines(records)
    lines += _verdict_lines(folder.verdicts)
    if pareto.applies(records):  # single-step AT beside SAM: accuracy against cost
        lines += pareto.section(out, records, cost)
    lines += _cost_lines(cost, records)
    lines += _wall_time_lines(records)
    lines += _compute_lines(folder)
    lines += rechecked.section(out, records)
    lines += mechanism.section(out, records)  # what `sam-bench analyze` measured inside the models, if it ran
    drawn = plots.draw(out, records, cost)
    if small_budgets_figure.draw(folder, out / small_budgets_figure.NAME) is not None:
        drawn.insert(0, small_budgets_figure.NAME)
    lines += _plot_lines(drawn, cost)
    lines += _sources_lines(out, records, cost)
    files.write_text(report, "\n".join(lines) + "\n")
    return report


def _measured_again_line(files_shown: int, measured_again: bool, unmeasured: list[str]) -> str:
    """Whether the figures below were measured again from the weights, or only read (two evaluations whose labels
    were swapped each agree with their own per-image outcomes), and which a time limit left unmeasured."""
    if measured_again and unmeasured:
        return (
            f"Measured again, PARTIAL: a sample of the evaluations of the {files_shown} results files shown was "
            "measured again from the weights they name before this report was written (`sam-bench report --verify "
            f"--max-minutes`), and every one measured agreed; the time limit left {len(unmeasured)} unmeasured: "
            + ", ".join(f"`{u}`" for u in unmeasured)
            + "."
        )
    if measured_again:
        return (
            f"Measured again: a sample of every evaluation of the {files_shown} results files shown was measured "
            "again from the weights they name before this report was written (`sam-bench report --verify`), and "
            "every one agreed."
        )
    return (
        f"Not measured again: the figures of the {files_shown} results files shown are read from them, each checked "
        "against its own per-image outcomes only, not against the weights (a file relabelled consistently would "
        "show as it says); `sam-bench report --verify` measures a sample of every evaluation again first."
    )


def _header_lines(out: Path, plan: dict, records: list[RunRecord], left_out: list[LeftOut]) -> list[str]:
    lines = [
        f"# Reproduction: {plan['name']}, scale `{plan['scale']}`",
        "",
        f"Paper: {plan['paper']}.",
        "",
        f"Written by `sam-bench report {out}` from the results files in `results/` "
        f"({len(records) + len(left_out)} of {len(plan['models'])} runs done), "
        f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}. Accuracies in %.",
        "",
    ]
    done = {(r.name, r.seed) for r in records} | {(r.name, r.seed) for r in left_out}
    missing = [
        m.name + (f" (seed {m.seed})" if not m.primary else "")
        for m in plan_entries(plan)
        if (m.name, m.seed) not in done
    ]
    lines += [f"Not done yet: {', '.join(missing)}.", ""] if missing else []
    return lines + ([f"Not shown: {not_shown(out, left_out)}.", ""] if left_out else [])


def _accuracy_lines(records: list[RunRecord]) -> list[str]:
    """The accuracy table (a row per model), each run's row when there are seeds, and the degenerate models."""
    grouped = models(records)
    pgd, aa = pgd_budgets(records), aa_budgets(records)
    several = any(len(g) > 1 for g in grouped.values())
    later_aa = any(attack_table.is_headline(e.attack) for r in records if not r.primary for e in r.results.evaluations)
    header = ["model", "method", "seeds", "clean"] + [f"PGD {n} {e}" for n, e in pgd] + [aa_label(*b) for b in aa]
    lines = [
        "## Accuracy",
        "",
        "Each cell: accuracy (%) with its 95% interval: Wilson's over the test images drawn; for a model "
        "trained with several seeds, the mean over seeds with its interval over seeds and test images together "
        "(`sam_bench.stats.mixed_model.seeds_and_images`; within 0-100% and never narrower than Wilson's over the "
        "seeds' images pooled)"
        + (
            " (AutoAttack runs on the first seed only: it ranks the leaderboards, and the claims rest on "
            "clean and PGD accuracy)"
            if several and aa and not later_aa
            else " (an AutoAttack column: over the seeds it ran on)"
            if several and aa
            else ""
        )
        + ".",
        "",
        *table_head(*header),
    ]
    for name, group in grouped.items():
        flagged = any(r.degenerate for r in group)
        # a collapsed run counts in the collapse rate (the name cell), not in the accuracy (collapse.py)
        fell = collapse.collapsed(group)
        everyone, group = group, collapse.healthy(group)
        cells = [
            (f"{name} ⚠ degenerate" if flagged else name) + (f" ⚠ {collapse.describe(everyone)}" if fell else ""),
            method_table.label(group[0].method),  # as every page names it
            ", ".join(str(r.seed) for r in group),
            _cell(group, "clean"),
        ]
        cells += [_cell(group, "pgd", n, e) for n, e in pgd]
        cells += [
            _cell([r for r in group if r.evaluation("autoattack", n, e, **s)] or group, "autoattack", n, e, **s)
            for n, e, s in aa
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    if several:
        lines += [
            "### Per training seed",
            "",
            "Each run's accuracy with its 95% Wilson interval.",
            "",
            *table_head("model", "seed", "clean", *(f"PGD {n} {e}" for n, e in pgd)),
        ]
        for r in records:
            lines.append(
                f"| {r.name} | {r.seed} | {_with_interval(r, 'clean')} | "
                + " | ".join(_with_interval(r, "pgd", n, e) for n, e in pgd)
                + " |"
            )
        lines.append("")
    degenerate = [r for r in records if r.degenerate]
    if degenerate:
        lines += [
            "⚠ Degenerate models (no verdict rests on them): "
            + "; ".join(f"{r.name} (seed {r.seed}): {r.degenerate}" for r in degenerate)
            + ".",
            "",
        ]
    return lines


def _wall_time_lines(records: list[RunRecord]) -> list[str]:
    lines = [
        "## Training wall time",
        "",
        "From each run's `log.jsonl`: the median epoch after the first (the first carries start-up costs). Runs "
        "trained at different times under different loads on a shared machine: a record of what happened, no "
        "evidence for C4"
        + ("; each architecture against its own ST" if len(by_architecture(records)) > 1 else "")
        + ".",
        "",
        "| model | seed | passes per step | seconds per epoch | x ST (seed 0) | images/s | wall time (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r, ratio in zip(records, cost_against_st(records)):
        t, passes, ips = seconds_per_epoch(r), r.training.passes_per_step, r.training.images_per_s
        lines.append(
            f"| {r.name} | {r.seed} | {'–' if passes is None else passes} | "
            f"{'–' if t is None else f'{t:.1f}'} | {'–' if ratio is None else f'{ratio:.2f}'} | "
            f"{'–' if ips is None else f'{ips:.0f}'} | {r.training.wall_time_s or 0:.0f} |"
        )
    return lines + [""]


def _plot_lines(drawn: list[str], cost: dict | None) -> list[str]:
    titles = {
        small_budgets_figure.NAME: "Accuracy at the claims' small budgets: ST, SAM-0.1 and AT",
        "robust_vs_eps.png": "Robust accuracy against eps",
        "tradeoff.png": "Clean vs robust accuracy",
        "cost.png": "Training cost" if cost else "Training wall time (training logs)",
        "sam_gain.png": "SAM's gain over ST across architectures",
    }
    return ["## Plots", ""] + [f"### {titles[p]}\n\n![{titles[p]}]({p})\n" for p in drawn] if drawn else []


def _sources_lines(out: Path, records: list[RunRecord], cost: dict | None) -> list[str]:
    return (
        ["## Sources", ""]
        + (["- `cost.json` (the cost measurement, written by `sam-bench cost`)"] if cost else [])
        + [
            f"- `{r.results_file(out)}` ({r.name}, seed {r.seed}, weights sha256 "
            f"`{str(r.results.model.weights_sha256)[:12]}…`)"
            for r in records
        ]
    )


def _compute_lines(folder: Folder) -> list[str]:
    """What the reproduction spent (`report/spent.py`), and its pilot's other candidates (`pilot.json`)."""
    lines = ["## Compute", "", f"This folder's runs: {spent.describe(spent.of_records(folder.records))}."]
    if on_gpu := gpu_minutes.lines(folder.records):
        lines += ["", *on_gpu]
    for c in pilot_candidates(folder.path):
        lines.append(f"The pilot's candidate `{c['scale']}`: {spent.describe(c['compute'])}.")
    sentence = folder.budget_sentence("Together with the pilot", "Together")
    return lines + ([sentence + "."] if sentence else []) + [""]


def _guard_lines(records: list[RunRecord]) -> list[str]:
    """The catastrophic-overfitting guard's findings, and which runs were reused from other folders."""
    guarded = [r for r in records if r.training.overfit_guard]
    lines = []
    if guarded:
        guard = guarded[0].training.overfit_guard or {}
        collapsed = [r for r in guarded if collapse.collapse_epoch(r)]
        lines += [
            "### Catastrophic overfitting",
            "",
            f"{len(guarded)} runs trained with the overfitting guard (`sam_bench/training/guard.py`: "
            f"{guard['attack']} at the training eps on {guard['source']} "
            f"after every epoch). A run is flagged collapsed when its {guard['rule']}. "
            + (
                "Collapsed: "
                + "; ".join(
                    f"{r.name} (seed {r.seed}) from epoch {collapse.collapse_epoch(r)}, PGD accuracy "
                    f"{percent(found['collapsed_pgd_acc'])} at the end after a best of {percent(found['best_pgd_acc'])}"
                    for r in collapsed
                    for found in [r.training.overfit_guard or {}]
                )
                + ". Collapse is an endpoint of its own: per model, the collapse rate with its exact (Clopper-Pearson) "
                "95% interval, and the model's accuracies over the runs that did not collapse: "
                + "; ".join(
                    f"{name} {k} of {n} ({100 * low:.0f}-{100 * high:.0f}%)"
                    for name, group in models(guarded).items()
                    for k, n, low, high in [collapse.rate(group)]
                )
                + "."
                if collapsed
                else "None collapsed."
            ),
            "",
        ]
    reused = [r.training.reused_from for r in records if r.training.reused_from]
    if reused:
        lines += [
            f"{len(reused)} runs were not trained here but reused (the same settings key, so the same training) "
            "from: " + ", ".join(sorted({Path(source).parent.parent.name for source in reused})) + ".",
            "",
        ]
    return lines


def _verdict_lines(judged: dict[str, list[dict]]) -> list[str]:
    """The headline, how the claims are tested, and one table per claim with a row per configuration."""
    several = len(judged) > 1
    lines = ["## Verdicts", ""]
    for arch, found in judged.items():
        lines += ([f"**{arch}**", ""] if several else []) + [f"- {line}" for line in headline(found)] + [""]
    lines += [
        "How each claim is tested (`sam_bench/report/claims.py`, `sam_bench/stats/mixed_model.py`): one verdict per "
        "claim and configuration, on that configuration's comparisons only. A comparison of two models with two or "
        "more training seeds in common is a test of the training methods over seeds and test images together "
        "(seed s against seed s on the same images; crossed random effects of seed and image, REML, Satterthwaite's "
        "degrees of freedom, counted conservatively with 2-3 seeds), one-sided in the direction "
        "the claim states, at p < 0.05. With one seed in common it only compares the two trained models and "
        "gives no verdict on the method. A configuration `holds` when every one of its comparisons is "
        "significant in the claimed direction (an intersection-union test: no multiplicity correction is "
        "needed), `fails` when one is significant the other way (Holm's adjustment over its comparisons), and "
        "is `inconclusive` otherwise, with the smallest true difference that these seeds and images would have "
        "detected with 80% power. Differences are in points with their 95% interval. C4 rests on the cost "
        "measurement below, not on training logs.",
        "",
    ]
    for arch, found in judged.items():
        if several:
            lines += [f"### {arch}", ""]
        for claim in CLAIMS:
            mine = [v for v in found if v["claim"] == claim]
            lines += [
                f"**{claim}**: {mine[0]['text']}.",
                "",
                *table_head("configuration", "verdict", "why", "comparisons"),
            ]
            for v in mine:
                evidence = "<br>".join(v["evidence"]) or "–"
                lines.append(f"| {v['configuration']} | **{v['verdict']}** | {v['reason']} | {evidence} |")
            lines.append("")
    return lines


def _cost_lines(cost: dict | None, records: list[RunRecord]) -> list[str]:
    """The measurement C4 rests on: each model's seconds per training step and its ratio to ST's."""
    lines = ["## Training cost (C4)", ""]
    if not cost:
        return lines + [
            "No cost measurement in this folder: `sam-bench cost <folder>` times every model's training "
            "step interleaved in one process and writes `cost.json`; until then C4 is inconclusive.",
            "",
        ]
    settings, env = cost["settings"], cost["environment"]
    keys = {r.name: r.key for r in records if r.primary}
    lines += [
        f"Measured by `sam-bench cost` ({cost['created']}, {env['device_name']}, torch {env['torch_version']}, "
        f"sam-bench commit {env.get('code_commit') or 'unknown'}): each model of the grid built as its training "
        f"builds it, {settings['steps']} training step{'s' if settings['steps'] != 1 else ''} per model per round on "
        "synthetic images, "
        f"{settings['rounds']} rounds after {settings['warmup']} warm-up step{'s' if settings['warmup'] != 1 else ''}, "
        "the models in a rotating order within each round so that a change of machine load falls on all of them. "
        "Median seconds per step with its distribution-free 95% interval (order statistics); the ratio to ST's "
        "step is taken round by round, then its median and interval.",
        "",
        *table_head("model", "passes per step", "seconds per step", "x ST", "expected"),
    ]
    for m in cost["models"]:
        if m["name"] not in keys:
            stale = " (no results of this model yet)"
        else:
            stale = "" if keys[m["name"]] == m.get("key") else " (other settings than this grid's: not used)"
        step, ratio = m["step_seconds"], m.get("ratio")
        lines.append(
            f"| {m['name']}{stale} | {m['passes_per_step']} | {with_interval(step, '.3f', 'median')} | "
            + (
                f"{with_interval(ratio, '.2f', 'median')} | {m['passes_per_step'] / m['baseline_passes_per_step']:g}x |"
                if ratio
                else "1 | – |"
            )
        )
    return lines + [""]
