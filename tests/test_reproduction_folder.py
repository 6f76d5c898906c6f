"""Where `reproduce` writes: a folder of the user's; the project's committed evidence only when named
(sam_bench.experiments.destination), its runs never shown as the user's, and a grid without its data refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.errors import BadInput
from sam_bench.experiments import destination

REPO = destination.package_repository()
needs_clone = pytest.mark.skipif(REPO is None, reason="sam_bench is not imported from a git clone")


@needs_clone
def test_the_default_is_refused_where_it_is_committed_evidence(monkeypatch):
    monkeypatch.chdir(REPO)
    assert destination.is_committed("reproductions/paper-cifar10-cpu")
    with pytest.raises(BadInput, match="committed evidence.*--out DIR.*--update-committed"):
        destination.reproduction_folder("paper-cifar10", "cpu")


@needs_clone
def test_a_committed_folder_is_written_when_named(monkeypatch, tmp_path):
    monkeypatch.chdir(REPO)
    named = destination.reproduction_folder("paper-cifar10", "cpu", out="reproductions/paper-cifar10-cpu")
    assert named == Path("reproductions/paper-cifar10-cpu")
    monkeypatch.chdir(tmp_path)  # --update-committed finds the clone's folder from anywhere
    asked = destination.reproduction_folder("paper-cifar10", "cpu", update_committed=True)
    assert asked == REPO / "reproductions" / "paper-cifar10-cpu"
    with pytest.raises(BadInput, match="not both"):
        destination.reproduction_folder("paper-cifar10", "cpu", out="x", update_committed=True)


@needs_clone
def test_the_quick_start_folder_is_the_users_in_a_clone(monkeypatch):
    monkeypatch.chdir(REPO)  # reproductions/*-smoke/ is ignored by git: never the project's evidence
    assert destination.reproduction_folder("paper-cifar10", "smoke") == Path("reproductions/paper-cifar10-smoke")


def test_elsewhere_the_default_is_under_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "reproductions" / "paper-cifar10-cpu").mkdir(parents=True)
    (tmp_path / "reproductions" / "paper-cifar10-cpu" / "plan.json").write_text("{}")
    assert not destination.is_committed("reproductions/paper-cifar10-cpu")
    assert destination.reproduction_folder("paper-cifar10", "cpu") == Path("reproductions/paper-cifar10-cpu")


@needs_clone
def test_status_does_not_show_the_projects_runs_as_the_users(monkeypatch):
    monkeypatch.chdir(REPO)
    result = CliRunner().invoke(cli, ["reproduce", "paper-cifar10", "--scale", "full", "--status"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("you have not run paper-cifar10 at scale full here")
    assert "done" not in result.output


def test_status_of_a_scale_not_run_says_so(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["reproduce", "paper-cifar10", "--scale", "full", "--status"])
    assert result.exit_code == 0, result.output
    assert result.output == "nothing run yet in reproductions/paper-cifar10-full\n"


def test_a_scale_without_its_data_is_refused_in_one_line(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SAM_BENCH_DATA", raising=False)
    result = CliRunner().invoke(cli, ["reproduce", "paper-cifar10", "--scale", "cpu", "--out", "mine"])
    assert result.exit_code != 0
    assert len(result.output.strip().splitlines()) == 1
    assert "paper-cifar10 at scale cpu needs its data: cifar10 not found" in result.output
    assert "--scale smoke" in result.output
    assert not (tmp_path / "mine").exists()  # nothing written, nothing reported done


def test_the_last_lines_of_a_reproduction_are_its_claims_as_its_report_gives_them():
    from sam_bench.cli.reproduce import claim_lines

    folder = Path(__file__).resolve().parent.parent / "reproductions" / "paper-cifar10-sample"
    lines = claim_lines(folder)
    assert [line.split(":")[0] for line in lines] == ["C1", "C2", "C3", "C4"]
    report = (folder / "REPORT.md").read_text().splitlines()
    assert all(f"- {line}" in report for line in lines)


def test_an_empty_out_is_refused_rather_than_writing_the_working_directory(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["reproduce", "paper-cifar10", "--scale", "smoke", "--out", ""])
    assert result.exit_code != 0
    assert result.output.strip() == "Error: --out is empty: give the folder the reproduction writes"
    assert not any(tmp_path.iterdir())
