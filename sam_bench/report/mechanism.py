"""The "Mechanism" section of a reproduction report: what `sam-bench analyze` measured inside each model (records
in `<folder>/analysis/`), and the paper's explanation tested on it, two trained models at a time (docs/analysis.md
lists the predictions and tests; mechanism_seeds tests the methods over seeds).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import permutations
from pathlib import Path

import numpy as np

from sam_bench import files
from sam_bench.evaluation import attack_table, outcomes
from sam_bench.report import mechanism_plots, mechanism_seeds
from sam_bench.report.comparison import p_text, table_head, with_interval
from sam_bench.report.mechanism_plots import FOURIER_PLOT, SHARPNESS_PLOT
from sam_bench.report.mechanism_seeds import high_pass_entry, opposite, verdict
from sam_bench.report.records import accuracy, architecture, by_architecture
from sam_bench.report.run_record import RunRecord
from sam_bench.rundir.model import has_weights
from sam_bench.stats import inference
from sam_bench.training import method_table as table

ANALYSIS = "analysis"
SCHEMA = "sam-bench/analysis/v1"


def load_analyses(out: Path) -> dict[str, dict]:
    """The analysis records of a reproduction folder, by the weights' sha256."""
    found: dict[str, dict] = {}
    folder = Path(out) / ANALYSIS
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if path.name.endswith(".partial.json"):
            continue
        data = files.read_json(path)
        if isinstance(data, dict) and data.get("schema") == SCHEMA:
            found[data["model"]["weights_sha256"]] = {**data, "_path": path}
    return found


def robust_target(records: list[RunRecord]) -> tuple[str, str, str] | None:
    """The robust accuracy the plot uses: PGD Linf 2/255 (the paper's budget) where evaluated, else AutoAttack's."""
    if any(r.evaluation("pgd", "Linf", "2/255") for r in records):
        return ("pgd", "Linf", "2/255")
    for r in records:
        for ev in r.results.evaluations:
            if attack_table.is_headline(ev.attack) and ev.norm is not None and ev.eps is not None:
                return (ev.attack, ev.norm, ev.eps)
    return None


def _paired_t(first: np.ndarray, second: np.ndarray, predicted: inference.Alternative) -> dict:
    """first - second, paired: mean difference, 95% t interval, one-sided p each way ("less": first below second)."""
    from scipy.stats import t, ttest_rel

    d = (first - second).tolist()
    p = float(ttest_rel(first.tolist(), second.tolist(), alternative=predicted).pvalue)
    q = float(ttest_rel(first.tolist(), second.tolist(), alternative=opposite(predicted)).pvalue)
    mean = float(np.mean(d))
    half = float(t.ppf(1 - inference.ALPHA / 2, len(d) - 1)) * float(np.std(d, ddof=1)) / np.sqrt(len(d))
    return {"difference": mean, "low": mean - half, "high": mean + half, "p": p, "verdict": verdict(p, q)}


def _mcnemar(paired: inference.PairedTable, predicted: inference.Alternative) -> dict:
    p, q = inference.mcnemar_exact(paired, predicted), inference.mcnemar_exact(paired, opposite(predicted))
    low, high = inference.paired_interval(paired)
    return {"difference": paired.difference, "low": low, "high": high, "p": p, "verdict": verdict(p, q)}


def _paired_robustness(
    first: RunRecord, second: RunRecord, target: tuple | None, predicted: inference.Alternative
) -> dict | None:
    """Two runs' robust accuracy at `target` on the same test images, from their results' per-image outcomes."""
    x, y = (r.evaluation(*target) for r in (first, second)) if target else (None, None)
    if not (x and y and x.outcomes and y.outcomes):
        return None
    return _mcnemar(inference.PairedTable.of(*outcomes.aligned(x.outcomes, y.outcomes)), predicted)


def middle_cutoff(analyses: list[dict]) -> float | None:
    """The high-pass cutoff the prediction is tested at: the middle one of the settings' cutoffs."""
    cutoffs = sorted({e["cutoff"] for a in analyses if "frequency" in a for e in a["frequency"]["high_pass"]})
    return cutoffs[len(cutoffs) // 2] if cutoffs else None


def predictions(pairs: list[tuple[RunRecord, dict]]) -> list[dict]:
    """Every tested prediction, per configuration and SAM model, from (run record, analysis) pairs."""
    tests: list[dict] = []
    target = robust_target([r for r, _ in pairs])
    robust = "" if target is None else f"{'PGD-10' if target[0] == 'pgd' else 'AutoAttack'} {target[1]} {target[2]}"
    cutoff = middle_cutoff([a for _, a in pairs])
    high_pass = "" if cutoff is None else f"accuracy on high-pass r > {cutoff:g}"
    for arch in by_architecture([r for r, _ in pairs]):
        first: dict[str, tuple[RunRecord, dict]] = {}
        for r, a in pairs:  # one model per training configuration: the first seed analysed
            if architecture(r) == arch:
                first.setdefault(r.name, (r, a))
        st = [ra for ra in first.values() if ra[0].method == table.STANDARD][:1]
        sams = [ra for ra in first.values() if table.is_sam_family(ra[0].method)]
        ats = [ra for ra in first.values() if ra[0].method == table.AT]
        awps = [ra for ra in first.values() if table.uses_awp(ra[0].method)]

        def add(prediction: str, one: tuple, other: tuple, unit: str, result: dict, arch: str = arch) -> None:
            comparison = f"{one[0].name} − {other[0].name}"
            tests.append(
                {"configuration": arch, "prediction": prediction, "comparison": comparison, "unit": unit, **result}
            )

        def sharpness(
            sam: tuple, other: tuple, measure: str, prediction: str, alternative: inference.Alternative
        ) -> None:
            values = [np.array([b[measure] for b in x["sharpness"]["batches"]]) for x in (sam[1], other[1])]
            add(prediction, sam, other, "", _paired_t(values[0], values[1], alternative))

        def frequency_and_gradients(sam: tuple, other: tuple, than: str, reliance: str, aligned: str) -> None:
            """SAM's high-frequency reliance (`reliance` than `than`) and its input gradients' alignment with the
            image (`aligned` than theirs): one direction against ST, the other against AT."""
            a, b = sam[1], other[1]
            hp_a, hp_b = high_pass_entry(a, cutoff), high_pass_entry(b, cutoff)
            if hp_a and hp_b:  # the same filtered images: exact McNemar, Newcombe's interval
                paired = inference.PairedTable.of(outcomes.decode(hp_a["outcomes"]), outcomes.decode(hp_b["outcomes"]))
                result = _mcnemar(paired, "less" if reliance == "less" else "greater")
                add(f"{reliance} high-frequency reliance than {than} ({high_pass})", sam, other, "points", result)
            if "gradients" in a and "gradients" in b:
                result = _paired_t(_alignment(a), _alignment(b), "less" if aligned == "less" else "greater")
                add(f"input gradients {aligned} aligned with the image than {than}'s", sam, other, "", result)

        for sam in sams:
            for other in st:
                if "sharpness" in sam[1] and "sharpness" in other[1] and _same_batches(sam[1], other[1]):
                    sharpness(sam, other, "top_eigenvalue", "flatter than ST (top Hessian eigenvalue)", "less")
                    sharpness(sam, other, "sam_one_step", "flatter than ST (SAM sharpness)", "less")
                frequency_and_gradients(sam, other, "ST", "less", "more")
            for other in ats:
                frequency_and_gradients(sam, other, "AT", "more", "less")
            for other in awps:  # between ST and AWP, the flat-loss AT
                if "sharpness" in sam[1] and "sharpness" in other[1] and _same_batches(sam[1], other[1]):
                    sharpness(sam, other, "top_eigenvalue", "sharper than AWP (top Hessian eigenvalue)", "greater")
                if found := _paired_robustness(sam[0], other[0], target, "less"):
                    add(f"less robust than AWP ({robust})", sam, other, "points", found)
            for other in st if awps else []:
                if found := _paired_robustness(sam[0], other[0], target, "greater"):
                    add(f"more robust than ST ({robust})", sam, other, "points", found)
    return tests


_AWP_NOTE = (
    " Beside AWP, the flat-loss AT: does SAM lie between ST and AWP? Sharper than AWP (the same batches), less "
    "robust than AWP and more robust than ST (the same test images, exact McNemar on the results' per-image outcomes)."
)


def _alignment(a: dict) -> np.ndarray:
    return np.array(a["gradients"]["per_image"]["alignment"])


def _same_batches(a: dict, b: dict) -> bool:
    return a["images"]["train_indices"] == b["images"]["train_indices"] and (
        a["settings"]["sharpness_batch"] == b["settings"]["sharpness_batch"]
    )


def flatness_and_robustness(pairs: list[tuple[RunRecord, dict]], target: tuple | None) -> dict | None:
    """Spearman's rank correlation of the top Hessian eigenvalue and robust accuracy across the analysed models
    (one point per trained model), two-sided; exact over all orderings for up to 8 models."""
    from scipy.stats import spearmanr

    if target is None:
        return None
    points = []
    for r, a in pairs:
        robust = accuracy(r, *target)
        if "sharpness" in a and robust is not None:
            points.append((a["sharpness"]["summary"]["top_eigenvalue"]["mean"], robust))
    if len(points) < 3:
        return None
    x, y = [p[0] for p in points], [p[1] for p in points]
    rho = float(spearmanr(x, y).statistic)
    if len(points) <= 8:  # few models: the exact permutation p-value (the t approximation is far off)
        same = [abs(float(spearmanr(x, list(order)).statistic)) >= abs(rho) - 1e-12 for order in permutations(y)]
        p = sum(same) / len(same)
    else:
        p = float(spearmanr(x, y).pvalue)
    return {"n": len(points), "rho": rho, "p": p}


def sentence(
    correlation: dict | None,
    target: tuple | None,
    tests: list[dict],
    architectures: int,
    over_seeds: Sequence[dict] = (),
) -> str:
    """What the numbers say about flatness and robustness (`over_seeds`: mechanism_seeds' method-level tests)."""
    if correlation is None or target is None:
        return "Too few analysed models with a robust accuracy to relate flatness and robustness."
    measure = f"{'PGD-10' if target[0] == 'pgd' else 'AutoAttack'} {target[1]} {target[2]}"
    rho, p = correlation["rho"], correlation["p"]
    text = (
        f"Across the {correlation['n']} analysed models, robust accuracy ({measure}) and the top Hessian "
        f"eigenvalue have Spearman's rho = {rho:+.2f} (p {p_text(p)}): "
    )
    if p < inference.ALPHA and rho < 0:
        text += "the flatter models are the more robust ones here"
    elif p < inference.ALPHA:
        text += "the flatter models are the less robust ones here, against the explanation"
    else:
        text += "no evidence that flatness tracks robustness across these models"
    flatter = [t for t in tests if t["prediction"].startswith("flatter than ST (top")]
    held = sum(t["verdict"] == "holds" for t in flatter)
    if flatter:
        # one analysed model per training configuration (its first seed): a statement about those trained
        # models, not about SAM as a method
        text += (
            f"; the analysed SAM models are measurably flatter than the analysed ST model in {held} of "
            f"{len(flatter)} comparison{'s' if len(flatter) != 1 else ''} (one trained model per configuration: "
            "these models, not their training methods)"
        )
    flatter_method = [t for t in over_seeds if t["prediction"].startswith("flatter than ST (top")]
    if flatter_method:
        held = sum(t["verdict"] == "holds" for t in flatter_method)
        text += (
            f"; over training seeds, the SAM method gives flatter models than ST in {held} of {len(flatter_method)} "
            f"comparison{'s' if len(flatter_method) != 1 else ''} (Welch's t over the analysed seeds)"
        )
    text += "."
    if architectures > 1:
        text += (
            " Eigenvalues depend on each architecture's parametrisation (Dinh et al. 2017), so the "
            "correlation across architectures mixes that scale with flatness; the within-configuration tests do not."
        )
    return text


def _runs_text(records: list[RunRecord], why: str) -> list[str]:
    """['ST (seed 1), SAM-0.1 (seed 1): <why>'], or [] for no runs."""
    names = [f"{r.name} (seed {r.seed})" for r in records]
    return [f"{', '.join(names)}: {why}"] if records else []


def section(out: str | Path, records: list[RunRecord], draw: bool = True) -> list[str]:
    """The report's Mechanism section (and its plots, written into `out` unless `draw` is False)."""
    out = Path(out)
    analyses = load_analyses(out)
    lines = ["## Mechanism", ""]
    if not analyses:
        return lines + [
            "No analysis records in `analysis/` yet: `sam-bench analyze <zoo ids or runs> --out "
            f"{out}/analysis` measures each model's sharpness, Fourier heat map, frequency reliance and "
            "input gradients (docs/analysis.md); this section then tests the paper's explanation on them.",
            "",
        ]
    pairs = [(r, analyses[sha]) for r in records if (sha := r.results.model.weights_sha256) in analyses]
    unanalysed = [r for r in records if r.results.model.weights_sha256 not in analyses]
    # a run without a record either has its weights here (in the tree or kept in git) and was not analysed,
    # or has none to analyse: the report says which, not one for both
    here = [r for r in unanalysed if has_weights(out / "runs" / f"{r.name}-{r.key}")]
    gone = [r for r in unanalysed if r not in here]
    missing = _runs_text(here, "their weights are here but were not analysed (`sam-bench analyze` adds them)")
    missing += _runs_text(gone, "their weights are not in the tree, so they cannot be analysed")
    first = pairs[0][1]["settings"]
    batches = [b for _, a in pairs for b in a.get("sharpness", {}).get("batches", [])]
    converged = sum(bool(b.get("converged")) for b in batches)
    lines += [
        f"Measured by `sam-bench analyze` (records in `{ANALYSIS}/`, schema `{SCHEMA}`, docs/analysis.md) on "
        f"{len(pairs)} of {len(records)} runs" + "".join(f"; no record for {text}" for text in missing) + ". "
        f"Sharpness on {first['train_images']} training images drawn with seed {first['seed']} "
        f"(batches of {first['sharpness_batch']}, BatchNorm in eval mode, no augmentation; SAM's measure at rho "
        f"{first['rho']:g}, one ascent step and {first['ascent_steps']} projected steps; the top eigenvalue by at most "
        f"{first['power_iterations']} power iterations, which reached a relative change below "
        f"{first['power_tolerance']:g} in {converged} of {len(batches)} model-batches), 95% t intervals over the "
        "batches. Fourier heat map on the "
        f"first {first['fourier_images']} test images at L2 norm {first['fourier_norm']:g}; low- and high-pass "
        f"accuracy on the first {first['filter_images']}; input gradients on the first {first['gradient_images']} "
        "(alignment: cosine similarity of the amplitude spectra of the gradient and the centred image, 1 when "
        "the gradient is the image"
        + (
            f", {pairs[0][1]['gradients']['random_alignment']:.2f} for Gaussian noise on the same images)."
            if "random_alignment" in pairs[0][1].get("gradients", {})
            else ")."
        ),
        "",
        "| model | seed | top eigenvalue | SAM sharpness (1 step) | SAM sharpness (multi-step) | training loss "
        "| wall seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r, a in pairs:
        s = a["sharpness"]["summary"] if "sharpness" in a else None
        keys = ("top_eigenvalue", "sam_one_step", "sam_multi_step", "loss")
        cells = [with_interval(s[k]) for k in keys] if s else ["–"] * 4
        lines.append(f"| {r.name} | {r.seed} | " + " | ".join(cells) + f" | {a['seconds']:.0f} |")
    lines.append("")
    with_frequency = [(r, a) for r, a in pairs if "frequency" in a]
    if with_frequency:
        cutoffs = [e["cutoff"] for e in with_frequency[0][1]["frequency"]["high_pass"]]
        filtered = [f"low-pass r ≤ {c:g}" for c in cutoffs] + [f"high-pass r > {c:g}" for c in cutoffs]
        lines += [
            "Accuracy (%) on filtered test images; the Fourier map's mean error (%) over the frequencies of radius "
            + ", ".join(
                f"{lo:g}–{hi:g}" for lo, hi in with_frequency[0][1].get("fourier", {}).get("bands", {}).values()
            )
            + "; the mean gradient alignment with its 95% t interval over images.",
            "",
            *table_head(
                "model", "seed", "clean", *filtered, "Fourier error low / mid / high band", "gradient alignment"
            ),
        ]
        for r, a in with_frequency:
            f = a["frequency"]
            cells = [r.name, str(r.seed), f"{100 * f['clean']['acc']:.1f}"]
            cells += [f"{100 * e['acc']:.1f}" for e in f["low_pass"] + f["high_pass"]]
            band = a.get("fourier", {}).get("band_error")
            cells.append(" / ".join(f"{100 * v:.0f}" for v in band.values()) if band else "–")
            cells.append(with_interval(a["gradients"]["alignment"]) if "gradients" in a else "–")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    tests = predictions(pairs)
    lines += [
        "**The paper's prediction: SAM lies between ST and AT.** Each row compares two trained models (one seed "
        "each), paired: over the same training batches (sharpness, t test), the same test images (high-pass "
        "accuracy: exact McNemar, Newcombe's interval; gradient alignment: t test). One-sided at p < 0.05 in the "
        "predicted direction: `holds`; significant the other way: `fails`; else `inconclusive`."
        + (_AWP_NOTE if any("AWP" in t["prediction"] for t in tests) else ""),
        "",
    ]
    if tests:
        lines += [*mechanism_seeds.rows(tests, seeds=False), ""]
    else:
        lines += ["No configuration has an analysed SAM model beside an analysed ST or AT model.", ""]
    over_seeds = mechanism_seeds.predictions(pairs, middle_cutoff([a for _, a in pairs]))
    lines += mechanism_seeds.table(over_seeds)
    target = robust_target([r for r, _ in pairs])
    correlation = flatness_and_robustness(pairs, target)
    architectures = len(by_architecture([r for r, _ in pairs]))
    lines += [sentence(correlation, target, tests, architectures, over_seeds), ""]
    plots = []
    if target is not None and (name := mechanism_plots.sharpness(out, pairs, target) if draw else SHARPNESS_PLOT):
        plots.append(("Robust accuracy against sharpness", name))
    if name := mechanism_plots.fourier(out, pairs) if draw else FOURIER_PLOT:
        plots.append(("Fourier heat maps", name))
    if (out / ANALYSIS / "input_gradients.png").is_file():
        plots.append(("Input gradients (written by `sam-bench analyze`)", f"{ANALYSIS}/input_gradients.png"))
    for title, name in plots:
        lines += [f"### {title}", "", f"![{title}]({name})", ""]
    return lines
