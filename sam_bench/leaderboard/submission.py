"""A board entry checked against RobustBench's submission rules, and the issue text to submit it
(`leaderboard submit`)."""

from __future__ import annotations

import re
from pathlib import Path

from sam_bench import files
from sam_bench.errors import BadInput
from sam_bench.leaderboard import budgets, publication
from sam_bench.leaderboard.board_text import markdown
from sam_bench.leaderboard.entries import (
    CHECKOUT,
    MODEL_INFO_KEYS,
    TEST_SET_SIZE,
    BoardEntry,
    entry_path,
    figure_refs,
    read_entry,
    results_path,
    training_text,
)
from sam_bench.leaderboard.evidence import check_entry
from sam_bench.leaderboard.own_boards import own_board
from sam_bench.threat_models import threat_model as threat_model_record
from sam_bench.version import __version__
from sam_bench.zoo import store as zoo
from sam_bench.zoo.entry import ZooEntry


def check_submission(m: BoardEntry, entry: ZooEntry | None) -> list[str]:
    """Every reason RobustBench would not take this entry (empty list: it qualifies): its model_info fields as
    written, and ours."""
    info, aa, problems = m.info, m.autoattack, []
    missing = [k for k in MODEL_INFO_KEYS if k not in info]
    if missing:
        problems.append(f"missing fields: {', '.join(missing)}")
    if not re.match(r"https?://\S+$", str(info.get("link", ""))):
        problems.append("no paper link (an http(s) URL to the paper or report; pass --link)")
    for key in ("name", "authors", "venue", "architecture"):
        if key in info and not str(info[key]).strip():
            problems.append(f"empty {key}" + (" (pass --authors)" if key == "authors" else ""))
    extra = info.get("additional_data")
    if extra is not None and not isinstance(extra, bool):  # null: unknown, as RobustBench's ModelInfo allows
        problems.append("additional_data must be true, false or null (unknown)")
    if not isinstance(info.get("number_forward_passes"), int) or info.get("number_forward_passes", 0) < 1:
        problems.append("number_forward_passes must be a whole number >= 1")
    dataset = info.get("dataset")
    if dataset not in TEST_SET_SIZE:
        problems.append(f"dataset must be one of {', '.join(TEST_SET_SIZE)}, not {dataset!r}")
    threat_model = entry.threat_model if entry else None
    board_eps = threat_model_record(threat_model).robustbench_budget if threat_model else None
    if threat_model and info.get("eps") != board_eps:
        small = budgets.board_at(threat_model, str(info.get("eps")))
        problems.append(
            f"eps must be the string {board_eps!r} for {threat_model}, not {info.get('eps')!r}"
            + (" (one of the paper's small budgets: its board is this project's, not RobustBench's)" if small else "")
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
    if aa is None or aa.version != "standard":
        problems.append("the robust accuracy must come from AutoAttack's standard version")
    if aa and aa.precision != "fp32":  # low precision can weaken gradient attacks
        problems.append(f"AutoAttack ran in {aa.precision}; RobustBench numbers must be measured in fp32")
    full = TEST_SET_SIZE.get(dataset or "")  # a missing dataset is reported above
    if full and aa and (aa.n_examples, aa.n_test_total, aa.test_set) != (full, full, dataset):
        problems.append(
            f"AutoAttack ran on {aa.n_examples} images of {aa.test_set} ({aa.n_test_total} in that test set); "
            f"RobustBench needs the full {dataset} test set of {full:,} images"
        )
    # a model trained elsewhere names its training data in its importer's words (the issue text quotes them)
    elsewhere = bool(entry and entry.is_trained_elsewhere) and m.trained_on != "cifar10-sample"
    if m.trained_on != dataset and not elsewhere:
        what = "the bundled 1,500-image sample" if m.trained_on == "cifar10-sample" else m.trained_on
        problems.append(f"the model was trained on {what}, not on the {dataset} training set")
    if entry and m.weights_sha256 != entry.weights_sha256:
        problems.append("the leaderboard numbers are for other weights than the zoo entry now holds")
    return problems


def issue_text(m: BoardEntry, entry: ZooEntry) -> str:
    """RobustBench's "New Model(s)" issue template (.github/ISSUE_TEMPLATE/new-model.md), filled."""
    info, aa, model_id = m.info, m.autoattack, m.model_id
    assert aa is not None  # check_submission: a submission's entry has its AutoAttack
    w = entry.weights
    stored = f"model_zoo/{entry.relative_weights_path} in the sam-bench repository"
    where = w.url or (
        f"{stored} (no public URL recorded: add one with `sam-bench zoo add --url`, or share "
        "the file privately with adversarial.benchmark@gmail.com)"
    )
    if entry.trained_elsewhere is not None:  # its authors' checkpoint and code, the copy evaluated here beside them
        where = f"{entry.trained_elsewhere['source']}; evaluated here from {w.url or stored}"
    extra = info["additional_data"]  # RobustBench's: true, false, or unknown where the importer did not say
    extra_text = "unknown (not stated when the model was imported)" if extra is None else str(extra).lower()
    robustbench_arch = (
        entry.arch["arch"] in ("preactresnet18", "wideresnet-28-10", "wideresnet-16-4")
        and entry.arch.get("width", 1.0) == 1.0
    )
    base_id = model_id.split("_")[0]
    return f"""Title: [New Model] {base_id}

# Paper Information

- **Paper Title**: {markdown(info["name"])}
- **Paper URL**: {markdown(info["link"])}
- **Paper authors**: {markdown(info["authors"])}

# Leaderboard Claim(s)

## Model 1

- **Architecture**: {markdown(info["architecture"])}
- **Threat Model**: {entry.threat_model}
- **eps**: {info["eps"]}
- **Clean accuracy**: {info["clean_acc"]}%
- **Robust accuracy**: {info["autoattack_acc"]}%
- **Additional data**: {extra_text}
- **Training**: {markdown(training_text(entry))}.
- **Evaluation method**: AutoAttack, standard version (APGD-CE, APGD-T, FAB-T, Square), on the full \
{info["dataset"]} test set ({aa.n_examples:,} images), {aa.precision} on \
{markdown(aa.device_name or "unknown device")}; run with `sam-bench evaluate {model_id} --attack autoattack \
--norm {entry.threat_model} --eps {info["eps"]}` (sam-bench {__version__}), weights sha256 {w.sha256}.
- **Checkpoint and code**: {markdown(where)}. Model id in the zoo: `{model_id}`.

# Model Zoo:

- [x] I want to add my models to the Model Zoo (check if true)
- {"[ ]" if robustbench_arch else "[x]"} I use an architecture that is **not** included among
  those [here](https://github.com/RobustBench/robustbench/tree/master/robustbench/model_zoo/architectures) (
  check if true).
- [ ] I agree to release my model(s) under MIT license (check if true) **OR**
- [ ] I want my models to be released under a custom license, located here: (custom license URL
  here)
"""


def submit(
    model_id: str,
    leaderboard_dir=None,
    zoo_dir=None,
    out_dir=None,
    paper: dict | None = None,
    *,
    data_dir=None,
    device: str = "cpu",
    progress=None,
    threat_model: str | None = None,
) -> list[Path]:
    """Check that a leaderboard entry qualifies for RobustBench and write <out_dir>/<ModelId>.json (upstream
    model_info, without our extras) and <out_dir>/issue.md. Refuses with every reason; an entry that qualifies has
    its evidence measured again before anything is written. `threat_model`: the board to send (default: the zoo
    entry's); a threat model with boards of its own is submitted by its board's module (own_boards)."""
    board = own_board(threat_model)
    if board is not None:
        return board.submit(
            model_id,
            leaderboard_dir,
            zoo_dir,
            out_dir,
            paper,
            data_dir=data_dir,
            device=device,
            progress=progress,
            check_evidence=publication.check_evidence,
        )
    entry = zoo.find_entry(model_id, zoo_dir)
    # RobustBench's board of the model's threat model: the small-budget boards are never sent
    path = entry_path(entry.dataset, budgets.robustbench_board(entry.threat_model), model_id, leaderboard_dir)
    if not path.is_file():
        raise BadInput(
            f"{model_id} has no leaderboard entry ({path}); run sam-bench evaluate {model_id} "
            f"--attack autoattack --leaderboard first"
        )
    info = read_entry(path)
    check_entry(info, entry.threat_model, str(path), leaderboard_dir)  # its figures are its evidence's
    info.update({k: v for k, v in (paper or {}).items() if v is not None})
    m = BoardEntry.of(info, model_id)
    problems = check_submission(m, entry)
    report = zoo.verify(model_id, zoo_dir)[0]
    if not report[1]:
        problems.append(f"the weights do not verify: {report[2]}")
    if problems:
        raise BadInput(f"{model_id} does not qualify for RobustBench: " + "; ".join(problems))
    for file in dict.fromkeys(file for file, _ in figure_refs(info["sam_bench"]) if file):  # each measured again
        path = results_path(file, leaderboard_dir)
        publication.check_evidence(path, entry, zoo_dir=zoo_dir, data_dir=data_dir, device=device, progress=progress)
    out = Path(out_dir) if out_dir is not None else CHECKOUT / "submissions" / model_id
    files.write_json(out / f"{model_id}.json", {k: info[k] for k in MODEL_INFO_KEYS})  # upstream's fields alone
    files.write_text(out / "issue.md", issue_text(m, entry))
    return [out / f"{model_id}.json", out / "issue.md"]
