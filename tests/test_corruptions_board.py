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
    assert entry["corruptions_acc"] == str(round(100 * stated["robust_acc"], 2)) and entry["eps"] is None
    assert list(entry)[:-1] == list(corruptions_board.ROBUSTBENCH_KEYS)  # RobustBench's fields, then sam-bench's
    ours = entry["sam_bench"]
    assert ours["corruption_set"]["generated"] is True and ours["results"]["sha256"] == files.sha256_file(results)
    assert ours["model_id"] == model_id and "seed 0" not in entry["footnote"]
    # beside the entries, RobustBench's file of every corruption and severity: the model's row, 75 fractions
    header, severities, row = (boards / "cifar10" / "corruptions-generated" / corruptions_board.CSV).read_text().split()
    assert header.split(",")[1:6] == ["shot_noise"] * 5 and severities.split(",")[1:6] == ["1", "2", "3", "4", "5"]
    values = row.split(",")
    assert values[0] == model_id and len(values) == 76
    assert abs(100 * sum(map(float, values[1:])) / 75 - float(entry["corruptions_acc"])) < 0.006
    page = (boards / "cifar10-corruptions-generated-sample.md").read_text()
    assert model_id in page and "generated" in page and entry["corruptions_acc"] in page
    assert f"| {model_id} | 0 | {entry['clean_acc']} |" in page  # what the row rests on: the seed, then the images
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
    files.write_json(
        tmp_path / "cifar10" / "corruptions-generated" / "M.json", {"sam_bench": {"corruption_set": generated}}
    )
    with pytest.raises(BadInput, match="cannot be submitted to RobustBench"):
        corruptions_board.check_submittable("M", tmp_path)
    files.write_json(tmp_path / "cifar10" / "corruptions" / "M.json", {"sam_bench": {"corruption_set": official}})
    assert corruptions_board.check_submittable("M", tmp_path) == tmp_path / "cifar10" / "corruptions" / "M.json"
    with pytest.raises(BadInput, match="has no corruptions board entry"):
        corruptions_board.check_submittable("Other", tmp_path)


def _official_entry(zoo_model, results, boards):
    """The fixture's results as if measured on the official set, their entry written on its board (the gate, which
    would measure them again from files these machines lack, is left to the tests above)."""
    from sam_bench.evaluation.results_record import Results
    from sam_bench.zoo import store as zoo

    root, model_id = zoo_model
    data = files.read_json(results)
    data["evaluations"][0]["corruption_set"] = {**data["evaluations"][0]["corruption_set"], **OFFICIAL_SET}
    path = boards.parent / "official.json"
    files.write_json(path, data)
    checked = Results.read(path)
    record = corruptions_board.entry_record(
        checked, {"file": str(path), "sha256": files.sha256_file(path)}, zoo.find_entry(model_id, root / "zoo")
    )
    files.write_json(boards / "cifar10" / "corruptions" / f"{model_id}.json", record)
    return record


OFFICIAL_SET = {"name": catalogue.OFFICIAL, "generated": False}


def test_submit_writes_what_a_robustbench_pull_request_for_the_corruptions_board_holds(
    zoo_model, results, tmp_path, monkeypatch
):
    from sam_bench.leaderboard import publication

    root, model_id = zoo_model
    boards = tmp_path / "boards"
    record = _official_entry(zoo_model, results, boards)
    measured = []
    monkeypatch.setattr(publication, "check_evidence", lambda path, entry, **_: measured.append(path))
    args = ["leaderboard", "submit", model_id, "--threat-model", "corruptions", "--zoo-dir", root / "zoo"]
    args += ["--leaderboard-dir", boards, "--out", tmp_path / "sent", "--link", "https://arxiv.org/abs/2305.05392"]
    refused = _run(*args)  # four images of the bundled sample's test set, a model trained on the sample
    assert refused.exit_code != 0 and "does not qualify for RobustBench's corruptions board" in refused.output
    assert "RobustBench's corruptions board takes all 10,000 of cifar10" in refused.output
    assert "trained on cifar10-sample" in refused.output and not measured and not (tmp_path / "sent").exists()
    monkeypatch.setattr(corruptions_board, "submission_problems", lambda row, entry: [])  # as if it qualified
    done = _run(*args)
    assert done.exit_code == 0, done.output
    assert len(measured) == 1 and measured[0].name == "official.json"  # measured again before anything is written
    sent = files.read_json(tmp_path / "sent" / f"{model_id}.json")
    assert list(sent) == list(corruptions_board.ROBUSTBENCH_KEYS) and sent["eps"] is None
    assert sent["link"] == "https://arxiv.org/abs/2305.05392" and sent["corruptions_acc"] == record["corruptions_acc"]
    sent_csv = (tmp_path / "sent" / corruptions_board.CSV).read_text().splitlines()
    corruptions_board.render(boards)  # the board's own file: the row RobustBench's file gains is the board's row
    board_csv = (boards / "cifar10" / "corruptions" / corruptions_board.CSV).read_text().splitlines()
    assert sent_csv == board_csv and len(sent_csv) == 3 and sent_csv[2].startswith(f"{model_id},")


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
