"""The README answers the question first: the findings table and the front figure are rendered from the
reproductions' results (sam_bench.report.findings, findings_figure), never typed."""

from pathlib import Path

from click.testing import CliRunner
from test_confirmatory_report import PLAN, grid, write_runs

from sam_bench.cli import cli
from sam_bench.report import confirmatory, findings, findings_figure

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_holds_the_findings_its_reproductions_give():
    folders = findings.folders_of(ROOT / "reproductions")
    assert [f.name for f in folders][:2] == ["paper-cifar10-full", "paper-cifar10-cpu-confirmatory"]  # largest first
    said = findings.in_readme((ROOT / "README.md").read_text())
    assert said == findings.table(folders), (
        "the README's findings are stale: sam-bench report <folder> --readme README.md"
    )
    assert (ROOT / "reproductions" / findings_figure.NAME).is_file()
    # the figure comes from the largest scale with ST, SAM-0.1 and an AT model at the claims' budgets
    folder, groups = findings_figure.chosen(folders)
    assert [g[0].method for g in groups] == ["standard", "sam", "at"]
    assert all(findings_figure.chosen([f]) is None for f in folders[: folders.index(folder.path)])


def test_a_decided_primary_test_is_said_in_words_with_its_effect(tmp_path):
    records = grid()
    write_runs(tmp_path, records, "HEAD")
    c1, c2 = confirmatory.primary_results(records, PLAN)
    words = findings._in_words(c2)
    assert words.startswith("SAM-0.1 is ") and "above ST under AutoAttack Linf 2/255 (C2 holds)" in words
    d = c2.comparisons[0]
    assert f"{100 * d.difference:.2f} points [{100 * d.low:.2f}, {100 * d.high:.2f}]" in words


def test_report_readme_refuses_a_file_it_can_fill_nothing_in(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("nothing to fill\n")
    result = CliRunner().invoke(
        cli, ["report", str(ROOT / "reproductions" / "paper-cifar10-sample"), "--readme", str(page)]
    )
    assert result.exit_code != 0 and "no summary markers for paper-cifar10-sample" in result.output
    assert page.read_text() == "nothing to fill\n"
