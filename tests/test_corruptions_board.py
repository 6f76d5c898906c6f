"""A corruption evaluation on its board: `leaderboard add` takes it through the one gate (a sample measured again
first), a generated set's figures on a board of their own, never beside the official ones, the page rendered from
entries recomputed from their results files; `leaderboard submit` refuses a generated set in one line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sam_bench import files
from sam_bench.cli import cli
from sam_bench.corruptions import catalogue
from sam_bench.data import load_dataset
from sam_bench.errors import BadInput
from sam_bench.evaluation import corruption_outcomes, outcomes
from sam_bench.leaderboard import corruptions_board

N = 4


@pytest.fixture(scope="module")
def zoo_model(tmp_path_factory):
    from sam_bench.training.loop import TrainConfig, train
    from sam_bench.zoo import store as zoo

    root = tmp_path_factory.mktemp("corruptions-board")
    config = TrainConfig(
        arch="preactresnet18", width=0.125, epochs=1, n_train=128, batch_size=64, dataset="cifar10-sample", device="cpu"
    )
    train(config, root / "run", progress=False)
    entry = zoo.add(root / "run", model_id="SamBench2026Standard_tinyc", zoo_dir=root / "zoo")
    return root, entry["id"]


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def results(zoo_model):
    root, model_id = zoo_model
    out = root / "corruptions.json"
    done = _run(
        "evaluate", model_id, "--threat-model", "corruptions", "--corruption-set", catalogue.SAMPLE_GENERATED,
        "--n-examples", N, "--zoo-dir", root / "zoo", "--device", "cpu", "--out", out, "--quiet",
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    return out


def _add(zoo_model, results, boards):
    root, _ = zoo_model
    return _run("leaderboard", "add", results, "--zoo-dir", root / "zoo", "--leaderboard-dir", boards)


def test_leaderboard_add_measures_again_then_ranks_a_generated_set_on_its_own_board(zoo_model, results, tmp_path):
    root, model_id = zoo_model
    boards = tmp_path / "boards"
    done = _add(zoo_model, results, boards)
    assert done.exit_code == 0, done.output
    assert "measuring a sample of every evaluation again" in done.output and "agree with the weights" in done.output
    entry = files.read_json(boards / "cifar10" / "corruptions-generated" / f"{model_id}.json")
    assert not (boards / "cifar10" / "corruptions").exists()  # never beside the official set's figures
    stated = files.read_json(results)["evaluations"][0]
    assert entry["corruptions_acc"] == str(round(100 * stated["robust_acc"], 2))
    assert entry["corruption_set"]["generated"] is True and entry["results"]["sha256"] == files.sha256_file(results)
    page = (boards / "cifar10-corruptions-generated-sample.md").read_text()
    assert model_id in page and "generated" in page and entry["corruptions_acc"] in page
    assert "cifar10-corruptions-generated-sample.png" in page
    standalone = (boards / "cifar10-corruptions-generated-sample.html").read_text()
    assert model_id in standalone and f"{entry['corruptions_acc']}%" in standalone and "data:image/png" in standalone
    assert (boards / "cifar10-corruptions-generated-sample.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = _run("leaderboard", "render", "--threat-model", "corruptions", "--leaderboard-dir", boards)
    assert again.exit_code == 0 and "cifar10-corruptions-generated-sample.md" in again.output
    every = _run("leaderboard", "render", "--leaderboard-dir", boards)  # no eps board has entries here
    assert every.exit_code == 0 and "cifar10-corruptions-generated-sample.md" in every.output, every.output


def test_forged_outcomes_are_refused_at_the_gate_and_nothing_is_written(zoo_model, results, tmp_path):
    data = files.read_json(results)
    entry = data["evaluations"][0]  # every figure consistent with the forged outcomes: only the weights tell
    found = entry["corruption_outcomes"]
    for corruption in catalogue.CORRUPTIONS:  # every image of every set flipped: any sample draws one
        for severity, record in found[corruption].items():
            found[corruption][severity] = outcomes.encode(~outcomes.decode(record))
    figures = corruption_outcomes.summary(found)
    entry["robust_acc"], entry["breakdown"] = figures["mean_accuracy"], figures["families"]
    labels = load_dataset("cifar10-sample").y_test[: entry["n_examples"]].astype("int64")
    entry["per_class_robust_acc"] = corruption_outcomes.per_class(found, labels, 10)  # the labels agree too
    forged = tmp_path / "forged.json"
    files.write_json(forged, data)
    done = _add(zoo_model, forged, tmp_path / "boards")
    assert done.exit_code != 0 and "corruptions on cifar10-sample-c-generated" in done.output
    assert "Traceback" not in done.output and not (tmp_path / "boards").exists()


def test_an_entry_edited_after_it_was_written_is_refused_before_rendering(zoo_model, results, tmp_path):
    _, model_id = zoo_model
    boards = tmp_path / "boards"
    assert _add(zoo_model, results, boards).exit_code == 0
    path = boards / "cifar10" / "corruptions-generated" / f"{model_id}.json"
    entry = files.read_json(path)
    entry["corruptions_acc"] = "99.0"
    files.write_json(path, entry)
    done = _run("leaderboard", "render", "--threat-model", "corruptions", "--leaderboard-dir", boards)
    assert done.exit_code != 0 and "corruptions_acc differ from what its results file's" in done.output


def test_submit_refuses_a_generated_set_in_one_line(zoo_model, results, tmp_path):
    root, model_id = zoo_model
    boards = tmp_path / "boards"
    assert _add(zoo_model, results, boards).exit_code == 0
    done = _run(
        "leaderboard", "submit", model_id, "--threat-model", "corruptions", "--zoo-dir", root / "zoo",
        "--leaderboard-dir", boards, "--out", tmp_path / "sent",
    )  # fmt: skip
    assert done.exit_code != 0 and "cannot be submitted to RobustBench" in done.output
    assert "Traceback" not in done.output and not (tmp_path / "sent").exists()
    with pytest.raises(BadInput, match="cannot be submitted"):
        corruptions_board.check_submittable(model_id, boards)


def test_evaluate_leaderboard_takes_the_corruptions_through_the_same_gate(zoo_model, tmp_path):
    root, model_id = zoo_model
    boards = tmp_path / "boards"
    done = _run(
        "evaluate", model_id, "--threat-model", "corruptions", "--corruption-set", catalogue.SAMPLE_GENERATED,
        "--n-examples", N, "--zoo-dir", root / "zoo", "--device", "cpu", "--out", tmp_path / "c.json", "--quiet",
        "--leaderboard", "--leaderboard-dir", boards,
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "leaderboard entry" in done.output and "cifar10-corruptions-generated-sample.md" in done.output
    assert (boards / "cifar10" / "corruptions-generated" / f"{model_id}.json").is_file()


def test_only_an_official_entry_passes_the_submission_rule(tmp_path):
    official = {"name": catalogue.OFFICIAL, "generated": False}
    generated = {"name": catalogue.GENERATED, "generated": True}
    files.write_json(tmp_path / "cifar10" / "corruptions-generated" / "M.json", {"corruption_set": generated})
    with pytest.raises(BadInput, match="cannot be submitted to RobustBench"):
        corruptions_board.check_submittable("M", tmp_path)
    files.write_json(tmp_path / "cifar10" / "corruptions" / "M.json", {"corruption_set": official})
    assert corruptions_board.check_submittable("M", tmp_path) == {"corruption_set": official}
    with pytest.raises(BadInput, match="has no corruptions board entry"):
        corruptions_board.check_submittable("Other", tmp_path)


def test_an_edited_per_class_list_of_a_corruptions_entry_is_refused_at_the_gate(zoo_model, results, tmp_path):
    """Its per-class accuracies over the 75 sets are derived from its own outcomes and the labels (the threat
    model's `entry_per_class`), as an attack's from its outcomes."""
    data = files.read_json(results)
    listed = data["evaluations"][0]["per_class_robust_acc"]
    k = next(i for i, a in enumerate(listed) if a is not None)
    listed[k] = 1.0 if listed[k] != 1.0 else 0.0
    edited = tmp_path / "edited.json"
    files.write_json(edited, data)
    done = _add(zoo_model, edited, tmp_path / "boards")
    assert done.exit_code == 1 and f"per_class_robust_acc[{k}] is" in done.output, done.output
    assert "Traceback" not in done.output and not (tmp_path / "boards").exists()
