"""What reaches a board is measured again first: a results file whose labels or outcomes were edited (a budget
relabelled, outcomes forged together with every figure, the results given to another zoo model) is refused by
`leaderboard add`, its sample measured again from the weights (sam_bench/evaluation/spot_check.py); a run whose
metadata its log contradicts (an edited `config.lr` or `config.epochs`) is refused by `train --resume`, `zoo add`
and `leaderboard add` (sam_bench/training/run_check.py). Genuine files and runs pass.

The world (built once, copied per test): a standard model trained on the bundled sample well enough that
APGD-CE at Linf 1/255 leaves some images correct and at 8/255 none, another model, both in a zoo, and genuine
evaluations of the first on 64 test images."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.evaluation import outcomes

A, B = "SamBench2026Standard_evidenceA", "SamBench2026Standard_evidenceB"
TINY = ["--arch", "preactresnet18", "--width", "0.125", "--batch-size", "64", "--device", "cpu", "--quiet"]
QUICK_AA = ["--attack", "autoattack", "--version", "custom", "--attacks", "apgd-ce"]
STANDARD = ["apgd-ce", "apgd-t", "fab-t", "square"]


def invoke(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output, result.output
    return result


def one_error(result) -> str:
    """The refusal's one line (exit 1 or 2, nothing else said to be wrong)."""
    assert result.exit_code in (1, 2), result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    w = tmp_path_factory.mktemp("evidence")
    evaluate = ["--zoo-dir", w / "zoo", "--n-examples", "64", "--device", "cpu", "--quiet"]
    steps = [
        ["train", "--dataset", "cifar10-sample", "--epochs", "3", "--lr", "0.02", "--out", w / "run_a", *TINY],
        ["train", "--dataset", "cifar10-sample", "--epochs", "1", "--n-train", "256", "--seed", "1"]
        + ["--out", w / "run_b", *TINY],
        ["zoo", "add", w / "run_a", "--id", A, "--zoo-dir", w / "zoo"],
        ["zoo", "add", w / "run_b", "--id", B, "--zoo-dir", w / "zoo"],
        ["evaluate", A, *QUICK_AA, "--eps", "1/255", *evaluate, "--out", w / "aa1.json"],
        ["evaluate", A, *QUICK_AA, "--eps", "8/255", *evaluate, "--out", w / "aa8.json"],
        ["evaluate", A, "--attack", "pgd", "--eps", "1/255,8/255", *evaluate, "--out", w / "pgd.json"],
        ["evaluate", A, "--attack", "pgd", "--steps", "1", "--eps", "8/255", *evaluate, "--out", w / "pgd1.json"],
    ]
    for args in steps:
        result = invoke(*args)
        assert result.exit_code == 0, result.output
    aa1, aa8, pgd = (json.loads((w / f).read_text()) for f in ("aa1.json", "aa8.json", "pgd.json"))
    counts = {
        "clean": round(pgd["clean_acc"] * 64),
        "APGD-CE 1/255": round(aa1["evaluations"][0]["robust_acc"] * 64),
        "APGD-CE 8/255": round(aa8["evaluations"][0]["robust_acc"] * 64),
        "PGD 8/255": round(pgd["evaluations"][1]["robust_acc"] * 64),
    }
    # what the edits below rely on: images robust at 1/255 that 8/255 fools, clean images PGD at 8/255 fools
    assert counts["APGD-CE 1/255"] - counts["APGD-CE 8/255"] >= 8, counts
    assert counts["clean"] - counts["PGD 8/255"] >= 8, counts
    return w


@pytest.fixture
def world(built, tmp_path) -> Path:
    shutil.copytree(built, tmp_path / "w")
    return tmp_path / "w"


def edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def add(w: Path, results: str):
    return invoke("leaderboard", "add", w / results, "--zoo-dir", w / "zoo", "--leaderboard-dir", w / "boards")


BOARD = f"boards/cifar10/Linf/{A}.json"


def test_genuine_results_pass_their_spot_check_and_are_written(world):
    result = add(world, "aa8.json")
    assert result.exit_code == 0, result.output
    assert "agree with the weights" in result.output and (world / BOARD).is_file()
    result = add(world, "pgd.json")
    assert result.exit_code == 0, result.output
    assert "3 evaluations agree with the weights" in result.output  # clean, PGD 1/255 and 8/255


def relabel_budget(ev: dict) -> None:
    ev["eps"], ev["eps_value"] = "8/255", 8 / 255


def relabel_as_standard(ev: dict) -> None:
    relabel_budget(ev)
    ev["settings"].update(version="standard", attacks=STANDARD)
    ev["settings"].pop("restarts", None)
    robust = ev["breakdown"]["apgd-ce"]
    ev["breakdown"] = {"clean": ev["breakdown"]["clean"], **dict.fromkeys(STANDARD, robust)}


@pytest.mark.parametrize("relabel", [relabel_budget, relabel_as_standard], ids=["eps", "eps-and-version"])
def test_a_relabelled_budget_is_refused_at_add(world, relabel):
    """APGD-CE at Linf 1/255 relabelled as AutoAttack at the board's 8/255: every figure still agrees with the
    outcomes, and the board would have shown the 1/255 accuracy at 8/255."""
    edit(world / "aa1.json", lambda r: relabel(r["evaluations"][0]))
    error = one_error(add(world, "aa1.json"))
    assert "autoattack Linf 8/255" in error and "sampled images it records robust, autoattack (" in error
    assert "states more robustness than its weights have" in error
    assert not (world / BOARD).exists()


def test_a_label_that_disagrees_with_itself_is_refused_before_anything_runs(world):
    edit(world / "aa1.json", lambda r: r["evaluations"][0].update(eps="8/255"))  # eps_value left at 1/255
    assert "eps is '8/255' but eps_value is 0.00392157 (1/255)" in one_error(add(world, "aa1.json"))


@pytest.mark.parametrize(
    "change, message",
    [
        ({"eps": "100", "eps_value": 100.0}, "eps_value 100 is beyond any two images for Linf"),
        ({"settings": {"version": "bogus"}}, "'bogus' is no AutoAttack version"),
        ({"settings": {"attacks": []}}, "lists no AutoAttack attacks it could have run ([])"),
        ({"settings": {"config": {"apgd-ce": {"restarts": "x"}}}}, "restarts ('x') are no whole number >= 1"),
        ({"settings": {"version": "standard"}}, "AutoAttack's standard version runs apgd-ce, apgd-t, fab-t, square"),
        ({"breakdown": {"clean": 0.3}}, "its breakdown names clean, not the clean pass and its attacks (apgd-ce)"),
    ],
)
def test_labels_that_cannot_describe_what_ran_are_refused_in_one_line(built, change, message):
    from sam_bench.errors import SamBenchError
    from sam_bench.evaluation.results_record import Evaluation
    from sam_bench.evaluation.spot_check import check_labels

    ev = json.loads((built / "aa1.json").read_text())["evaluations"][0]
    settings = {**ev["settings"], **change.pop("settings", {})}
    with pytest.raises(SamBenchError, match=re.escape(message)):
        check_labels(Path("aa1.json"), Evaluation.of({**ev, **change, "settings": settings}))


def forge(results: dict, ev: dict, robust: np.ndarray) -> None:
    """`ev`'s per-image outcomes replaced, every figure beside them made to agree (as a careful forger would)."""
    from sam_bench.data import load_dataset
    from sam_bench.evaluation import per_class

    ev["outcomes"] = outcomes.encode(robust)
    ev["robust_acc"] = float(robust.mean())
    labels = load_dataset("cifar10-sample").y_test[: len(robust)].astype(np.int64)
    ev["per_class_robust_acc"] = per_class.accuracies(robust, labels, len(ev["per_class_robust_acc"]))
    if ev["attack"] == "autoattack":
        ev["attack_reported_acc"] = ev["robust_acc"]
        ev["breakdown"] = {**ev["breakdown"], "apgd-ce": ev["robust_acc"]}
        results["robustbench"] = None


def test_outcomes_forged_with_every_figure_are_refused_at_add(world):
    assert add(world, "aa8.json").exit_code == 0
    before = (world / BOARD).read_text()

    def pgd_8_robust_on_every_clean_image(r):
        forge(r, r["evaluations"][1], outcomes.decode(r["clean_outcomes"]))

    edit(world / "pgd.json", pgd_8_robust_on_every_clean_image)
    error = one_error(add(world, "pgd.json"))
    assert "pgd Linf 8/255: of " in error and "pgd run again on the weights fools" in error
    assert (world / BOARD).read_text() == before

    def every_clean_image_robust(r):
        forge(r, r["evaluations"][0], outcomes.decode(r["clean_outcomes"]))

    edit(world / "aa8.json", every_clean_image_robust)
    error = one_error(add(world, "aa8.json"))
    assert "autoattack Linf 8/255 (custom: apgd-ce)" in error and "states more robustness" in error
    assert (world / BOARD).read_text() == before


def verify(w: Path, results: str):
    return invoke("verify", w / results, "--zoo-dir", w / "zoo", "--quiet")


def test_deflated_outcomes_are_refused(world):
    """Robust images moved to fooled, every figure re-derived: the file states less robustness than its weights."""

    def three_robust_images_fooled(r):
        robust = outcomes.decode(r["evaluations"][0]["outcomes"])
        robust[np.flatnonzero(robust)[:3]] = False
        forge(r, r["evaluations"][0], robust)

    edit(world / "pgd.json", three_robust_images_fooled)
    result = verify(world, "pgd.json")
    assert result.exit_code == 1 and "1 of 1 results files refused" in one_error(result)
    assert "pgd Linf 1/255: of " in result.output
    assert "it records fooled, pgd run again on the weights leaves correct" in result.output
    assert "states less robustness than its weights have" in result.output


def test_deflated_autoattack_outcomes_are_refused_after_retries(world):
    """AutoAttack's draws cannot be replayed on a sample: an image recorded fooled that the re-run leaves correct is
    attacked again from other seeds, and one that every try leaves correct refuses the file."""

    def three_robust_images_fooled(r):
        robust = outcomes.decode(r["evaluations"][0]["outcomes"])
        robust[np.flatnonzero(robust)[:3]] = False
        forge(r, r["evaluations"][0], robust)

    assert verify(world, "aa1.json").exit_code == 0  # the faithful file passes
    edit(world / "aa1.json", three_robust_images_fooled)
    result = verify(world, "aa1.json")
    assert result.exit_code == 1 and "autoattack Linf 1/255 (custom: apgd-ce): of " in result.output
    assert "it records fooled, autoattack (custom: apgd-ce) run again on the weights leaves correct" in result.output
    assert "was left correct by 4 tries from different seeds" in result.output


def test_inflated_autoattack_outcomes_are_refused_by_its_draws_replayed_per_image(world):
    """Fooled images moved to robust, every figure re-derived: 3 of some 30 images recorded robust. Its draws are made
    per image, so the sample's re-run on the machine that recorded it is the recorded run: each moved image is
    fooled again, and one differing image refuses the file."""

    def three_fooled_images_robust(r):
        clean = outcomes.decode(r["clean_outcomes"])
        robust = outcomes.decode(r["evaluations"][0]["outcomes"])
        robust[np.flatnonzero(clean[: len(robust)] & ~robust)[:3]] = True
        forge(r, r["evaluations"][0], robust)

    edit(world / "aa1.json", three_fooled_images_robust)
    result = verify(world, "aa1.json")
    assert result.exit_code == 1 and "autoattack Linf 1/255 (custom: apgd-ce): of " in result.output
    assert "a re-run from the recorded seed agrees on every image" in result.output
    assert "held to the rule 'exact replay'" in result.output
    assert "states more robustness than its weights have" in result.output


def test_a_weaker_pgd_under_a_stronger_label_is_refused(world):
    """PGD-1 labelled PGD-10: the labelled attack runs again on the sample and fools what the file records robust."""
    ten = json.loads((world / "pgd.json").read_text())["evaluations"][1]["settings"]
    edit(world / "pgd1.json", lambda r: r["evaluations"][0]["settings"].update(ten))
    result = verify(world, "pgd1.json")
    assert result.exit_code == 1 and "pgd Linf 8/255: of " in result.output
    assert "it records robust, pgd run again on the weights fools" in result.output


def test_two_checks_draw_their_own_samples_and_a_seed_replays_a_verdict(world):
    from sam_bench.evaluation.spot_check import spot_check

    options = {"zoo_dir": world / "zoo", "device": "cpu"}
    first, second = spot_check(world / "pgd.json", **options), spot_check(world / "pgd.json", **options)
    assert first.seed != second.seed
    again = spot_check(world / "pgd.json", seed=first.seed, **options)
    assert [v.strata for v in again] == [v.strata for v in first] and again.seed == first.seed
    result = invoke("verify", world / "pgd.json", "--zoo-dir", world / "zoo", "--replay", first.seed, "--quiet")
    assert result.exit_code == 0 and f"check seed {first.seed}" in result.output, result.output


def test_verify_checks_a_boards_results_files_and_refuses_one_that_changed_since(world):
    assert add(world, "aa8.json").exit_code == 0 and add(world, "pgd.json").exit_code == 0
    boards = ["verify", world / "boards", "--zoo-dir", world / "zoo", "--quiet"]
    result = invoke(*boards)
    assert result.exit_code == 0 and "3 evaluations agree with the weights" in result.output, result.output
    edit(world / "pgd.json", lambda r: r.update(created="2020-01-01T00:00:00+00:00"))
    result = invoke(*boards)
    assert result.exit_code == 1 and "not the file the board's figures came from" in result.output, result.output


def test_a_full_rerun_of_a_board_is_shown_in_its_entrys_row_until_the_results_change(world):
    """`verify BOARD --full` re-runs every image of the results the entries come from, keeps its record at the
    boards' root and renders the boards: the entry's row (table and page) says where, when and how it agreed."""
    assert add(world, "aa8.json").exit_code == 0
    full = ["verify", world / "boards" / "cifar10" / "Linf", "--full", "--zoo-dir", world / "zoo", "--quiet"]
    result = invoke(*full)
    assert result.exit_code == 0, result.output
    [rerun] = json.loads((world / "boards" / "recheck.json").read_text())["models"]
    assert rerun["identical"] and rerun["n_examples"] == 64
    shown = f"full re-run {rerun['rechecked'][:10]} on cpu, torch "
    [table] = [p for p in (world / "boards").glob("cifar10-Linf*.md") if A in p.read_text()]
    row = next(line for line in table.read_text().splitlines() if A in line)
    assert shown in row and "identical on 64 images" in row, row
    assert shown in table.with_suffix(".html").read_text()
    edit(world / "aa8.json", lambda r: r.update(created="2020-01-01T00:00:00+00:00"))  # other bytes, same figures
    assert add(world, "aa8.json").exit_code == 0
    assert "full re-run" not in table.read_text()  # the record re-ran the earlier file, not this one


def test_a_full_reruns_differing_images_are_counted_in_its_row():
    from sam_bench.leaderboard import full_reruns

    rerun = {
        "rechecked": "2026-11-28T06:00:00+00:00",
        "n_examples": 500,
        "environment": {"device": "cpu", "torch_version": "2.13.0+cpu", "cpu_threads": 2},
        "evaluations": [{"n": 500, "images_differing": 0}, {"n": 420, "images_differing": 3}],
    }
    assert (
        full_reruns.describe(rerun)
        == "full re-run 2026-11-28 on cpu, torch 2.13.0+cpu, 2 threads: 3 of 920 image outcomes differ"
    )


def test_verify_reports_a_check_the_time_limit_cut_as_partial(world):
    from sam_bench.evaluation.spot_check import spot_check

    verdicts = spot_check(world / "pgd.json", zoo_dir=world / "zoo", stop_at=0.0)
    assert [v.evaluation for v in verdicts] == ["clean"] and verdicts.partial
    assert verdicts.skipped == ("pgd Linf 1/255", "pgd Linf 8/255")


def test_results_relabelled_to_another_zoo_model_are_refused(world):
    entry_b = json.loads(next((world / "zoo").glob(f"*/*/{B}.json")).read_text())

    def as_b(r):
        r["model"].update(zoo_id=B, ref=B, weights_sha256=entry_b["weights_sha256"])

    edit(world / "aa8.json", as_b)
    error = one_error(add(world, "aa8.json"))
    assert "clean: of " in error and "the weights now get" in error
    assert not (world / f"boards/cifar10/Linf/{B}.json").exists()


# ------------------------------------------------------------------ one gate to the board, on the bytes it checked


def test_a_file_swapped_during_its_check_never_reaches_the_board(world, monkeypatch):
    """The check runs for seconds to minutes: a forged file put in place of the checked one meanwhile is not what
    the board is written from (it is written from the bytes measured again, and names their sha256)."""
    import hashlib

    from sam_bench.evaluation import spot_check

    genuine = (world / "aa8.json").read_bytes()
    forged = json.loads(genuine)
    forge(forged, forged["evaluations"][0], outcomes.decode(forged["clean_outcomes"]))
    real = spot_check.spot_check

    def swapped_once_checked(path, **options):
        verdicts = real(path, **options)
        (world / "aa8.json").write_text(json.dumps(forged))
        return verdicts

    monkeypatch.setattr(spot_check, "spot_check", swapped_once_checked)
    assert add(world, "aa8.json").exit_code == 0
    entry = json.loads((world / BOARD).read_text())
    assert entry["autoattack_acc"] == f"{100 * json.loads(genuine)['evaluations'][0]['robust_acc']:.2f}"
    assert entry["sam_bench"]["autoattack"]["results_sha256"] == hashlib.sha256(genuine).hexdigest()


def test_evaluate_leaderboard_refuses_a_forged_partial_chunk(world, monkeypatch):
    """An evaluation resumed from its kept chunks publishes what the chunk file says: `evaluate --leaderboard`
    measures its results again like `leaderboard add` (a chunk whose outcomes and counts were forged together
    agrees with itself)."""
    from sam_bench.evaluation import evaluate as ev

    args = [A, *QUICK_AA, "--eps", "8/255", "--zoo-dir", world / "zoo", "--n-examples", "64", "--chunk-size", "32"]
    args += ["--device", "cpu", "--quiet", "--out", world / "r.json"]
    honest, calls = ev.RUNNERS["autoattack"], []

    def interrupted_on_second_chunk(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return honest(*a, **kw)

    monkeypatch.setitem(ev.RUNNERS, "autoattack", interrupted_on_second_chunk)
    assert invoke("evaluate", *args).exit_code == 1
    state = world / "r.partial.json"
    stored = json.loads(state.read_text())
    clean = outcomes.decode(json.loads((world / "aa8.json").read_text())["clean_outcomes"])
    [chunk] = stored["chunks"].values()
    start, n = int(chunk["correct"]["start"]), chunk["n"]
    robust = clean[start : start + n]
    assert robust.sum() >= 8, "clean-correct images the attack fools, to forge as robust"
    chunk.update(correct=outcomes.encode(robust, start), robust_correct=int(robust.sum()))
    state.write_text(json.dumps(stored))

    monkeypatch.setitem(ev.RUNNERS, "autoattack", honest)
    result = invoke("evaluate", *args, "--leaderboard", "--leaderboard-dir", world / "boards")
    error = one_error(result)
    # refused by its own breakdown (which its forged outcomes no longer bound) or by the re-measurement
    assert "autoattack Linf 8/255" in error
    assert "states more robustness than its weights have" in error or "its breakdown" in error
    assert not (world / BOARD).exists()


def test_a_stand_in_test_set_under_a_known_name_is_refused(world):
    """Results that name CIFAR-10 (or the bundled sample) but carry another data fingerprint are not published."""
    edit(world / "aa8.json", lambda r: r["dataset"].update(sha256="0" * 64))
    error = one_error(add(world, "aa8.json"))
    assert "aa8.json: the results" in error and "000000000000" in error  # the fingerprint named, and refused
    assert not (world / BOARD).exists()


def test_several_files_are_added_all_or_none(world):
    forged = json.loads((world / "pgd.json").read_text())
    forge(forged, forged["evaluations"][1], outcomes.decode(forged["clean_outcomes"]))
    (world / "forged.json").write_text(json.dumps(forged))
    result = invoke(
        "leaderboard", "add", world / "aa8.json", world / "forged.json",
        "--zoo-dir", world / "zoo", "--leaderboard-dir", world / "boards",
    )  # fmt: skip
    assert "pgd Linf 8/255: of " in one_error(result)
    assert not (world / BOARD).exists() and not wrote(result)


def wrote(result) -> list[str]:
    return [line for line in result.output.splitlines() if line.startswith("wrote ")]


def test_add_says_wrote_only_when_the_entry_changed_and_clears_a_killed_writers_temporary(world):
    assert wrote(add(world, "aa8.json")) == [f"wrote {world / BOARD}"]
    leftover = world / "boards" / "cifar10" / "Linf" / f".{A}.json.k1l2ed.tmp"
    leftover.write_text("{")  # what a `leaderboard add` killed in the middle of its write leaves
    again = add(world, "aa8.json")
    assert again.exit_code == 0 and not wrote(again) and f"unchanged {world / BOARD}" in again.output
    assert not leftover.exists()
    # the board stands on these very bytes already: adding them again publishes nothing and measures nothing
    assert "nothing to measure again" in again.output and "agree with the weights" not in again.output


def test_board_temporaries_are_ignored_by_git():
    import subprocess

    root = Path(__file__).resolve().parents[1]
    name = f"leaderboards/cifar10/Linf/.{A}.json.k1l2ed.tmp"
    found = subprocess.run(["git", "check-ignore", "--no-index", name], cwd=root, capture_output=True, text=True)
    assert found.stdout.strip() == name


# ------------------------------------------------------------------ run metadata against its log


def test_an_edited_learning_rate_is_refused_at_resume(tmp_path):
    run = tmp_path / "run"
    args = ["train", "--dataset", "cifar10-sample", "--epochs", "2", "--n-train", "64", "--out", run, *TINY]
    assert invoke(*args, "--stop-after-epochs", "1").exit_code == 0
    edit(run / "metadata.json", lambda m: m["config"].update(lr=0.05))
    error = one_error(invoke("train", "--out", run, "--resume", "--quiet"))
    assert "config.lr is 0.05 (piecewise over 2 epochs), which gives epoch 1 a learning rate of 0.05" in error
    assert "log.jsonl logged 0.1" in error
    assert len((run / "log.jsonl").read_text().splitlines()) == 1  # nothing trained at the edited rate


def test_an_edited_epoch_count_is_refused_at_zoo_add(world):
    edit(world / "run_a" / "metadata.json", lambda m: m["config"].update(epochs=100))
    zoo_add = ["zoo", "add", world / "run_a", "--id", "SamBench2026Standard_more", "--zoo-dir", world / "zoo2"]
    assert "config.epochs is 100, but epochs_done is 3" in one_error(invoke(*zoo_add))
    edit(world / "run_a" / "metadata.json", lambda m: m.update(epochs_done=100))
    assert "config.epochs is 100, but log.jsonl holds 3 epochs" in one_error(invoke(*zoo_add))
    assert not (world / "zoo2").exists() or not list((world / "zoo2").rglob("*.json"))


def test_an_edited_epoch_count_in_the_zoo_entry_is_refused_at_leaderboard_add(world):
    entry = next((world / "zoo").glob(f"*/*/{A}.json"))
    edit(entry, lambda e: e["training_cost"].update(epochs=100))  # the board's "ep." column
    assert "training_cost.epochs is 100, but training.config.epochs is 3" in one_error(add(world, "aa8.json"))

    def every_count(e):
        e["training"]["config"]["epochs"] = e["training"]["epochs_done"] = e["training_cost"]["epochs"] = 100

    edit(entry, every_count)  # agrees with itself: the run's log says otherwise
    assert "training: config.epochs is 100, but log.jsonl holds 3 epochs" in one_error(add(world, "aa8.json"))
    assert not (world / BOARD).exists()


def test_a_run_without_its_log_is_not_published_as_trained_here(world):
    """A standard run published as "SAM (rho=0.1)", "50,000 images", "100 ep." once its log.jsonl was deleted: what
    a board shows of a run trained here is read from its log, and without it the entry is refused."""
    zoo = world / "zoo_of_the_copy"
    assert invoke("zoo", "add", world / "run_a", "--id", A, "--zoo-dir", zoo).exit_code == 0
    (world / "run_a" / "log.jsonl").unlink()
    result = invoke("leaderboard", "add", world / "aa8.json", "--zoo-dir", zoo, "--leaderboard-dir", world / "boards")
    assert "holds no log.jsonl: what a board shows of a model trained here" in one_error(result)
    assert not (world / BOARD).exists()


def test_a_method_the_log_did_not_train_with_is_refused(world):
    """The entry's copy of the run's settings edited to SAM at rho 0.1, agreeing with itself: the log's step record
    says every epoch was a standard step."""
    entry = next((world / "zoo").glob(f"*/*/{A}.json"))
    edit(entry, lambda e: e["training"]["config"].update(method="sam", rho=0.1))
    error = one_error(add(world, "aa8.json"))
    assert "training: config.method is 'sam', but log.jsonl logged epoch 1's steps with method 'standard'" in error
    assert not (world / BOARD).exists()


def _cut_times(w: Path, factor: float, *, rates: bool) -> None:
    """The run's wall time cut by `factor` in its log (its epochs and their first steps), its metadata and its entry's
    copy and summary in the zoo `zoo_copy` (added from this copy of the run), agreeing with one another; `rates`:
    its images per second raised to match."""
    zoo = w / "zoo_copy"
    if not zoo.exists():
        assert invoke("zoo", "add", w / "run_a", "--id", A, "--zoo-dir", zoo).exit_code == 0
    log = w / "run_a" / "log.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    for r in records:
        r["seconds"] /= factor
        r["first_step_s"] /= factor  # the first step within the cut epoch, as a careful forger keeps it
        if rates:
            r["images_per_s"] *= factor
    log.write_text("".join(json.dumps(r) + "\n" for r in records))

    def metadata(m):
        m["wall_time_s"] /= factor
        if rates:
            m["images_per_s"] *= factor

    edit(w / "run_a" / "metadata.json", metadata)
    entry = next(zoo.glob(f"*/*/{A}.json"))
    edit(entry, lambda e: (metadata(e["training"]), metadata(e["training_cost"])))


def add_from_copy(w: Path):
    return invoke("leaderboard", "add", w / "aa8.json", "--zoo-dir", w / "zoo_copy", "--leaderboard-dir", w / "boards")


def test_a_wall_time_cut_in_the_log_and_the_metadata_alike_is_refused(world):
    """Training time divided by ten in the metadata and the log, agreeing with each other, was published: each
    epoch's logged rate, first step and CPU time are held to its seconds."""
    _cut_times(world, 10, rates=False)
    error = one_error(add_from_copy(world))
    assert "training: log.jsonl logged epoch 1 at" in error and "images/s, but" in error, error
    zoo_add = ["zoo", "add", world / "run_a", "--id", "SamBench2026Standard_fast", "--zoo-dir", world / "zoo2"]
    assert "images/s, but" in one_error(invoke(*zoo_add))
    assert not (world / BOARD).exists()


def test_a_wall_time_cut_with_its_rates_raised_to_match_is_refused_by_its_cpu_time(world):
    from sam_bench.training import run_check

    records = [json.loads(line) for line in (world / "run_a" / "log.jsonl").read_text().splitlines()]
    busiest = max(records, key=lambda r: r["cpu_seconds"])
    # CPU time enough to tell: below the slack's seconds no cut of an epoch's wall time is detectable, by design
    assert busiest["cpu_seconds"] > run_check.CPU_SLACK_S, busiest
    # a factor at least ten, and enough that one thread could not have spent the busiest epoch's logged CPU time in
    # its cut wall time, with a tenth of its CPU seconds beyond the slack to spare
    spare = (busiest["cpu_seconds"] - run_check.CPU_SLACK_S) / 10
    factor = max(10, busiest["seconds"] * run_check.CPU_SLACK / spare)
    _cut_times(world, factor, rates=True)
    error = one_error(add_from_copy(world))
    assert "CPU seconds in" in error and "more than 1 thread can spend (cpu_threads)" in error, error
    assert not (world / BOARD).exists()
