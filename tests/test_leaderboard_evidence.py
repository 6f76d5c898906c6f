"""A board shows only figures derived from per-image outcomes. A results file without them
is refused in one line; an entry names the results file and sha256 its figures came from, and `leaderboard
render` and `submit` recompute every figure from it and refuse an entry that disagrees (edited by hand, or
its results file changed or gone)."""

import json

import pytest
import torch
from click.testing import CliRunner
from results_records import written, zoo_results

from sam_bench import files
from sam_bench.cli import cli
from sam_bench.leaderboard import board as leaderboard
from sam_bench.training.loop import TrainConfig, train
from sam_bench.zoo import store as zoo

MODEL_ID = "SamBench2025Standard_evidence"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("evidence") / "run"
    config = TrainConfig(arch="preactresnet18", width=0.125, epochs=1, n_train=64, batch_size=64)
    train(TrainConfig(**{**config.__dict__, "dataset": "cifar10-sample"}), out, progress=False)
    return out


@pytest.fixture
def board(run, tmp_path, monkeypatch):
    """(zoo, boards, results file, entry path): one model on a board from a results file with outcomes."""
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    zoo_dir, boards = tmp_path / "model_zoo", tmp_path / "leaderboards"
    entry = zoo.add(run, MODEL_ID, zoo_dir=zoo_dir)
    results = written(zoo_results(entry, 0.5, 0.1, pgd=[("1/255", 0.3)]), tmp_path / "results")
    [[(path, _)]] = leaderboard.write_entries([results], boards, zoo_dir)
    return zoo_dir, boards, results, path


def invoke(*args):
    out = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in out.output, out.output
    return out


def test_an_entry_names_the_results_file_and_sha256_of_every_figure(board):
    _, _, results, path = board
    extras = json.loads(path.read_text())["sam_bench"]
    for group in [extras["autoattack"], *extras["pgd"]]:
        assert group["results_file"] == str(results.resolve())
        assert group["results_sha256"] == files.sha256_file(results)


def test_a_results_file_without_outcomes_is_refused_in_one_line(board, tmp_path):
    zoo_dir, boards, results, path = board
    before = path.read_text()
    stripped = json.loads(results.read_text())
    del stripped["clean_outcomes"]
    for ev in stripped["evaluations"]:
        del ev["outcomes"]
        ev["robust_acc"] = 0.45  # with no outcomes to check it against, this would have been believed
    bare = written(stripped, tmp_path / "bare")
    out = invoke("leaderboard", "add", bare, "--leaderboard-dir", boards, "--zoo-dir", zoo_dir)
    assert out.exit_code == 2 and len(out.output.strip().splitlines()) == 1
    assert "records no per-image outcomes" in out.output
    assert path.read_text() == before


def test_an_entry_edited_by_hand_is_refused_by_render_and_submit(board, tmp_path):
    zoo_dir, boards, _, path = board
    assert invoke("leaderboard", "render", "--leaderboard-dir", boards).exit_code == 0
    page = boards / "cifar10-Linf-sample.md"
    shown = page.read_text()
    info = json.loads(path.read_text())
    info["autoattack_acc"] = info["reported"] = "99.5"
    path.write_text(json.dumps(info))
    out = invoke("leaderboard", "render", "--leaderboard-dir", boards)
    assert out.exit_code == 1 and len(out.output.strip().splitlines()) == 1
    assert "autoattack_acc is '99.5'" in out.output and "it is '10.0'" in out.output
    assert page.read_text() == shown  # nothing rendered
    out = invoke(
        "leaderboard", "submit", MODEL_ID, "--leaderboard-dir", boards, "--zoo-dir", zoo_dir, "--out", tmp_path / "s"
    )
    assert out.exit_code == 1 and "autoattack_acc is '99.5'" in out.output


def test_an_edited_pgd_figure_or_a_changed_results_file_is_refused(board):
    _, boards, results, path = board
    original = path.read_text()
    info = json.loads(original)
    info["sam_bench"]["pgd"][0]["robust_acc"] = "45.0"
    path.write_text(json.dumps(info))
    out = invoke("leaderboard", "render", "--leaderboard-dir", boards)
    assert out.exit_code == 1 and "PGD Linf 1/255: robust_acc is '45.0'" in out.output
    path.write_text(original)
    results.write_text(results.read_text() + "\n")  # the file the figures came from changed
    out = invoke("leaderboard", "render", "--leaderboard-dir", boards)
    assert out.exit_code == 1 and "changed after the entry was written from it" in out.output
    results.unlink()
    out = invoke("leaderboard", "render", "--leaderboard-dir", boards)
    assert out.exit_code == 1 and "which is not there" in out.output
