"""Leaderboards: RobustBench model_info JSON written from evaluation results, rendered as a
markdown table, a standalone HTML page and a clean-vs-robust plot, and checked for submission.

    leaderboards/<dataset>/<threat_model>/<ModelId>.json   RobustBench's model_info format
    leaderboards/<dataset>-<threat_model>.{md,html,png}    rendered (the folders stay upstream-clean)

The model_info fields are RobustBench's (percentages as strings, eps as a string); everything
else we know (PGD at small eps, training cost, where each number came from) sits under the
"sam_bench" key, which RobustBench's tools ignore. No number here is typed by hand: each comes
from a results file of `sam-bench evaluate` whose weights sha256 matches the zoo entry.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import re
from pathlib import Path

from sam_bench import files, schema, stats
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import degenerate, results_file

# RobustBench's CIFAR leaderboards: one budget per threat model (BOARD_EPS).
from sam_bench.evaluation.evaluate import ROBUSTBENCH_BUDGETS as BOARD_EPS
from sam_bench.evaluation.evaluate import SCHEMA as RESULTS_SCHEMA
from sam_bench.evaluation.evaluate import is_leaderboard_autoattack
from sam_bench.evaluation.results_record import Results
from sam_bench.leaderboard import retire
from sam_bench.version import __version__
from sam_bench.zoo import store as zoo

TEST_SET_SIZE = {"cifar10": 10_000, "cifar100": 10_000}
MODEL_INFO_KEYS = (
    "link",
    "name",
    "authors",
    "additional_data",
    "number_forward_passes",
    "dataset",
    "venue",
    "architecture",
    "eps",
    "clean_acc",
    "reported",
    "autoattack_acc",
    "footnote",
)
_CHECKOUT = Path(__file__).resolve().parents[2]
log = logging.getLogger(__name__)
_README_MARK = "<!-- sam-bench leaderboard {board} {edge} -->"


def default_leaderboard_dir() -> Path:
    return Path(os.environ.get("SAM_BENCH_LEADERBOARDS") or _CHECKOUT / "leaderboards")


def _boards_dir(leaderboard_dir) -> Path:
    return Path(leaderboard_dir) if leaderboard_dir is not None else default_leaderboard_dir()


def interval(fraction: float, n: int | None) -> list[str] | None:
    """The 95% Wilson interval of an accuracy over n test images, as percent strings (None without n)."""
    if not n:
        return None
    low, high = stats.wilson(round(fraction * n), n)
    return [percent(low), percent(high)]


def percent(fraction: float) -> str:
    """0.4567 -> '45.67', as robustbench.utils.update_json writes accuracies."""
    return str(round(float(fraction) * 100, 2))


# ---------------------------------------------------------------- results -> model_info


def _read_results(results) -> tuple[dict, dict]:
    """(results dict, where it came from: file and sha256)."""
    if isinstance(results, dict):
        digest = hashlib.sha256(json.dumps(results, sort_keys=True).encode()).hexdigest()
        return results, {"file": None, "sha256": digest}
    path = Path(results)
    data = files.read_json(path)
    try:
        shown = str(path.resolve().relative_to(_CHECKOUT))
    except ValueError:
        shown = str(path)
    return data, {"file": shown, "sha256": files.sha256_file(path)}


def _check_results(results, where: str) -> None:
    if not isinstance(results, dict) or results.get("schema") != RESULTS_SCHEMA:
        found = results.get("schema") if isinstance(results, dict) else type(results).__name__
        raise BadInput(f"{where}: not a sam-bench results file (schema {found!r}, expected {RESULTS_SCHEMA})")
    results_file.check(results, where)


def _check_against_entry(results: dict, entry: dict, where: str) -> None:
    """The results' test set is the one they name: its size, and its sha256 where the zoo entry
    records that data set (the model was trained on it)."""
    data = results["dataset"]
    trained = (entry.get("training") or {}).get("dataset") or {}
    known = TEST_SET_SIZE.get(data["name"]) or (trained.get("n_test") if trained.get("name") == data["name"] else None)
    if known is not None and data["n_test_total"] != known:
        raise SamBenchError(
            f"{where}: the {data['name']} test set has {known:,} images, the results say {data['n_test_total']:,}; "
            f"{results_file.FIX}"
        )
    if trained.get("name") == data["name"] and trained.get("sha256") not in (None, data["sha256"]):
        raise SamBenchError(
            f"{where}: the results' {data['name']} data (sha256 {data['sha256'][:12]}) are not the copy "
            f"{entry['id']} was trained with ({trained['sha256'][:12]}); evaluate on that copy"
        )


def _entry_for(results: dict, zoo_dir) -> dict:
    """The zoo entry these results belong to; refused unless they evaluated its exact weights."""
    model = results["model"]
    sha = model.get("weights_sha256")
    if model.get("zoo_id"):
        entry = zoo.find_entry(model["zoo_id"], zoo_dir)
    else:  # a run or checkpoint evaluated directly: fine if the zoo holds the very same file
        matches = [e for e in zoo.list_entries(zoo_dir=zoo_dir) if e["weights_sha256"] == sha]
        if not matches:
            raise BadInput(
                f"the evaluated weights ({model.get('ref')}, sha256 {str(sha)[:12]}) are in no zoo "
                "entry; add the model with `sam-bench zoo add` and evaluate the zoo id"
            )
        entry = matches[0]
    if sha != entry["weights_sha256"]:
        raise BadInput(
            f"results are for weights with sha256 {str(sha)[:12]}, but zoo entry {entry['id']} holds "
            f"{entry['weights_sha256'][:12]}; evaluate the zoo entry itself"
        )
    return entry


SAMPLE_TEST_SET = "cifar10-sample"


def _is_board_autoattack(ev: dict, threat_model: str, test_set: str | None = None) -> bool:
    """AutoAttack (standard) at the board's budget. On the bundled sample, whose page is a working
    example apart from the real boards, a quicker AutoAttack version at that budget ranks too (the
    smoke scale's APGD-CE + APGD-T); the row says which version scored it."""
    if ev.get("norm") != threat_model:
        return False
    if test_set == SAMPLE_TEST_SET:
        return ev.get("attack") == "autoattack" and ev.get("eps") == BOARD_EPS.get(threat_model)
    return is_leaderboard_autoattack(ev)


def aa_version_text(aa: dict) -> str:
    """'standard', or the attacks of another version, e.g. 'custom: apgd-ce, apgd-t'."""
    version = aa.get("version") or "standard"
    return version if version == "standard" else f"{version}: {', '.join(aa.get('attacks') or [])}"


def _pgd_record(ev: dict) -> dict:
    s = ev.get("settings") or {}
    return {
        "norm": ev["norm"],
        "eps": ev["eps"],
        "steps": s.get("steps"),
        "step_size": s.get("step_size"),
        "restarts": s.get("restarts"),
        "clean_acc": percent(ev["clean_acc"]),
        "robust_acc": percent(ev["robust_acc"]),
        "robust_acc_ci95": interval(ev["robust_acc"], ev["n_examples"]),
        "n_examples": ev["n_examples"],
    }


def _footnote(entry: dict, aa: dict) -> str:
    cfg = entry["training"]["config"]
    trained, used = entry["trained_on"], entry["training"].get("n_train_used")
    if trained == "cifar10-sample":
        data = f"{used:,} images of the bundled CIFAR-10 sample" if used else "the bundled CIFAR-10 sample"
    else:
        data = trained if not used else f"{used:,} {trained} training images"
    n, total, test_set = aa["n_examples"], aa["n_test_total"], aa["test_set"]
    evaluated = (
        f"the full {test_set} test set"
        if n == total == TEST_SET_SIZE.get(test_set)
        else f"the first {n:,} of {total:,} {test_set} test images"
    )
    epochs = f"{cfg['epochs']} epoch" + ("s" if cfg["epochs"] != 1 else "")
    version = (
        "" if aa.get("version", "standard") == "standard" else f" ({aa_version_text(aa)}, not the standard version)"
    )
    return (
        f"Trained by sam-bench ({zoo.method_name(cfg)}, {epochs} on {data}); "
        f"AutoAttack{version} on {evaluated}; weights stored as {entry['weights']['dtype']}."
    )


def model_info(entry: dict, previous: dict | None = None) -> dict:
    """The RobustBench fields we know from the zoo entry alone (accuracies come from results)."""
    paper = entry.get("paper") or {}
    info = {
        "link": paper.get("link", ""),
        "name": paper.get("name", entry["id"]),
        "authors": paper.get("authors", ""),
        "additional_data": False,
        "number_forward_passes": 1,
        "dataset": entry["dataset"],
        "venue": paper.get("venue") or "N/A",
        "architecture": entry["architecture"],
        "eps": BOARD_EPS[entry["threat_model"]],
    }
    for key in ("clean_acc", "reported", "autoattack_acc", "footnote"):
        if previous and key in previous:
            info[key] = previous[key]
    extras = dict(previous.get("sam_bench", {})) if previous else {}
    extras.update(
        {
            "model_id": entry["id"],
            "weights_sha256": entry["weights_sha256"],
            "method": entry["method"],
            "trained_on": entry["trained_on"],
            "training_cost": entry["training_cost"],
        }
    )
    guard = (entry.get("training") or {}).get("overfit_guard")
    if guard and guard.get("collapsed"):  # sam_bench.training.guard: the run's PGD accuracy collapsed in training
        extras["collapsed"] = f"catastrophic overfitting from epoch {guard['epoch']}"
    extras.setdefault("pgd", [])
    extras.setdefault("sources", [])
    info["sam_bench"] = extras
    return info


def update_from_results(results, leaderboard_dir=None, zoo_dir=None) -> Path:
    """update_from_results with the leaderboards locked: an entry is read, merged and written back,
    and a concurrent writer must not slip in between."""
    with files.locked(_boards_dir(leaderboard_dir)):
        return _update_from_results(results, leaderboard_dir, zoo_dir)


def _update_from_results(results, leaderboard_dir=None, zoo_dir=None) -> Path:
    """Write or update leaderboards/<dataset>/<threat_model>/<ModelId>.json from one results
    dict or file of `sam-bench evaluate`. Returns the path written."""
    results, source = _read_results(results)
    where = source["file"] or "results"
    _check_results(results, where)
    entry = _entry_for(results, zoo_dir)
    _check_against_entry(results, entry, where)
    dataset, tm = entry["dataset"], entry["threat_model"]
    data = results["dataset"]
    if data.get("family") != dataset:
        raise BadInput(f"results are on {data.get('family')} data, but {entry['id']} is a {dataset} model")
    if str(data.get("name", "")).startswith("synthetic"):
        raise BadInput("results are on synthetic data; a leaderboard takes CIFAR evaluations only")

    path = _boards_dir(leaderboard_dir) / dataset / tm / f"{entry['id']}.json"
    previous = read_entry(path) if path.is_file() else None
    if previous and previous.get("sam_bench", {}).get("weights_sha256") != entry["weights_sha256"]:
        previous = None  # written for other weights under this id: start over
    info = model_info(entry, previous)
    extras = info["sam_bench"]

    relevant = changed = False
    # A bigger evaluation replaces a smaller one of the same kind; equal size: the newer wins.
    for ev in Results.of(results).evaluations:
        board_aa = _is_board_autoattack(ev, tm, data.get("name"))
        relevant |= board_aa or ev.get("attack") == "pgd"
        if board_aa:
            old = extras.get("autoattack")
            if old and old["n_examples"] > ev["n_examples"]:
                continue
            if old and old.get("version", "standard") == "standard" and ev["settings"]["version"] != "standard":
                continue  # a quick version never replaces the standard one
            extras["autoattack"] = {
                "n_examples": ev["n_examples"],
                "n_test_total": data.get("n_test_total"),
                "test_set": data.get("name"),
                "test_set_sha256": data.get("sha256"),
                "version": ev["settings"]["version"],
                "attacks": ev["settings"].get("attacks"),
                "attack_reported_acc": ev.get("attack_reported_acc"),
                "clean_acc_ci95": interval(ev["clean_acc"], ev["n_examples"]),
                "autoattack_acc_ci95": interval(ev["robust_acc"], ev["n_examples"]),
                "seconds": ev.get("seconds"),
                "precision": results.get("precision"),
                # how the attack searched (results written before the choice searched in true fp32)
                "search_math": (results.get("search_math_mode") or {}).get("search", "ieee"),
                "device_name": (results.get("environment") or {}).get("device_name"),
                "results_sha256": source["sha256"],
            }
            info["clean_acc"] = percent(ev["clean_acc"])
            info["reported"] = info["autoattack_acc"] = percent(ev["robust_acc"])
            info["footnote"] = _footnote(entry, extras["autoattack"])
            extras["degenerate"] = degenerate.reason(results)
            _cross_check(results.get("robustbench"), info, tm)
            changed = True
        elif ev.get("attack") == "pgd":
            record = _pgd_record(ev)
            same = [
                p
                for p in extras["pgd"]
                if (p["norm"], p["eps"], p["steps"], p["restarts"])
                == (record["norm"], record["eps"], record["steps"], record["restarts"])
            ]
            if same and same[0]["n_examples"] > record["n_examples"]:
                continue
            extras["pgd"] = [p for p in extras["pgd"] if p not in same] + [record]
            changed = True
    if not relevant:
        raise BadInput(
            f"the results hold no AutoAttack (standard) evaluation at {tm} {BOARD_EPS[tm]} and no PGD "
            f"evaluation; run sam-bench evaluate {entry['id']} --attack autoattack --norm {tm} "
            f"--eps {BOARD_EPS[tm]}"
        )
    if "autoattack_acc" not in info:
        raise BadInput(
            f"{entry['id']} has no AutoAttack (standard) result at {tm} {BOARD_EPS[tm]} yet, which "
            f"ranks a leaderboard row; run sam-bench evaluate {entry['id']} --attack autoattack "
            f"--norm {tm} --eps {BOARD_EPS[tm]} first"
        )
    if not changed:
        log.info("%s: the leaderboard already holds bigger evaluations than %s", path, source["file"] or "these")
        return path
    extras["pgd"].sort(key=lambda p: (p["norm"], _eps_value(p["eps"]), p["steps"] or 0))
    if source["sha256"] not in [s["sha256"] for s in extras["sources"]]:
        extras["sources"].append({**source, "created": results.get("created")})
    ordered = {k: info[k] for k in MODEL_INFO_KEYS if k in info}
    order = (
        "model_id",
        "weights_sha256",
        "method",
        "trained_on",
        "training_cost",
        "degenerate",
        "collapsed",
        "autoattack",
        "pgd",
        "sources",
        "retired",
    )
    ordered["sam_bench"] = {k: extras[k] for k in order if k in extras}
    files.write_json(path, ordered)
    return path


def _eps_value(text: str) -> float:
    from sam_bench.eps import parse_eps

    return parse_eps(text)


def _cross_check(rb: dict | None, info: dict, tm: str) -> None:
    # evaluate's own RobustBench summary must agree with what we derived from its evaluations
    if not rb or rb.get("threat_model") != tm:
        return
    for key in ("clean_acc", "autoattack_acc"):
        if key in rb and abs(float(rb[key]) - float(info[key])) > 0.006:
            raise SamBenchError(
                f"results disagree with themselves: robustbench.{key} is {rb[key]}, "
                f"the AutoAttack evaluation says {info[key]}"
            )


# ---------------------------------------------------------------- reading and ranking


def read_entry(path: Path) -> dict:
    """A leaderboard entry, refused in one line unless it fits the leaderboard-entry schema."""
    return schema.check(
        "leaderboard-entry",
        files.read_json(path),
        str(path),
        fix="restore it (e.g. git checkout) or write it again with sam-bench leaderboard add <results file>",
    )


def load_board(dataset: str, threat_model: str, leaderboard_dir=None) -> list[dict]:
    """The model_info dicts of one leaderboard, best first (AutoAttack, then clean accuracy)."""
    folder = _boards_dir(leaderboard_dir) / dataset / threat_model
    models = []
    for path in sorted(folder.glob("*.json")):
        info = read_entry(path)
        models.append({**info, "model_id": path.stem})
    models.sort(key=lambda m: (-float(m["autoattack_acc"]), -float(m["clean_acc"]), m["model_id"]))
    return models


def on_sample(m: dict) -> bool:
    """Trained on, or scored on, the bundled sample rather than the real data set."""
    extras = m.get("sam_bench", {})
    return SAMPLE_TEST_SET in (extras.get("trained_on"), (extras.get("autoattack") or {}).get("test_set"))


def threat_model_title(tm: str) -> str:
    return f"{tm}, eps = {BOARD_EPS[tm]}"


def boards(leaderboard_dir=None, dataset=None, threat_model=None) -> list[tuple[str, str]]:
    root = _boards_dir(leaderboard_dir)
    found = sorted({(p.parent.parent.name, p.parent.name) for p in root.glob("*/*/*.json")})
    return [(d, t) for d, t in found if (not dataset or d == dataset) and (not threat_model or t == threat_model)]


def _training_text(m: dict) -> str:
    cost = m.get("sam_bench", {}).get("training_cost") or {}
    if not cost.get("wall_time_s"):
        return ""
    seconds = cost["wall_time_s"]
    took = (
        f"{seconds / 3600:.1f} h"
        if seconds >= 3600
        else f"{seconds / 60:.1f} min"
        if seconds >= 60
        else f"{seconds:.0f} s"
    )
    device = (cost.get("device_name") or cost.get("device") or "").split(" (")[0]
    passes = cost.get("passes_per_step")
    return f"{cost.get('epochs')} ep., {took} on {device}, {passes} pass{'' if passes == 1 else 'es'}/step"


def _eval_text(m: dict) -> str:
    aa = m.get("sam_bench", {}).get("autoattack") or {}
    if not aa:
        return ""
    total = f" of {aa['n_test_total']:,}" if aa.get("n_test_total") else ""
    version = "" if aa.get("version", "standard") == "standard" else f", AutoAttack {aa_version_text(aa)}"
    # PGD may run on more images than AutoAttack (cpu-decisive: 2,000 and 1,000): its columns' intervals say so
    pgd_n = sorted({p["n_examples"] for p in m["sam_bench"].get("pgd", []) if p.get("n_examples")} - {aa["n_examples"]})
    pgd = f"; PGD on {', '.join(f'{n:,}' for n in pgd_n)}" if pgd_n else ""
    return f"{aa['n_examples']:,}{total} ({aa['test_set']}{version}){pgd}"


def _pgd_columns(models: list[dict], threat_model: str) -> list[tuple[str, str, int]]:
    """PGD columns, the board's own norm first (Linf columns first on a Linf board)."""
    keys = {(p["norm"], p["eps"], p["steps"]) for m in models for p in m.get("sam_bench", {}).get("pgd", [])}
    return sorted(keys, key=lambda k: (k[0] != threat_model, k[0], _eps_value(k[1]), k[2] or 0))


def _pgd_record_of(m: dict, key) -> dict | None:
    for p in m.get("sam_bench", {}).get("pgd", []):
        if (p["norm"], p["eps"], p["steps"]) == key:
            return p
    return None


def _pgd_value(m: dict, key) -> str | None:
    p = _pgd_record_of(m, key)
    return None if p is None else p["robust_acc"]


def _ci(accuracy_percent, n) -> tuple[float, float] | None:
    """95% Wilson interval (percent) of a leaderboard accuracy, from the number of images behind it."""
    if accuracy_percent is None or not n:
        return None
    low, high = stats.wilson(round(float(accuracy_percent) / 100 * n), n)
    return 100 * low, 100 * high


def rows(models: list[dict], threat_model: str) -> list[dict]:
    """Display values per model, in rank order (the shared input of markdown and HTML)."""
    pgd_keys = _pgd_columns(models, threat_model)
    out = []
    for rank, m in enumerate(models, 1):
        aa_n = (m.get("sam_bench", {}).get("autoattack") or {}).get("n_examples")
        out.append(
            {
                "rank": rank,
                "model_id": m["model_id"],
                "name": m.get("name", ""),
                "link": m.get("link", ""),
                "footnote": m.get("footnote", ""),
                "clean_acc": float(m["clean_acc"]),
                "autoattack_acc": float(m["autoattack_acc"]),
                "additional_data": bool(m.get("additional_data")),
                "architecture": m.get("architecture", ""),
                "venue": m.get("venue") or "Unpublished",
                "method": m.get("sam_bench", {}).get("method", ""),
                "training": _training_text(m),
                "training_s": (m.get("sam_bench", {}).get("training_cost") or {}).get("wall_time_s") or 0,
                "evaluated_on": _eval_text(m),
                "degenerate": m.get("sam_bench", {}).get("degenerate"),
                "collapsed": m.get("sam_bench", {}).get("collapsed"),
                "pgd": [None if (v := _pgd_value(m, k)) is None else float(v) for k in pgd_keys],
                "clean_ci": _ci(m["clean_acc"], aa_n),
                "autoattack_ci": _ci(m["autoattack_acc"], aa_n),
                "pgd_ci": [
                    None if (p := _pgd_record_of(m, k)) is None else _ci(p["robust_acc"], p.get("n_examples"))
                    for k in pgd_keys
                ],
            }
        )
    return out


def _pgd_header(key) -> str:
    norm, eps, steps = key
    return f"PGD-{steps} {norm} {eps}" if steps else f"PGD {norm} {eps}"


# ---------------------------------------------------------------- rendering


def markdown(dataset: str, threat_model: str, models: list[dict], title: str | None = None) -> str:
    eps = BOARD_EPS[threat_model]
    pgd_keys = _pgd_columns(models, threat_model)
    head = [
        "#",
        "Model ID",
        "Model",
        "Clean accuracy",
        f"AutoAttack ({threat_model} {eps})",
        *[_pgd_header(k) for k in pgd_keys],
        "Architecture",
        "Training",
        "Evaluated on",
        "Venue",
    ]
    title = title or f"**{dataset}, {threat_model}, eps = {eps}** (ranked by AutoAttack robust accuracy)"
    title += " Accuracies with their 95% Wilson interval over the test images evaluated."
    lines = [
        title,
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join([":---:"] + ["---"] * 2 + [":---:"] * (2 + len(pgd_keys)) + ["---"] * 4) + "|",
    ]
    for r in rows(models, threat_model):
        name = f"[{_md(r['name'])}]({r['link']})" if r["link"] else _md(r["name"])
        if r["degenerate"]:
            name += f" ⚠ degenerate: {_md(r['degenerate'])}"
        if r["collapsed"]:
            name += f" ⚠ collapsed: {_md(r['collapsed'])}"
        cells = [
            str(r["rank"]),
            f"**{r['model_id']}**",
            name,
            _with_ci(r["clean_acc"], r["clean_ci"]),
            _with_ci(r["autoattack_acc"], r["autoattack_ci"]),
            *["" if v is None else _with_ci(v, ci) for v, ci in zip(r["pgd"], r["pgd_ci"])],
            _md(r["architecture"]),
            _md(r["training"]),
            r["evaluated_on"],
            _md(r["venue"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _with_ci(value: float, ci: tuple[float, float] | None) -> str:
    return f"{value:.2f}%" + (f" ({ci[0]:.1f}–{ci[1]:.1f})" if ci else "")


def _md(text: str) -> str:
    return str(text).replace("|", "\\|")


def scatter_png(dataset: str, threat_model: str, models: list[dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    shown = rows(models, threat_model)
    methods = sorted({r["method"] for r in shown})
    # tab10 is a ListedColormap, which has .colors
    colors = dict(zip(methods, plt.get_cmap("tab10").colors))  # type: ignore[attr-defined]  # stub: any Colormap
    for r in shown:
        ax.scatter(
            r["clean_acc"],
            r["autoattack_acc"],
            color=colors[r["method"]],
            s=36,
            zorder=3,
            label=r["method"],
            clip_on=False,
        )
        ax.annotate(
            f"{r['rank']}", (r["clean_acc"], r["autoattack_acc"]), textcoords="offset points", xytext=(4, 4), fontsize=8
        )
    handles, labels = ax.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    ax.legend(unique.values(), unique.keys(), title="method", fontsize=8, loc="best")
    ax.set_xlabel("clean accuracy (%)")
    ax.set_ylabel(f"AutoAttack accuracy (%), {threat_model} {BOARD_EPS[threat_model]}")
    ax.set_title(f"{dataset} {threat_model}: clean vs robust (numbers: rank)")
    top = max([r["clean_acc"] for r in shown] + [10.0])
    ax.set_xlim(0, min(100, top * 1.1 + 2))  # from zero: distances read as accuracy differences
    ax.set_ylim(0, min(100, max([r["autoattack_acc"] for r in shown] + [10.0]) * 1.1 + 2))
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})  # no version stamp: same input, same file
    plt.close(fig)
    return buf.getvalue()


def html(
    dataset: str,
    threat_model: str,
    models: list[dict],
    png: bytes | None = None,
    sample: bool = False,
    other_page: str | None = None,
    retired: list[dict] | None = None,
) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("sam_bench.leaderboard", "templates"), autoescape=select_autoescape(["html", "j2"])
    )
    return env.get_template("leaderboard.html.j2").render(
        dataset=dataset,
        threat_model=threat_model,
        eps=BOARD_EPS[threat_model],
        rows=rows(models, threat_model),
        pgd_headers=[_pgd_header(k) for k in _pgd_columns(models, threat_model)],
        version=__version__,
        sample=sample,
        other_page=other_page,
        plot=base64.b64encode(png).decode() if png else None,
        retired=sorted(retired or [], key=lambda m: m["model_id"]),
    )


def render(leaderboard_dir=None, dataset=None, threat_model=None, readme=None) -> list[Path]:
    """Write <dataset>-<threat_model>.md/.html/.png next to the model_info folders, for every
    leaderboard (or the one asked for); with `readme`, also replace the table between the
    markers `<!-- sam-bench leaderboard cifar10/Linf start -->` and `... end -->` there."""
    root = _boards_dir(leaderboard_dir)
    found = boards(root, dataset, threat_model)
    if not found:
        raise BadInput(
            f"no leaderboard entries in {root}"
            + (f" for {dataset or '*'}/{threat_model or '*'}" if dataset or threat_model else "")
            + "; add results with sam-bench evaluate <ModelId> ... --leaderboard"
        )
    written, tables = [], {}
    for ds, tm in found:
        everything = load_board(ds, tm, root)
        # Models trained or scored on the bundled sample are a working example, not comparable with
        # real evaluations: they get a page (and README table) of their own, ranked among themselves.
        groups = {"": [m for m in everything if not on_sample(m)], "-sample": [m for m in everything if on_sample(m)]}
        for suffix, group in groups.items():
            stem = root / f"{ds}-{tm}{suffix}"
            models = [m for m in group if not retire.is_retired(m)]  # retired rows: listed under the table
            retired = [m for m in group if retire.is_retired(m)]
            if not models:
                for old in (stem.with_suffix(e) for e in (".md", ".html", ".png")):
                    old.unlink(missing_ok=True)  # none left of this kind: no stale page
                continue
            sample = bool(suffix)
            other = f"{ds}-{tm}{'' if sample else '-sample'}.html" if groups["" if sample else "-sample"] else None
            title = (
                (
                    f"**{ds}, {threat_model_title(tm)}: models trained or scored on the bundled CIFAR-10 sample** "
                    "(a working example; ranked by AutoAttack, not comparable with the table above)"
                )
                if sample
                else None
            )
            png = scatter_png(ds, tm, models)
            tables[f"{ds}/{tm}{'/sample' if sample else ''}"] = markdown(ds, tm, models, title) + "".join(
                line + "\n" for line in retire.markdown_lines(retired)
            )
            files.write_text(stem.with_suffix(".md"), tables[f"{ds}/{tm}{'/sample' if sample else ''}"])
            files.write_text(stem.with_suffix(".html"), html(ds, tm, models, png, sample, other, retired))
            files.atomic_write(stem.with_suffix(".png"), lambda f, data=png: f.write(data))
            written += [stem.with_suffix(s) for s in (".md", ".html", ".png")]
    if readme is not None:
        written.append(update_readme(readme, tables))
    return written


def update_readme(readme, tables: dict[str, str]) -> Path:
    readme = Path(readme)
    text = readme.read_text() if readme.is_file() else ""
    replaced = 0
    for board, table in tables.items():
        start, end = (_README_MARK.format(board=board, edge=e) for e in ("start", "end"))
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
        replacement = f"{start}\n{table}{end}"
        text, n = pattern.subn(lambda _, fixed=replacement: fixed, text)  # a function: the table is no regex template
        replaced += n
    if not replaced:
        marks = _README_MARK.format(board="cifar10/Linf", edge="start")
        raise BadInput(
            f"{readme}: no leaderboard markers to fill; put {marks} and the matching '... end -->' "
            "line where the table belongs"
        )
    files.write_text(readme, text)
    return readme


# ---------------------------------------------------------------- submission


def check_submission(info: dict, entry: dict | None) -> list[str]:
    """Every reason RobustBench would not take this model_info (empty list: it qualifies)."""
    problems = []
    missing = [k for k in MODEL_INFO_KEYS if k not in info]
    if missing:
        problems.append(f"missing fields: {', '.join(missing)}")
    if not re.match(r"https?://\S+$", str(info.get("link", ""))):
        problems.append("no paper link (an http(s) URL to the paper or report; pass --link)")
    for key in ("name", "authors", "venue", "architecture"):
        if key in info and not str(info[key]).strip():
            problems.append(f"empty {key}" + (" (pass --authors)" if key == "authors" else ""))
    if not isinstance(info.get("additional_data"), bool):
        problems.append("additional_data must be true or false")
    if not isinstance(info.get("number_forward_passes"), int) or info.get("number_forward_passes", 0) < 1:
        problems.append("number_forward_passes must be a whole number >= 1")
    dataset = info.get("dataset")
    if dataset not in TEST_SET_SIZE:
        problems.append(f"dataset must be one of {', '.join(TEST_SET_SIZE)}, not {dataset!r}")
    threat_model = entry["threat_model"] if entry else None
    if threat_model and info.get("eps") != BOARD_EPS[threat_model]:
        problems.append(
            f"eps must be the string {BOARD_EPS[threat_model]!r} for {threat_model}, not {info.get('eps')!r}"
        )
    values = {}
    for key in ("clean_acc", "reported", "autoattack_acc"):
        v = info.get(key)
        try:
            if not isinstance(v, str):
                raise ValueError
            values[key] = float(v)
            if not 0 <= values[key] <= 100:
                raise ValueError
        except ValueError:
            problems.append(f'{key} must be a percentage written as a string, like "45.67" (got {v!r})')
    if "clean_acc" in values and "autoattack_acc" in values and values["autoattack_acc"] > values["clean_acc"]:
        problems.append("autoattack_acc exceeds clean_acc")
    extras = info.get("sam_bench") or {}
    aa = extras.get("autoattack") or {}
    if aa.get("version") != "standard":
        problems.append("the robust accuracy must come from AutoAttack's standard version")
    if aa.get("precision") not in (None, "fp32"):  # low precision can weaken gradient attacks
        problems.append(f"AutoAttack ran in {aa['precision']}; RobustBench numbers must be measured in fp32")
    full = TEST_SET_SIZE.get(dataset or "")  # a missing dataset is reported above
    if full and aa and (aa.get("n_examples"), aa.get("n_test_total"), aa.get("test_set")) != (full, full, dataset):
        problems.append(
            f"AutoAttack ran on {aa.get('n_examples')} images of {aa.get('test_set')} "
            f"({aa.get('n_test_total')} in that test set); RobustBench needs the full {dataset} "
            f"test set of {full:,} images"
        )
    trained_on = extras.get("trained_on")
    if trained_on != dataset:
        what = "the bundled 1,500-image sample" if trained_on == "cifar10-sample" else trained_on
        problems.append(f"the model was trained on {what}, not on the {dataset} training set")
    if entry and extras.get("weights_sha256") != entry["weights_sha256"]:
        problems.append("the leaderboard numbers are for other weights than the zoo entry now holds")
    return problems


def _checkbox(checked: bool) -> str:
    return "[x]" if checked else "[ ]"


def issue_text(info: dict, entry: dict, model_id: str) -> str:
    """RobustBench's "New Model(s)" issue template (.github/ISSUE_TEMPLATE/new-model.md), filled."""
    aa = info["sam_bench"]["autoattack"]
    w = entry["weights"]
    where = w.get("url") or (
        f"model_zoo/{entry['dataset']}/{entry['threat_model']}/{w['file']} in the sam-bench "
        "repository (no public URL recorded: add one with `sam-bench zoo add --url`, or share "
        "the file privately with adversarial.benchmark@gmail.com)"
    )
    robustbench_arch = (
        entry["arch"]["arch"] in ("preactresnet18", "wideresnet-28-10", "wideresnet-16-4")
        and entry["arch"].get("width", 1.0) == 1.0
    )
    base_id = model_id.split("_")[0]
    return f"""Title: [New Model] {base_id}

# Paper Information

- **Paper Title**: {info["name"]}
- **Paper URL**: {info["link"]}
- **Paper authors**: {info["authors"]}

# Leaderboard Claim(s)

## Model 1

- **Architecture**: {info["architecture"]}
- **Threat Model**: {entry["threat_model"]}
- **eps**: {info["eps"]}
- **Clean accuracy**: {info["clean_acc"]}%
- **Robust accuracy**: {info["autoattack_acc"]}%
- **Additional data**: {str(info["additional_data"]).lower()}
- **Evaluation method**: AutoAttack, standard version (APGD-CE, APGD-T, FAB-T, Square), on the full \
{info["dataset"]} test set ({aa["n_examples"]:,} images), {aa.get("precision") or "fp32"} on \
{aa.get("device_name") or "unknown device"}; run with `sam-bench evaluate {model_id} --attack autoattack \
--norm {entry["threat_model"]} --eps {info["eps"]}` (sam-bench {__version__}), weights sha256 {w["sha256"]}.
- **Checkpoint and code**: {where}. Model id in the zoo: `{model_id}`.

# Model Zoo:

- {_checkbox(True)} I want to add my models to the Model Zoo (check if true)
- {_checkbox(not robustbench_arch)} I use an architecture that is **not** included among
  those [here](https://github.com/RobustBench/robustbench/tree/master/robustbench/model_zoo/architectures) (
  check if true).
- [ ] I agree to release my model(s) under MIT license (check if true) **OR**
- [ ] I want my models to be released under a custom license, located here: (custom license URL
  here)
"""


def submit(model_id: str, leaderboard_dir=None, zoo_dir=None, out_dir=None, paper: dict | None = None) -> list[Path]:
    """Check that a leaderboard entry qualifies for RobustBench and write <out_dir>/<ModelId>.json
    (upstream model_info, without our extras) and <out_dir>/issue.md. Refuses with every reason."""
    entry = zoo.find_entry(model_id, zoo_dir)
    path = _boards_dir(leaderboard_dir) / entry["dataset"] / entry["threat_model"] / f"{model_id}.json"
    if not path.is_file():
        raise BadInput(
            f"{model_id} has no leaderboard entry ({path}); run sam-bench evaluate {model_id} "
            f"--attack autoattack --leaderboard first"
        )
    info = read_entry(path)
    info.update({k: v for k, v in (paper or {}).items() if v is not None})
    problems = check_submission(info, entry)
    report = zoo.verify(model_id, zoo_dir)[0]
    if not report[1]:
        problems.append(f"the weights do not verify: {report[2]}")
    if problems:
        raise BadInput(f"{model_id} does not qualify for RobustBench: " + "; ".join(problems))
    out = Path(out_dir) if out_dir is not None else _CHECKOUT / "submissions" / model_id
    upstream = {k: info[k] for k in MODEL_INFO_KEYS}
    files.write_json(out / f"{model_id}.json", upstream)
    files.write_text(out / "issue.md", issue_text(info, entry, model_id))
    return [out / f"{model_id}.json", out / "issue.md"]
