"""Bad inputs and hand-edited files, one row each: the command, what was broken, the exit code and the
one line that must name the problem. Every row also checks that no traceback came out,
that the error is one line, and that the files named in `kept` are byte for byte as before (nothing lost).

The world every row starts from (built once, copied per row): a finished run on the bundled sample,
its zoo entry, a results file of a quick AutoAttack on 32 images, and a leaderboard entry from it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from sam_bench.cli import cli

MODEL_ID = "SamBench2026Standard_t"
ENTRY = f"zoo/cifar10/Linf/{MODEL_ID}.json"
TINY = ["--arch", "preactresnet18", "--width", "0.125", "--batch-size", "64", "--device", "cpu", "--quiet"]


def invoke(args: list[str]):
    return CliRunner().invoke(cli, args)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("world")
    steps = [
        ["train", "--dataset", "cifar10-sample", "--epochs", "1", "--n-train", "128", "--out", str(w / "run"), *TINY],
        ["zoo", "add", str(w / "run"), "--id", MODEL_ID, "--zoo-dir", str(w / "zoo")],
        # the sample's leaderboard takes a quick AutoAttack: APGD-CE alone, 32 images
        [
            "evaluate",
            MODEL_ID,
            "--zoo-dir",
            str(w / "zoo"),
            "--attack",
            "autoattack",
            "--attacks",
            "apgd-ce",
            "--n-examples",
            "32",
            "--device",
            "cpu",
            "--quiet",
            "--out",
            str(w / "aa.json"),
        ],
        ["leaderboard", "add", str(w / "aa.json"), "--zoo-dir", str(w / "zoo"), "--leaderboard-dir", str(w / "boards")],
    ]
    for args in steps:
        r = invoke(args)
        assert r.exit_code == 0, r.output
    return w


# ------------------------------------------------------------------ edits a row makes to its world


def edit_json(relative: str, change):
    def setup(w: Path) -> None:
        data = json.loads((w / relative).read_text())
        data = change(data)
        (w / relative).write_text(json.dumps(data))

    return setup


def robust_on_clean_errors(data: dict) -> dict:
    """The first evaluation's robust images moved onto images the clean pass got wrong (the same count, so every
    accuracy beside them still agrees with them)."""
    from sam_bench.evaluation import outcomes

    clean = outcomes.decode(data["clean_outcomes"])
    ev = data["evaluations"][0]
    robust = outcomes.decode(ev["outcomes"])
    wrong = np.flatnonzero(~clean[: robust.size])
    assert robust.sum() >= 1 and wrong.size >= robust.sum(), "the world has robust images and clean errors to move"
    moved = np.zeros_like(robust)
    moved[wrong[: int(robust.sum())]] = True
    ev["outcomes"] = outcomes.encode(moved, ev["outcomes"]["start"])
    return data


def setting(path: str, value):
    """An edit that sets one field, e.g. setting('arch.std', [0, 0, 0])."""

    def change(data):
        node = data
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node[key]
        node[keys[-1]] = value
        return data

    return change


def both(*setups):
    def setup(w: Path) -> None:
        for s in setups:
            s(w)

    return setup


def write_file(relative: str, text: str):
    def setup(w: Path) -> None:
        (w / relative).write_text(text)

    return setup


def npz(**changes):
    """A cifar10.npz of 64 + 16 random images with some arrays replaced."""

    def setup(w: Path) -> None:
        rng = np.random.default_rng(0)
        arrays = {
            "x_train": rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8),
            "y_train": rng.integers(0, 10, 64),
            "x_test": rng.integers(0, 256, (16, 32, 32, 3), dtype=np.uint8),
            "y_test": rng.integers(0, 10, 16),
        }
        arrays.update({k: v(arrays) if callable(v) else v for k, v in changes.items()})
        np.savez(w / "cifar10.npz", **arrays)

    return setup


RECIPE = {
    "name": "r",
    "dataset": "cifar10-sample",
    "train": {"arch": "preactresnet18", "width": 0.125, "epochs": 1, "batch_size": 64, "n_train": 128},
    "models": [{"name": "ST", "method": "standard"}, {"name": "AT", "method": "at", "attack_eps": "2/255"}],
    "evaluation": {"n_examples": 32, "pgd": {"Linf": {"eps": ["2/255"], "step_fraction": 0.25}}},
    "scales": {"s": {"publish": False, "models": ["ST"]}},
}


def recipe(change):
    def setup(w: Path) -> None:
        data = json.loads(json.dumps(RECIPE))
        change(data)
        (w / "r.yaml").write_text(yaml.safe_dump(data))

    return setup


def train_args(*extra: str) -> list[str]:
    return [
        "train",
        "--dataset",
        "cifar10-sample",
        "--epochs",
        "1",
        "--n-train",
        "64",
        "--out",
        "{w}/new",
        *TINY,
        *extra,
    ]


LB_ADD = ["leaderboard", "add", "{w}/aa.json", "--zoo-dir", "{w}/zoo", "--leaderboard-dir", "{w}/boards"]
BOARD = f"boards/cifar10/Linf/{MODEL_ID}.json"
STATUS = ["reproduce", "{w}/r.yaml", "--scale", "s", "--status", "--out", "{w}/repro"]
EVAL_RUN = ["evaluate", "{w}/run", "--attack", "clean", "--n-examples", "8", "--quiet", "--out", "{w}/e.json"]


@dataclass
class Case:
    id: str
    args: list[str]
    code: int
    message: str
    setup: object = None
    kept: list[str] = field(default_factory=list)  # files that must come through unchanged


CASES = [
    # 1. leaderboard add checks a results file against its own evidence
    Case(
        "lb-robust-above-clean",
        LB_ADD,
        1,
        "robust_acc 0.9 is above clean_acc",
        edit_json("aa.json", setting("evaluations.0.robust_acc", 0.9)),
        [BOARD],
    ),
    Case(
        "lb-accuracy-against-outcomes",
        LB_ADD,
        1,
        "clean_acc is 0.1875, the per-image outcomes give 0.0625",
        edit_json("aa.json", setting("evaluations.0.clean_acc", 0.1875)),  # 2 of 32 images correct, not 6
        [BOARD],
    ),
    Case(
        "lb-n-beyond-test-set",
        LB_ADD,
        1,
        "exceeds the test set's 500 images",
        edit_json("aa.json", setting("dataset.n_examples", 10000)),
        [BOARD],
    ),
    Case(
        "lb-test-set-size",
        LB_ADD,
        1,
        "the cifar10-sample test set has 500 images, the results say 10,000",
        edit_json("aa.json", setting("dataset.n_test_total", 10000)),
        [BOARD],
    ),
    Case(
        "lb-relabelled-test-set",  # the sample's 32 images passed off as the first 32 of CIFAR-10's 10,000
        LB_ADD,
        1,
        "dataset.name is 'cifar10', but its fingerprint is cifar10-sample's",
        edit_json("aa.json", lambda d: setting("dataset.n_test_total", 10000)(setting("dataset.name", "cifar10")(d))),
        [BOARD],
    ),
    Case(
        "lb-robust-where-clean-wrong",  # as many robust bits as before, moved onto images the clean pass got wrong
        LB_ADD,
        1,
        "robust that the clean pass got wrong, which no attack can give",
        edit_json("aa.json", lambda d: robust_on_clean_errors(d)),
        [BOARD],
    ),
    Case(
        "lb-eval-n-beyond-images",
        LB_ADD,
        1,
        "n_examples (64) exceeds the 32 images evaluated",
        edit_json("aa.json", setting("evaluations.0.n_examples", 64)),
        [BOARD],
    ),
    Case(
        "lb-data-sha256",
        LB_ADD,
        1,
        "are not the copy",
        edit_json("aa.json", setting("dataset.sha256", "0" * 64)),
        [BOARD],
    ),
    Case(
        "lb-model-null",
        LB_ADD,
        1,
        "model: null is not a mapping",
        edit_json("aa.json", setting("model", None)),
        [BOARD],
    ),
    Case(
        "lb-fraction-range",
        LB_ADD,
        1,
        "clean_acc: 25 is above the maximum 1",
        edit_json("aa.json", setting("clean_acc", 25)),
        [BOARD],
    ),
    Case(
        "render-sam-bench-null",
        ["leaderboard", "render", "--leaderboard-dir", "{w}/boards"],
        1,
        "sam_bench: null is not a mapping",
        edit_json(BOARD, setting("sam_bench", None)),
    ),
    Case(
        "render-percent-range",
        ["leaderboard", "render", "--leaderboard-dir", "{w}/boards"],
        1,
        'autoattack_acc: "250" is not in the expected form',
        edit_json(BOARD, setting("autoattack_acc", "250")),
    ),
    # 2, 3. evaluate never replaces what it should not
    Case(
        "eval-out-not-results",
        [*EVAL_RUN[:-1], "{w}/notes.txt"],
        2,
        "notes.txt exists and is not a results file",
        write_file("notes.txt", "my notes\n"),
        ["notes.txt"],
    ),
    Case(
        "eval-out-of-another-model",
        [*EVAL_RUN[:-1], "{w}/aa.json"],
        2,
        "holds the results of another model",
        edit_json("aa.json", setting("model.weights_sha256", "b" * 64)),  # as if another model's
        ["aa.json"],
    ),
    Case(
        "eval-out-same-model-other-settings",
        ["evaluate", MODEL_ID, "--zoo-dir", "{w}/zoo", "--attack", "clean", "--quiet", "--out", "{w}/aa.json"],
        2,
        "holds this model's results with other settings",
        None,
        ["aa.json"],
    ),
    # 4. what a run or zoo entry declares is checked before a model is built from it
    Case(
        "run-std-zero",
        EVAL_RUN,
        1,
        "arch.std[0]: 0 is not above 0",
        edit_json("run/metadata.json", setting("arch.std", [0, 0, 0])),
    ),
    Case("run-metadata-list", EVAL_RUN, 1, "is not a mapping", write_file("run/metadata.json", "[1, 2]")),
    Case(
        "run-width-text",
        EVAL_RUN,
        1,
        'arch.width: "abc" is not a number',
        edit_json("run/metadata.json", setting("arch.width", "abc")),
    ),
    Case(
        "run-num-classes-text",
        EVAL_RUN,
        1,
        'arch.num_classes: "10" is not a whole number',
        edit_json("run/metadata.json", setting("arch.num_classes", "10")),
    ),
    Case(
        "run-two-value-mean",
        ["zoo", "add", "{w}/run", "--id", "SamBench2026Standard_u", "--zoo-dir", "{w}/zoo"],
        1,
        "arch.mean: has 2 items, needs at least 3",
        edit_json("run/metadata.json", setting("arch.mean", [0.5, 0.5])),
    ),
    Case(
        "zoo-add-to-a-file",
        ["zoo", "add", "{w}/run", "--id", "SamBench2026Standard_u", "--zoo-dir", "{w}/notes.txt"],
        2,
        "a file, not a folder",
        write_file("notes.txt", "x"),
        ["notes.txt"],
    ),
    Case(
        "zoo-entry-std-zero",
        ["zoo", "verify", "--zoo-dir", "{w}/zoo"],
        1,
        "1 of 1 entries failed verification",
        edit_json(ENTRY, setting("arch.std", [0, 0, 0])),
    ),
    # 5. an edited sha256 in a zoo entry
    Case(
        "zoo-verify-edited-sha256",
        ["zoo", "verify", "--zoo-dir", "{w}/zoo"],
        1,
        "1 of 1 entries failed verification",
        edit_json(ENTRY, setting("weights_sha256", "a" * 64)),
    ),
    Case(
        "eval-zoo-edited-sha256",
        ["evaluate", MODEL_ID, "--zoo-dir", "{w}/zoo", "--attack", "clean", "--quiet", "--out", "{w}/e.json"],
        1,
        "weights_sha256 (aaaaaaaaaaaa...) differs from weights.sha256",
        edit_json(ENTRY, setting("weights_sha256", "a" * 64)),
    ),
    Case(
        "zoo-entry-no-weights",
        ["evaluate", MODEL_ID, "--zoo-dir", "{w}/zoo", "--attack", "clean", "--quiet", "--out", "{w}/e.json"],
        1,
        "missing 'weights'",
        edit_json(ENTRY, lambda d: {k: v for k, v in d.items() if k != "weights"}),
    ),
    Case(
        "zoo-entry-sha256-number",
        ["evaluate", MODEL_ID, "--zoo-dir", "{w}/zoo", "--attack", "clean", "--quiet", "--out", "{w}/e.json"],
        1,
        "weights_sha256: 12 is not a string",
        edit_json(ENTRY, setting("weights_sha256", 12)),
    ),
    # 6, 8. data files
    Case(
        "npz-empty-test",
        ["train", "--dataset", "cifar10", "--data-dir", "{w}", "--epochs", "1", "--out", "{w}/new", *TINY],
        2,
        "x_test must be uint8",
        npz(x_test=np.zeros((0,), np.uint8)),
    ),
    Case(
        "npz-empty-split",
        ["train", "--dataset", "cifar10", "--data-dir", "{w}", "--epochs", "1", "--out", "{w}/new", *TINY],
        2,
        "the test split is empty",
        npz(x_test=np.zeros((0, 32, 32, 3), np.uint8), y_test=np.zeros((0,), np.int64)),
    ),
    Case(
        "npz-one-hot",
        ["train", "--dataset", "cifar10", "--data-dir", "{w}", "--epochs", "1", "--out", "{w}/new", *TINY],
        2,
        "y_train must hold one whole-number class label per image",
        npz(y_train=lambda a: np.eye(10)[a["y_train"]]),
    ),
    Case(
        "npz-nan-labels",
        ["train", "--dataset", "cifar10", "--data-dir", "{w}", "--epochs", "1", "--out", "{w}/new", *TINY],
        2,
        "y_test must hold one whole-number class label",
        npz(y_test=np.full(16, np.nan)),
    ),
    Case(
        "npz-string-labels",
        ["train", "--dataset", "cifar10", "--data-dir", "{w}", "--epochs", "1", "--out", "{w}/new", *TINY],
        2,
        "y_train must hold one whole-number class label",
        npz(y_train=np.array(["cat"] * 64)),
    ),
    Case(
        "npz-bool-labels",
        ["train", "--dataset", "cifar10", "--data-dir", "{w}", "--epochs", "1", "--out", "{w}/new", *TINY],
        2,
        "got bool",
        npz(y_test=np.zeros(16, bool)),
    ),
    # 6, 7. recipes: wrong types and typos, refused when the recipe is read (--status too)
    Case(
        "recipe-epochs-text",
        STATUS,
        2,
        'epochs: "one" is not a whole number',
        recipe(lambda r: r["train"].update(epochs="one")),
    ),
    Case(
        "recipe-epochs-fraction",
        STATUS,
        2,
        "epochs: 1.7 is not a whole number",
        recipe(lambda r: r["train"].update(epochs=1.7)),
    ),
    Case(
        "recipe-models-text",
        STATUS,
        2,
        'scales.s.models: "ST" is not a list',
        recipe(lambda r: r["scales"]["s"].update(models="ST")),
    ),
    Case(
        "recipe-width-text",
        STATUS,
        2,
        'width: "0.125" is not a number',
        recipe(lambda r: r["train"].update(width="0.125")),
    ),
    Case(
        "recipe-n-examples-text",
        STATUS,
        2,
        'evaluation.n_examples: "all" is not a whole number',
        recipe(lambda r: r["evaluation"].update(n_examples="all")),
    ),
    Case(
        "recipe-step-fraction-text",
        STATUS,
        2,
        'step_fraction: "quarter" is not a number',
        recipe(lambda r: r["evaluation"]["pgd"]["Linf"].update(step_fraction="quarter")),
    ),
    Case(
        "recipe-typo-n-examples",
        STATUS,
        2,
        "unknown key 'n_exmples' (did you mean 'n_examples'?)",
        recipe(lambda r: r["evaluation"].update(n_exmples=32)),
    ),
    Case(
        "recipe-typo-scale-train",
        STATUS,
        2,
        "scales.s: unknown key 'trian' (did you mean 'train'?)",
        recipe(lambda r: r["scales"]["s"].update(trian={"epochs": 2})),
    ),
    Case(
        "recipe-typo-setting",
        STATUS,
        2,
        "unknown setting 'epoch'; did you mean 'epochs'?",
        recipe(lambda r: r["train"].update(epoch=2)),
    ),
    Case(
        "recipe-eps-names-file-and-model",
        STATUS,
        2,
        "r.yaml: model 'AT': ",
        recipe(lambda r: (r["models"][1].update(attack_eps="8/0"), r["scales"]["s"].update(models=["AT"]))),
    ),
    Case(
        "recipe-rho-inf",
        STATUS,
        2,
        "rho: inf is not a finite number",
        recipe(lambda r: r["models"][0].update(method="sam", rho=float("inf"))),
    ),
    # 8. options that do not apply, and ranges
    Case(
        "train-attack-eps-standard",
        train_args("--attack-eps", "4/255"),
        2,
        "--attack-eps applies to the methods that train on attacks "
        "(at, sam-at, fgsm-rs, n-fgsm, fgsm, trades, awp-at, awp-trades)",
    ),
    Case(
        "train-attack-steps-standard",
        train_args("--attack-steps", "5"),
        2,
        "--attack-steps applies to the methods that train on attacks",
    ),
    Case("train-attack-norm-sam", train_args("--method", "sam", "--attack-norm", "L2"), 2, "--attack-norm applies"),
    Case("train-rho-inf", train_args("--method", "sam", "--rho", "inf"), 2, "rho: inf is not a finite number"),
    Case(
        "train-max-minutes-negative",
        train_args("--max-minutes", "-5"),
        2,
        "--max-minutes must be a number of minutes > 0",
    ),
    Case("train-stop-after-zero", train_args("--stop-after-epochs", "0"), 2, "--stop-after-epochs must be >= 1"),
    # settings that would be recorded (and key the run) without changing what it trains
    Case(
        "train-sam-perturbation-standard",
        train_args("--sam-perturbation", "global"),
        2,
        "--sam-perturbation applies to the SAM methods (sam, asam, sam-at), not to standard",
    ),
    Case(
        "train-per-worker-alone",
        train_args("--method", "sam", "--sam-perturbation", "per-worker"),
        2,
        "--sam-perturbation per-worker splits SAM's ascent step between torchrun's processes",
    ),
    Case(
        "train-data-dir-of-the-sample",
        train_args("--data-dir", "{w}"),
        2,
        "--data-dir is where cifar10 or cifar100 is read from; --dataset cifar10-sample reads no files",
    ),
    Case(
        "train-attack-step-zero",
        train_args("--method", "at", "--attack-step-size", "0"),
        2,
        "--attack-step-size must be above 0, got 0",
    ),
    Case(
        "train-awp-warmup-all-epochs",
        train_args("--method", "awp-at", "--awp-warmup", "1"),
        2,
        "--awp-warmup 1 is not below --epochs 1: the weight perturbation would never start",
    ),
    Case("eval-clean-eps", [*EVAL_RUN, "--eps", "1/255"], 2, "--eps applies to --attack pgd or autoattack"),
    Case("eval-clean-steps", [*EVAL_RUN, "--steps", "5"], 2, "--steps applies to --attack pgd, not to --attack clean"),
    # 9. messages that name the problem and the way forward
    Case(
        "train-out-a-file",
        ["train", "--dataset", "cifar10-sample", "--epochs", "1", "--out", "{w}/notes.txt", *TINY],
        2,
        "is a file, not a folder",
        write_file("notes.txt", "x"),
        ["notes.txt"],
    ),
    Case(
        "train-arch-kwargs",
        train_args("--arch", "timm:resnet18", "--arch-kwargs", "channels==4"),
        2,
        "'channels==4' is not KEY=VALUE",
    ),
    Case(
        "eval-plot-not-an-image",
        [
            "evaluate",
            "{w}/run",
            "--attack",
            "pgd",
            "--n-examples",
            "8",
            "--quiet",
            "--out",
            "{w}/e.json",
            "--plot",
            "{w}/p.txt",
        ],
        2,
        "--plot {w}/p.txt: name an image file",
    ),
    # from a sweep of every command: unchecked, each of these is a traceback, a crash later on, or a silent pass
    Case(
        "train-device-torch-knows",
        ["train", "--dataset", "cifar10-sample", "--epochs", "1", "--out", "{w}/n", *TINY[:-3], "--device", "mps"],
        2,
        "--device mps: sam-bench runs on cpu or cuda",
    ),
    Case(
        "train-seed-past-64-bits",
        ["train", "--dataset", "cifar10-sample", "--epochs", "1", "--out", "{w}/n", *TINY, "--seed", "9" * 20],
        2,
        f"--seed: {'9' * 20} is above the maximum 4294967295",
    ),
    Case(
        "evaluate-negative-seed",
        ["evaluate", MODEL_ID, "--zoo-dir", "{w}/zoo", "--attack", "pgd", "--seed", "-1", "--out", "{w}/e.json"],
        2,
        "-1 is not in the range 0<=x<=4294967295",
    ),
    Case(
        "recipe-not-text",
        STATUS,
        2,
        "r.yaml: not UTF-8 text",
        lambda w: (w / "r.yaml").write_bytes(bytes(range(128, 256)) * 4),
    ),
    Case(
        "render-readme-missing",
        ["leaderboard", "render", "--leaderboard-dir", "{w}/boards", "--readme", "{w}/nothere.md"],
        2,
        "nothere.md: file not found",
    ),
    Case(
        "zoo-verify-no-such-folder",
        ["zoo", "verify", "--zoo-dir", "{w}/no-zoo"],
        2,
        "no-zoo: no such folder",
    ),
    Case(
        "evaluate-attacks-naming-nothing",
        [
            *["evaluate", MODEL_ID, "--zoo-dir", "{w}/zoo", "--attack", "autoattack", "--attacks", ","],
            *["--n-examples", "4", "--out", "{w}/e.json"],
        ],
        2,
        "--attacks ',' names nothing",
    ),
    Case(
        "evaluate-restarts-of-standard-autoattack",
        [
            *["evaluate", MODEL_ID, "--zoo-dir", "{w}/zoo", "--attack", "autoattack", "--restarts", "3"],
            *["--n-examples", "4", "--out", "{w}/e.json"],
        ],
        2,
        "--restarts applies to AutoAttack --version custom; --version standard sets its own",
    ),
    Case(
        "slurm-option-of-a-local-grid",
        ["reproduce", "{w}/r.yaml", "--scale", "s", "--out", "{w}/repro", "--slurm-partition", "gpu"],
        2,
        "--slurm-partition is for --executor slurm; this grid runs locally",
        recipe(lambda r: None),
    ),
    Case(
        "timm-argument-of-the-wrong-type",
        [
            *["train", "--dataset", "cifar10-sample", "--epochs", "1", "--out", "{w}/n", "--device", "cpu"],
            *["--arch", "timm:vit_tiny_patch16_224", "--arch-kwargs", "depth=abc", "--quiet"],
        ],
        2,
        "timm model 'vit_tiny_patch16_224' cannot be built with",
    ),
    Case(
        "slurm-time-below-a-minute",
        ["reproduce", "{w}/r.yaml", "--scale", "s", "--executor", "slurm", "--slurm-time", "-5", "--dry-run"],
        2,
        "the time limit must be 1 minute or more, got -5",
        recipe(lambda r: None),
    ),
    # a file of another kind is named as such, not as an unknown id, tampering or a file it made up
    Case(
        "evaluate-a-file-of-no-model",
        ["evaluate", "{w}/notes.txt", "--attack", "clean", "--quiet", "--out", "{w}/e.json"],
        2,
        "notes.txt: a file that holds no model; give a run directory, a .safetensors checkpoint or a zoo id",
        write_file("notes.txt", "x"),
    ),
    Case(
        "recheck-a-file-of-no-results",
        ["recheck", f"{{w}}/{ENTRY}", "--zoo-dir", "{w}/zoo", "--quiet"],
        2,
        f"{MODEL_ID}.json: not a sam-bench results file (its schema is 'sam-bench/zoo-entry/v1')",
    ),
    # recheck: the weights must be the ones the results measured; a damaged record is refused before any work
    Case(
        "recheck-other-weights",
        ["recheck", "{w}/aa.json", "--zoo-dir", "{w}/zoo", "--quiet"],
        2,
        f"{MODEL_ID} holds other weights (sha256 ",
        edit_json("aa.json", setting("model.weights_sha256", "0" * 64)),
        ["aa.json"],
    ),
    Case(
        "recheck-damaged-record",
        ["recheck", "{w}/aa.json", "--zoo-dir", "{w}/zoo", "--quiet", "--out", "{w}/recheck.json"],
        1,
        'recheck.json: identical: "yes" is not true or false; delete it and run sam-bench recheck again',
        write_file(
            "recheck.json",
            '{"schema": "sam-bench/recheck/v1", "created": "2026-11-24T00:00:00+00:00", "models": [],'
            ' "identical": "yes", "images_differing": 0}',
        ),
        ["recheck.json", "aa.json"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_clear_line(base, tmp_path, case):
    w = tmp_path / "w"
    shutil.copytree(base, w)
    if case.setup is not None:
        case.setup(w)
    before = {name: (w / name).read_bytes() for name in case.kept}
    r = invoke([a.replace("{w}", str(w)) for a in case.args])
    assert isinstance(r.exception, SystemExit), f"{r.exception!r}\n{r.output}"  # a traceback otherwise
    assert r.exit_code == case.code, r.output
    assert "Traceback" not in r.output
    errors = [line for line in r.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, r.output
    assert case.message.replace("{w}", str(w)) in errors[0], r.output
    for name, data in before.items():
        assert (w / name).read_bytes() == data, f"{name} changed"


def test_evaluate_keeps_both_when_a_default_name_is_taken(base, tmp_path, monkeypatch):
    """Two budgets one after the other, to the same default name: the second moves on to -2, says so,
    and the first is kept; the same command again replaces its own file (-2), not the first."""
    monkeypatch.chdir(tmp_path)
    shutil.copytree(base / "run", tmp_path / "run")
    args = ["evaluate", "run", "--attack", "pgd", "--steps", "1", "--n-examples", "8", "--quiet", "--eps"]
    assert invoke([*args, "1/255"]).exit_code == 0
    first = (tmp_path / "results" / "run_pgd_Linf.json").read_bytes()
    r = invoke([*args, "2/255"])
    assert r.exit_code == 0, r.output
    assert "holds this model's results with other settings" in r.output and "run_pgd_Linf-2.json" in r.output
    assert (tmp_path / "results" / "run_pgd_Linf.json").read_bytes() == first
    assert json.loads((tmp_path / "results" / "run_pgd_Linf-2.json").read_text())["evaluations"][0]["eps"] == "2/255"
    assert invoke([*args, "2/255"]).exit_code == 0
    assert sorted(p.name for p in (tmp_path / "results").glob("*.json")) == ["run_pgd_Linf-2.json", "run_pgd_Linf.json"]


def test_results_written_meanwhile_by_another_evaluation_are_kept(base, tmp_path, monkeypatch):
    """Two evaluations of different models to one --out: the one that finishes second finds the other's
    file there (written after its own start) and writes beside it instead of over it."""
    from sam_bench.evaluation import evaluate as ev

    other = json.loads((base / "aa.json").read_text())
    other["model"]["weights_sha256"] = "b" * 64  # the zoo copy of the run has the run's own weights
    out = tmp_path / "r.json"
    honest = ev.evaluate

    def evaluate_while_another_writes(*args, **kwargs):
        results = honest(*args, **kwargs)
        out.write_text(json.dumps(other))  # the other evaluation finishes first
        return results

    monkeypatch.setattr(ev, "evaluate", evaluate_while_another_writes)
    r = invoke(["evaluate", str(base / "run"), "--attack", "clean", "--n-examples", "8", "--quiet", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "holds the results of another model" in r.output and "r-2.json" in r.output
    assert json.loads(out.read_text()) == other
    assert json.loads((tmp_path / "r-2.json").read_text())["model"]["kind"] == "run"


def test_a_full_disk_while_saving_a_checkpoint_is_one_line(tmp_path, monkeypatch):
    import torch

    def full(obj, f, *args, **kwargs):  # what torch's zip writer raises when the disk fills up
        raise RuntimeError("[enforce fail at inline_container.cc:778] . PytorchStreamWriter failed writing file data/0")

    monkeypatch.setattr(torch, "save", full)
    r = invoke([a.replace("{w}", str(tmp_path)) for a in train_args("--checkpoint-every", "0")])
    assert isinstance(r.exception, SystemExit) and r.exit_code == 1, r.output
    assert "the disk is full" in r.output and "--resume" in r.output and "Traceback" not in r.output


def test_a_corrupt_checkpoint_names_the_way_forward(base, tmp_path):
    out = tmp_path / "run"
    args = ["train", "--dataset", "cifar10-sample", "--epochs", "2", "--n-train", "64", "--out", str(out), *TINY]
    assert invoke([*args, "--stop-after-epochs", "1"]).exit_code == 0
    (out / "checkpoint.pt").write_bytes(b"not a checkpoint")
    r = invoke([*args, "--resume"])
    assert isinstance(r.exception, SystemExit) and r.exit_code == 1, r.output
    assert "corrupted or unreadable checkpoint" in r.output and "delete it and run the same command again" in r.output


def test_sigterm_during_training_says_what_is_kept_and_how_to_resume(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "run"
    args = ["train", "--dataset", "cifar10-sample", "--epochs", "200", "--n-train", "64", "--checkpoint-every", "0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "sam_bench", *args, "--out", str(out), *TINY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    while not (out / "checkpoint.pt").is_file() and process.poll() is None:  # the first checkpoint, or the end
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate()
    assert process.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert f"continue with sam-bench train --out {out} --resume" in err, err


def test_interrupts_before_anything_is_kept_say_so_and_how_to_start_again(base, tmp_path, monkeypatch):
    from sam_bench.evaluation import evaluate as ev
    from sam_bench.training import loop

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ev, "evaluate", interrupted)
    r = invoke(["evaluate", str(base / "run"), "--attack", "clean", "--quiet", "--out", str(tmp_path / "e.json")])
    assert r.exit_code == 1 and "nothing is kept; run the same command again to start over" in r.output, r.output
    assert ".partial.json" not in r.output  # no claim of a file that does not exist

    monkeypatch.setattr(loop, "train", interrupted)
    r = invoke([a.replace("{w}", str(tmp_path)) for a in train_args()])
    assert r.exit_code == 1 and f"sam-bench train --out {tmp_path}/new --resume" in r.output, r.output
