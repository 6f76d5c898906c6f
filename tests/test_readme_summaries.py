"""What the docs and the committed reports say about the reproductions is what their results say: each
reproduction's summary in docs/leaderboard.md is rendered from its folder (`sam-bench report <folder> --readme
docs/leaderboard.md`), no sentence beside them states a verdict, and each REPORT.md carries the verdicts its
results give. (The README's findings: tests/test_findings.py.)"""

import re
from pathlib import Path

import pytest

from sam_bench.errors import BadInput
from sam_bench.report.claims import verdicts
from sam_bench.report.document import _verdict_lines
from sam_bench.report.folder import load_cost, load_results
from sam_bench.report.records import by_architecture
from sam_bench.report.summary import summary, update_readme

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "docs" / "leaderboard.md"  # the page that carries each reproduction's summary


def in_readme(readme_text: str) -> dict[str, str]:
    """{folder name: the summary text between its markers, its indentation removed} for every summary in a
    README."""
    found = {}
    for match in re.finditer(
        r"(?P<indent>[ \t]*)<!-- sam-bench summary (?P<name>\S+) start -->\n(?P<body>.*?)\n[ \t]*"
        r"<!-- sam-bench summary (?P=name) end -->",
        readme_text,
        re.S,
    ):
        indent = match["indent"]
        lines = match["body"].split("\n")
        found[match["name"]] = "\n".join(line[len(indent) :] if line.startswith(indent) else line for line in lines)
    return found


REPRODUCTIONS = [
    "paper-cifar10-full",
    "paper-cifar10-cpu-decisive",
    "paper-cifar10-cpu-confirmatory",
    "lightweight-cifar10-cpu",
    "paper-cifar10-cpu",
    "arch-sweep-cifar10-cpu",
    "paper-cifar10-sample",
]


def test_every_reproduction_summary_in_the_readme_is_what_its_results_say():
    found = in_readme(README.read_text())
    assert sorted(found) == sorted(REPRODUCTIONS)
    for name, text in found.items():
        assert text == summary(ROOT / "reproductions" / name), f"README's summary of {name} is stale: re-render it"


def test_no_verdict_is_typed_beside_the_rendered_summaries():
    text = README.read_text()
    section = text.split("## What each reproduction found")[1].split("\n## ")[0]
    typed = re.sub(
        r"<!-- sam-bench (summary|leaderboard) (\S+) start -->.*?<!-- sam-bench \1 \2 end -->", "", section, flags=re.S
    )
    for sentence in re.split(r"(?<=[.;:])\s+", typed):  # a claim or a method, and what was found about it
        about = re.search(r"\b(C[1-4]|SAM|ASAM|AT|ST|rho)\b", sentence)
        found = re.search(r"\b(holds?|fails?|inconclusive|beats?|significant(ly)?|better|worse|costs?)\b", sentence)
        assert not (about and found), sentence


@pytest.mark.parametrize("name", REPRODUCTIONS)
def test_each_committed_report_carries_the_verdicts_its_results_give(name):
    folder = ROOT / "reproductions" / name
    records = load_results(folder)
    judged = {arch: verdicts(subset, load_cost(folder)) for arch, subset in by_architecture(records).items()}
    assert "\n".join(_verdict_lines(judged)) in (folder / "REPORT.md").read_text(), f"re-render {folder}/REPORT.md"


def test_update_readme_replaces_only_between_the_markers(tmp_path):
    folder = ROOT / "reproductions" / "paper-cifar10-sample"
    start, end = (
        "<!-- sam-bench summary paper-cifar10-sample start -->",
        "<!-- sam-bench summary paper-cifar10-sample end -->",
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n  {start}\n  typed by hand\n  {end}\noutro\n")
    update_readme(readme, folder)
    body = "\n".join(f"  {line}" if line else "" for line in summary(folder).split("\n"))
    assert readme.read_text() == f"intro\n  {start}\n{body}\n  {end}\noutro\n"
    assert in_readme(readme.read_text()) == {"paper-cifar10-sample": summary(folder)}
    assert summary(folder).split("\n")[1:3] == ["", "- Time: " + summary(folder).split("- Time: ")[1].split("\n")[0]]
    readme.write_text("no markers\n")
    with pytest.raises(BadInput, match="no summary markers for paper-cifar10-sample"):
        update_readme(readme, folder)


# Sentences stronger than their evidence, or not adding up; none may come back.
RETIRED = {
    "a standard error split without its residual": r"standard error [\d.]+ points: seeds [\d.]+, images [\d.]+;",
    "power asked of one seed": r"one training seed in common: the seed-to-seed variation is not measured, so no",
    "one model per method worded as the method": r"SAM is measurably flatter than ST in",
    "a first seed's AutoAttack worded as a method's lead": r"AutoAttack [^:;]*: [\w.-]+ (leads|wins) \(",
    "a collapsed seed mixed into its model's accuracy": r"⚠ collapsed \(\d+ of \d+ seeds\)",
    "a plot's caption saying ST and SAM part where it shows them level": r"where ST and SAM part",
}


@pytest.mark.parametrize("why", RETIRED)
def test_no_committed_report_or_summary_says_a_retired_sentence(why):
    texts = [ROOT / "README.md", README, *sorted((ROOT / "reproductions").glob("*/REPORT.md"))]
    found = [str(path.relative_to(ROOT)) for path in texts if re.search(RETIRED[why], path.read_text())]
    assert not found, f"{why}: {found}"
