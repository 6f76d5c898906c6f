"""A RobustBench board's page and table point to the boards at the paper's small budgets in one line
(sam_bench/leaderboard/small_boards_note.py): every link goes to a page that exists, from the file it is in."""

import html
import re
from pathlib import Path

import test_leaderboard
from results_records import zoo_results as results_for
from test_leaderboard import FULL_ID, SAMPLE_IDS, entry, full_results
from test_small_budget_boards import add, with_autoattack

from sam_bench.leaderboard import board as leaderboard
from sam_bench.leaderboard import budgets

trained, dirs = test_leaderboard.trained, test_leaderboard.dirs  # the leaderboard tests' zoo models (fixtures)
REPO = Path(__file__).resolve().parents[1]
NOTE = "the boards at the paper's small budgets are where SAM's effect on robustness can show"


def note_links(text: str, link: str) -> list[str]:
    """The targets the note's line links (`link`: the regex of one link's target), or [] where there is no note."""
    line = next((line for line in html.unescape(text).splitlines() if NOTE in line), None)
    return [] if line is None else re.findall(link, line[line.index(NOTE) :])


HTML_LINK, MD_LINK = r'href="([^"]+)"', r"\]\(([^)]+)\)"


def test_robustbench_pages_link_every_small_board_with_a_page(dirs, tmp_path):
    zoo_dir, boards = dirs
    add(with_autoattack(full_results(entry(zoo_dir, FULL_ID)), "Linf", "2/255", 0.05), boards, zoo_dir)
    add(with_autoattack(full_results(entry(zoo_dir, FULL_ID)), "L2", "16/255", 0.25), boards, zoo_dir)
    docs = tmp_path / "docs"
    docs.mkdir()
    readme = docs / "boards.md"
    readme.write_text(
        "<!-- sam-bench leaderboard cifar10/Linf start -->\n<!-- sam-bench leaderboard cifar10/Linf end -->\n"
    )
    leaderboard.render(boards, readme=readme)

    page = (boards / "cifar10-Linf.html").read_text()
    assert "at most 45.67% under AutoAttack at Linf 8/255" in html.unescape(page)  # the ST model's figure on this board
    assert note_links(page, HTML_LINK) == ["cifar10-Linf-2-255.html", "cifar10-L2-16-255.html"]
    table = (boards / "cifar10-Linf.md").read_text()
    assert note_links(table, MD_LINK) == ["cifar10-Linf-2-255.md", "cifar10-L2-16-255.md"]
    in_docs = note_links(readme.read_text(), MD_LINK)
    assert in_docs == [f"../{boards.name}/cifar10-Linf-2-255.md", f"../{boards.name}/cifar10-L2-16-255.md"]
    for where, links in ((boards, note_links(page, HTML_LINK) + note_links(table, MD_LINK)), (docs, in_docs)):
        assert all((where / link).is_file() for link in links)
    for small in ("cifar10-Linf-2-255.html", "cifar10-L2-16-255.html", "cifar10-Linf-2-255.md"):
        assert NOTE not in html.unescape((boards / small).read_text())  # only RobustBench's boards point away


def test_no_note_without_a_small_board_or_an_st_or_sam_row(dirs):
    zoo_dir, boards = dirs
    add(full_results(entry(zoo_dir, FULL_ID)), boards, zoo_dir)  # RobustBench's budget only
    add(results_for(entry(zoo_dir, SAMPLE_IDS[1]), 0.5, 0.1), boards, zoo_dir)  # a sample page
    leaderboard.render(boards)
    for name in ("cifar10-Linf.html", "cifar10-Linf.md", "cifar10-Linf-sample.html"):
        assert NOTE not in html.unescape((boards / name).read_text())


def test_the_projects_robustbench_pages_point_to_its_small_boards():
    """The committed pages: every RobustBench board with a page links every small board with a page, and each
    link, there and in docs/leaderboard.md, goes to a file that exists."""
    root = REPO / "leaderboards"
    pages = {p.name for p in root.glob("cifar10-*.html") if not p.name.endswith("-sample.html")}
    small = [b.page("cifar10") for b in budgets.all_boards() if not b.robustbench and b.page("cifar10") in pages]
    robustbench = [b.page("cifar10") for b in budgets.all_boards() if b.robustbench and b.page("cifar10") in pages]
    assert small and robustbench
    for name in robustbench:
        links = note_links((root / name).read_text(), HTML_LINK)
        assert sorted(links) == sorted(small), name
        assert all((root / link).is_file() for link in links)
        md_links = note_links((root / name).with_suffix(".md").read_text(), MD_LINK)
        assert sorted(md_links) == sorted(Path(s).with_suffix(".md").name for s in small)
    docs = REPO / "docs"
    in_docs = note_links((docs / "leaderboard.md").read_text(), MD_LINK)
    assert len(in_docs) == len(small) and all((docs / link).is_file() for link in in_docs)
