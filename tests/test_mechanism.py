"""The report's Mechanism section: the paper's prediction (SAM between ST and AT) tested on analysis
records, paired over batches and images, and the sentence on flatness and robustness rendered from
the numbers."""

import json

import numpy as np
import pytest
from run_records import run_record

from sam_bench.evaluation import outcomes
from sam_bench.report import mechanism

N = 400


def run(name, method, sha, robust, seed=0):
    """A run record as report.load_results makes it (only what the section reads)."""
    flags = np.zeros(N, bool)
    flags[:robust] = True
    return run_record(
        {
            "name": name,
            "key": f"{name}-{sha[:10]}",
            "seed": seed,
            "config": {"method": method, "arch": "preactresnet18", "width": 0.125},
            "results": {
                "model": {"weights_sha256": sha},
                "clean_acc": 0.6,
                "dataset": {"n_examples": N},
                "evaluations": [
                    {
                        "attack": "pgd",
                        "norm": "Linf",
                        "eps": "2/255",
                        "eps_value": 2 / 255,
                        "robust_acc": robust / N,
                        "n_examples": N,
                        "outcomes": outcomes.encode(flags),
                    }
                ],
            },
        }
    )


def analysis(sha, eigenvalues, high_pass_correct, alignment, seed=0):
    """An analysis record (sam-bench/analysis/v1) with these per-batch eigenvalues, this many of the
    filter images right under the high-pass filter, and these per-image alignments."""
    rng = np.random.default_rng(seed)
    flags = np.zeros(N, bool)
    flags[:high_pass_correct] = True
    batches = [
        {
            "loss": 1.0,
            "sam_one_step": e / 100,
            "sam_multi_step": e / 90,
            "top_eigenvalue": e,
            "iterations": 5,
            "converged": e > 50,
        }
        for e in eigenvalues
    ]
    summary = {
        k: {"mean": float(np.mean([b[k] for b in batches])), "low": None, "high": None, "batches": 4}
        for k in batches[0]
    }
    return {
        "schema": mechanism.SCHEMA,
        "model": {"weights_sha256": sha},
        "settings": {
            "seed": 0,
            "train_images": 256,
            "sharpness_batch": 64,
            "rho": 0.1,
            "ascent_steps": 5,
            "power_iterations": 12,
            "power_tolerance": 1e-3,
            "fourier_images": 8,
            "fourier_norm": 4.0,
            "filter_images": N,
            "gradient_images": len(alignment),
        },
        "images": {"train_indices": list(range(256))},
        "sharpness": {"batches": batches, "summary": summary},
        "frequency": {
            "clean": {"acc": 0.6, "outcomes": outcomes.encode(np.ones(N, bool))},
            "low_pass": [{"cutoff": 8.0, "acc": 0.5, "outcomes": outcomes.encode(flags)}],
            "high_pass": [{"cutoff": 8.0, "acc": flags.mean(), "outcomes": outcomes.encode(flags)}],
        },
        "fourier": {
            "heat_map": rng.random((4, 4)).tolist(),
            "band_error": {"low": 0.1, "middle": 0.2, "high": 0.3},
            "bands": {"low": [0, 4]},
        },
        "gradients": {
            "alignment": {"mean": float(np.mean(alignment)), "low": None, "high": None, "batches": len(alignment)},
            "per_image": {"alignment": list(alignment), "cosine": list(alignment)},
        },
        "seconds": 60.0,
    }


def trio(sam_eigen, sam_high_pass, sam_alignment):
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.01, 200)
    runs = [
        run("ST", "standard", "a" * 64, 100),
        run("SAM-0.1", "sam", "b" * 64, 150),
        run("AT-Linf-2", "at", "c" * 64, 250),
    ]
    analyses = [
        analysis("a" * 64, [100, 120, 110, 105], 300, 0.45 + noise),
        analysis("b" * 64, sam_eigen, sam_high_pass, sam_alignment + noise[::-1]),
        analysis("c" * 64, [20, 25, 22, 21], 100, 0.60 + noise),
    ]
    return runs, analyses


def verdicts(runs, analyses):
    return {
        (t["prediction"].split(" (")[0], t["comparison"]): t["verdict"]
        for t in mechanism.predictions(list(zip(runs, analyses)))
    }


def test_sam_between_st_and_at_holds_on_every_measure():
    found = verdicts(*trio([50, 60, 55, 52], 200, 0.52))
    assert found == {
        ("flatter than ST", "SAM-0.1 − ST"): "holds",
        ("less high-frequency reliance than ST", "SAM-0.1 − ST"): "holds",
        ("input gradients more aligned with the image than ST's", "SAM-0.1 − ST"): "holds",
        ("more high-frequency reliance than AT", "SAM-0.1 − AT-Linf-2"): "holds",
        ("input gradients less aligned with the image than AT's", "SAM-0.1 − AT-Linf-2"): "holds",
    }


def test_a_sharper_sam_fails_and_a_tie_is_inconclusive():
    sharper = mechanism.predictions(list(zip(*trio([200, 220, 210, 205], 300, 0.45))))
    flat = [t for t in sharper if t["prediction"].startswith("flatter")]
    assert flat and all(t["verdict"] == "fails" for t in flat)
    high_pass = [t for t in sharper if "than ST (accuracy" in t["prediction"]]
    assert [t["verdict"] for t in high_pass] == ["inconclusive"]  # the same images right: no evidence either way


def test_sharpness_is_compared_only_over_the_same_batches():
    runs, analyses = trio([50, 60, 55, 52], 200, 0.52)
    analyses[1]["images"]["train_indices"] = list(range(1, 257))
    assert not [t for t in mechanism.predictions(list(zip(runs, analyses))) if t["prediction"].startswith("flatter")]


@pytest.mark.parametrize(
    "rho, p, expected",
    [
        (-0.9, 0.01, "the flatter models are the more robust ones"),
        (0.9, 0.01, "less robust"),
        (-0.3, 0.4, "no evidence"),
    ],
)
def test_the_sentence_is_rendered_from_the_numbers(rho, p, expected):
    text = mechanism.sentence({"n": 6, "rho": rho, "p": p}, ("pgd", "Linf", "2/255"), [], 1)
    assert expected in text and f"{rho:+.2f}" in text and "PGD-10 Linf 2/255" in text


def test_section_writes_tables_plots_and_names_runs_without_a_record(tmp_path):
    runs, analyses = trio([50, 60, 55, 52], 200, 0.52)
    (tmp_path / "analysis").mkdir()
    for a in analyses:
        (tmp_path / "analysis" / f"{a['model']['weights_sha256'][:4]}.json").write_text(json.dumps(a))
    lines = "\n".join(mechanism.section(tmp_path, [*runs, run("ST", "standard", "d" * 64, 90, seed=1)]))
    assert "on 3 of 4 runs; no record for ST (seed 1): their weights are not in the tree, so they cannot" in lines
    assert "below 0.001 in 7 of 12 model-batches" in lines  # the batches whose eigenvalue is above 50
    assert "| ST | 0 | 109 |" in lines  # the mean of ST's four batch eigenvalues
    assert "| model | seed | clean | low-pass" in lines and "\n| ST | 0 | " in lines.split("| model | seed | clean")[1]
    assert "Spearman's rho = -1.00" in lines  # eigenvalue 109, 54.2, 22 against robust accuracy 25%, 37.5%, 62.5%
    assert (tmp_path / "mechanism_sharpness.png").is_file() and (tmp_path / "mechanism_fourier.png").is_file()


def test_a_folder_without_analyses_says_how_to_make_them(tmp_path):
    lines = mechanism.section(tmp_path, [])
    assert lines[0] == "## Mechanism" and "sam-bench analyze" in lines[2]


@pytest.mark.parametrize("name", ["paper-cifar10-cpu", "arch-sweep-cifar10-cpu", "paper-cifar10-sample"])
def test_each_committed_report_carries_the_mechanism_its_analyses_give(name):
    from pathlib import Path

    from sam_bench.report.folder import load_results

    folder = Path(__file__).resolve().parent.parent / "reproductions" / name
    if not (folder / mechanism.ANALYSIS).is_dir():
        pytest.skip(f"{name} has no analysis records")
    text = "\n".join(mechanism.section(folder, load_results(folder), draw=False))
    assert text in (folder / "REPORT.md").read_text(), f"re-render {folder}/REPORT.md"


def test_few_models_get_the_exact_permutation_p_value():
    runs = [run(f"M{i}", "standard", f"{i}" * 64, robust) for i, robust in enumerate((100, 200, 300))]
    analyses = [analysis(f"{i}" * 64, [e] * 4, 100, np.full(200, 0.5)) for i, e in enumerate((30, 20, 10))]
    found = mechanism.flatness_and_robustness(list(zip(runs, analyses)), ("pgd", "Linf", "2/255"))
    # 3 models in perfect inverse order: 2 of the 6 orderings are as extreme (rho = +-1)
    assert found == {"n": 3, "rho": pytest.approx(-1.0), "p": pytest.approx(1 / 3)}


def test_sam_between_st_and_awp_on_sharpness_and_robustness(tmp_path):
    """Beside AWP (the flat-loss AT), SAM is tested as sharper and less robust than AWP and more robust than
    ST; TRADES and AWP models are plotted in their own colours; a grid without AWP keeps its rows as they were."""
    runs, analyses = trio([50, 60, 55, 52], 200, 0.52)
    noise = np.random.default_rng(1).normal(0, 0.01, 200)
    runs += [run("AWP-AT-Linf-8", "awp-at", "e" * 64, 300), run("TRADES-Linf-8", "trades", "f" * 64, 280)]
    analyses += [
        analysis("e" * 64, [10, 12, 11, 10], 90, 0.62 + noise),
        analysis("f" * 64, [15, 14, 16, 15], 95, 0.61 + noise),
    ]
    found = verdicts(runs, analyses)
    assert found[("sharper than AWP", "SAM-0.1 − AWP-AT-Linf-8")] == "holds"
    assert found[("less robust than AWP", "SAM-0.1 − AWP-AT-Linf-8")] == "holds"  # 150 against 300 of 400 images
    assert found[("more robust than ST", "SAM-0.1 − ST")] == "holds"  # 150 against 100
    assert not any("TRADES" in comparison for _, comparison in found)  # TRADES is neither AT nor AWP here
    assert not any("AWP" in p or p.startswith("more robust") for p, _ in verdicts(*trio([50, 60, 55, 52], 200, 0.52)))
    (tmp_path / "analysis").mkdir()
    for a in analyses:
        (tmp_path / "analysis" / f"{a['model']['weights_sha256'][:4]}.json").write_text(json.dumps(a))
    lines = "\n".join(mechanism.section(tmp_path, runs))
    assert "does SAM lie between ST and AWP?" in lines
    assert (
        "| less robust than AWP (PGD-10 Linf 2/255) | SAM-0.1 − AWP-AT-Linf-8 | -37.50 (-42.05 to -32.60) points"
        in lines
    )
    assert "| AWP-AT-Linf-8 | 0 | 10.8 |" in lines and "| TRADES-Linf-8 | 0 | 15 |" in lines
    assert (tmp_path / "mechanism_sharpness.png").is_file()
