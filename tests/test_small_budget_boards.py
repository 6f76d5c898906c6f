"""Boards at the paper's small budgets (sam_bench/leaderboard/budgets.py): a standard AutoAttack result at Linf
1/255, 2/255 or L2 16/255, 32/255 lands on its own board beside RobustBench's, ranked by its own column, with its
own pages and plot; `evaluate` says before it starts which board its result can go on; `leaderboard submit` sends
RobustBench's budgets only."""

import json
import re
from pathlib import Path

import pytest
import test_leaderboard
from click.testing import CliRunner
from markupsafe import escape
from results_records import first_correct, written
from results_records import zoo_results as results_for
from test_leaderboard import FULL_ID, SAMPLE_IDS, entry, full_results

from sam_bench.cli import cli
from sam_bench.eps import parse_eps
from sam_bench.errors import BadInput
from sam_bench.leaderboard import board as leaderboard
from sam_bench.leaderboard import budgets, claim_note
from sam_bench.leaderboard.entries import BoardEntry
from sam_bench.leaderboard.submission import check_submission
from sam_bench.report.claims import C2_BUDGETS
from sam_bench.threat_models import small_budgets

trained, dirs = test_leaderboard.trained, test_leaderboard.dirs  # the leaderboard tests' zoo models (fixtures)
ATTACKS = {"standard": ["apgd-ce", "apgd-t", "fab-t", "square"], "custom": ["apgd-ce", "apgd-t"]}


def with_autoattack(results: dict, norm: str, eps: str, accuracy: float, version: str = "standard") -> dict:
    """`results` with an AutoAttack evaluation at another budget (on the images of its clean pass)."""
    n, clean = results["dataset"]["n_examples"], results["clean_acc"]
    robust, outcomes = first_correct(accuracy, n)
    value = parse_eps(eps)
    results["evaluations"].append(
        {
            "attack": "autoattack",
            "norm": norm,
            "eps": eps,
            "eps_value": value,
            "settings": {"version": version, "attacks": ATTACKS[version], "seed": 0},
            "clean_acc": clean,
            "robust_acc": robust,
            "attack_reported_acc": robust,
            "per_class_robust_acc": [robust],
            "breakdown": {"clean": clean},
            "max_perturbation": value,
            "n_examples": n,
            "seconds": 1.0,
            "chunks": {"size": n, "count": 1, "resumed": 0},
            "outcomes": outcomes,
        }
    )
    return results


def add(results: dict, boards, zoo_dir) -> list:
    return [
        path for path, _ in leaderboard.write_entries([written(results, boards.parent / "results")], boards, zoo_dir)[0]
    ]


def test_the_small_budgets_are_the_claims():
    """One fact in one place: the boards' small budgets are the ones the claim C2 is judged at."""
    assert small_budgets() == C2_BUDGETS  # the boards' small budgets (budgets.all_boards) are read there
    folders = [b.folder for b in budgets.all_boards()]
    assert folders == ["Linf", "L2", "Linf-1-255", "Linf-2-255", "L2-16-255", "L2-32-255"]
    assert [b.robustbench for b in budgets.all_boards()] == [True, True, False, False, False, False]


def test_a_small_budget_result_lands_on_its_board_ranked_by_its_own_column(dirs):
    zoo_dir, boards = dirs
    st, sam = SAMPLE_IDS[0], SAMPLE_IDS[1]
    # ST ahead at 8/255, SAM ahead at 2/255: each board ranks by its own AutoAttack column
    reached = add(with_autoattack(results_for(entry(zoo_dir, st), 0.5, 0.30), "Linf", "2/255", 0.20), boards, zoo_dir)
    assert reached == [boards / "cifar10" / "Linf" / f"{st}.json", boards / "cifar10" / "Linf-2-255" / f"{st}.json"]
    add(with_autoattack(results_for(entry(zoo_dir, sam), 0.5, 0.10), "Linf", "2/255", 0.40), boards, zoo_dir)
    small = json.loads((boards / "cifar10" / "Linf-2-255" / f"{st}.json").read_text())
    assert (small["eps"], small["autoattack_acc"], small["clean_acc"]) == ("2/255", "20.0", "50.0")
    assert json.loads((boards / "cifar10" / "Linf" / f"{st}.json").read_text())["eps"] == "8/255"
    assert [m.model_id for m in leaderboard.load_board("cifar10", "Linf", boards)] == [st, sam]
    assert [m.model_id for m in leaderboard.load_board("cifar10", "Linf-2-255", boards)] == [sam, st]


def test_a_result_at_a_small_budget_alone_goes_on_that_board_only(dirs):
    zoo_dir, boards = dirs
    results = with_autoattack(results_for(entry(zoo_dir, SAMPLE_IDS[0]), 0.6), "L2", "32/255", 0.25)
    assert add(results, boards, zoo_dir) == [boards / "cifar10" / "L2-32-255" / f"{SAMPLE_IDS[0]}.json"]
    assert not (boards / "cifar10" / "Linf").exists()


def test_only_standard_autoattack_ranks_a_real_board(dirs):
    """A quicker version (APGD-CE + APGD-T) on the real test set goes on no board: it would rank above standard rows
    it is no better than. On the bundled sample's pages it ranks, its row naming its version."""
    zoo_dir, boards = dirs
    real = with_autoattack(
        results_for(entry(zoo_dir, FULL_ID), 0.8, n=1000, name="cifar10", total=10_000), "Linf", "2/255", 0.1, "custom"
    )
    with pytest.raises(BadInput, match=r"no AutoAttack \(standard\) result at a board's budget \(Linf 8/255, 1/255"):
        add(real, boards, zoo_dir)
    sample = with_autoattack(results_for(entry(zoo_dir, SAMPLE_IDS[0]), 0.6), "Linf", "1/255", 0.3, "custom")
    assert add(sample, boards, zoo_dir) == [boards / "cifar10" / "Linf-1-255" / f"{SAMPLE_IDS[0]}.json"]


def test_each_board_is_rendered_with_its_own_pages_and_plot_deterministically(dirs, tmp_path):
    zoo_dir, boards = dirs
    add(with_autoattack(full_results(entry(zoo_dir, FULL_ID)), "Linf", "2/255", 0.05), boards, zoo_dir)
    add(with_autoattack(results_for(entry(zoo_dir, SAMPLE_IDS[1]), 0.5, 0.1), "L2", "16/255", 0.4), boards, zoo_dir)
    docs = tmp_path / "docs"
    docs.mkdir()
    readme = docs / "boards.md"
    marks = [
        f"<!-- sam-bench leaderboard cifar10/{b} {edge} -->\n"
        for b in ("boards", "Linf-2-255")
        for edge in ("start", "end")
    ]
    readme.write_text("".join(marks))
    written_paths = leaderboard.render(boards, readme=readme)
    for stem in ("cifar10-Linf", "cifar10-Linf-2-255", "cifar10-L2-16-255-sample", "cifar10-Linf-sample"):
        for suffix in (".md", ".html", ".png"):
            assert boards / f"{stem}{suffix}" in written_paths
    assert (boards / "cifar10-L2-16-255-sample.png").read_bytes().startswith(b"\x89PNG")
    table = (boards / "cifar10-Linf-2-255.md").read_text()
    assert "AutoAttack (Linf 2/255)" in table and "not a RobustBench board" in table and "| 5.00%" in table
    page = (boards / "cifar10-Linf-2-255.html").read_text()
    assert "not a RobustBench board" in page and 'href="cifar10-Linf.html"' in page
    # a small-budget board says what its rows rest on and links the claim's result over seeds; RobustBench's does not
    findings = claim_note.href(boards)
    assert f"{claim_note.TEXT} [{claim_note.LINK_TEXT}]({findings})." in table
    assert str(escape(claim_note.TEXT)) in page and f'<a href="{findings}">' in page
    assert claim_note.TEXT not in (boards / "cifar10-Linf.md").read_text()
    assert claim_note.TEXT not in (boards / "cifar10-L2-16-255-sample.md").read_text()
    listed = readme.read_text()
    assert "[page](../leaderboards/cifar10-Linf-2-255.html)" in listed and "**cifar10 Linf 8/255**" in listed
    assert f"[{claim_note.LINK_TEXT}]({claim_note.href(readme)})" in listed  # relative to the file it goes in
    assert "AutoAttack (Linf 2/255)" in listed  # the board's own table between its markers
    before = {p: p.read_bytes() for p in written_paths}
    assert leaderboard.render(boards, readme=readme) == written_paths
    assert {p: p.read_bytes() for p in written_paths} == before


def test_submit_sends_robustbench_budgets_only(dirs, tmp_path):
    zoo_dir, boards = dirs
    results = with_autoattack(
        results_for(entry(zoo_dir, FULL_ID), 0.8, n=10_000, name="cifar10", total=10_000), "Linf", "2/255", 0.05
    )
    (small,) = add(results, boards, zoo_dir)
    with pytest.raises(BadInput, match="has no leaderboard entry"):  # its small-budget entry is not looked at
        leaderboard.submit(
            FULL_ID, boards, zoo_dir, tmp_path / "submission", {"link": "https://e.org/p", "authors": "A"}
        )
    info = json.loads(small.read_text())
    problems = check_submission(BoardEntry.of(info, FULL_ID), entry(zoo_dir, FULL_ID))
    assert any("eps must be the string '8/255'" in p and "small budgets" in p for p in problems)


@pytest.mark.parametrize(
    "attack, norm, eps, version, test_set, model_norm, expected",
    [
        ("autoattack", "Linf", "2/255", "standard", "cifar10", "Linf", "leaderboards/cifar10-Linf-2-255.html"),
        ("autoattack", "L2", "16/255", "standard", "cifar10", "Linf", "leaderboards/cifar10-L2-16-255.html"),
        ("autoattack", "Linf", "8/255", "standard", "cifar10", None, "leaderboards/cifar10-Linf.html"),
        (
            "autoattack",
            "Linf",
            "2/255",
            "custom",
            "cifar10-sample",
            None,
            "leaderboards/cifar10-Linf-2-255-sample.html",
        ),
        ("autoattack", "Linf", "2/255", "custom", "cifar10", None, "only AutoAttack's standard version"),
        ("autoattack", "Linf", "4/255", "standard", "cifar10", None, "no board will take it"),
        ("autoattack", "L2", "0.5", "standard", "cifar10", "Linf", "ranks L2 models, this one is Linf"),
        ("pgd", "Linf", "2/255", None, "cifar10", None, "no board is ranked by it"),
    ],
)
def test_the_board_a_result_can_go_on_is_said_before_it_is_measured(
    attack, norm, eps, version, test_set, model_norm, expected
):
    board, line = budgets.destination(attack, norm, eps, version, "cifar10", test_set, model_norm)
    assert expected in line
    assert (board is not None) == expected.startswith("leaderboards/")


def test_evaluate_announces_the_board_before_it_starts(dirs, tmp_path):
    zoo_dir, boards = dirs
    result = CliRunner().invoke(
        cli,
        [
            "evaluate",
            SAMPLE_IDS[0],
            "--attack",
            "autoattack",
            "--version",
            "custom",
            "--attacks",
            "apgd-ce",
            "--eps",
            "2/255,4/255",
            "--n-examples",
            "4",
            "--zoo-dir",
            str(zoo_dir),
            "--out",
            str(tmp_path / "r.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    said = result.output
    assert "autoattack Linf 2/255: its result can go on the cifar10 Linf 2/255 board" in said
    assert "autoattack Linf 4/255: no board will take it" in said
    assert said.index("Linf 2/255 board") < said.index("wrote")


ROOT = Path(__file__).resolve().parents[1]


def _rows(page: Path) -> list[dict[str, str]]:
    """A rendered board's table as {column: cell} per row."""
    lines = [line for line in page.read_text().splitlines() if line.startswith("|")]
    head = [c.strip() for c in lines[0].strip("|").split(" | ")]
    return [dict(zip(head, (c.strip() for c in line.strip("|").split(" | ")))) for line in lines[2:]]


def test_every_committed_board_row_says_the_seed_and_the_images_it_rests_on():
    pages = sorted((ROOT / "leaderboards").glob("cifar10-*.md"))
    assert any("corruptions" in p.name for p in pages) and any("Linf-2-255" in p.name for p in pages)
    for page in pages:
        for row in _rows(page):
            if "corruptions" in page.name:
                assert row["seed"].isdigit() or row["seed"] == "–", (page.name, row)
                assert row["images"].replace(",", "").isdigit(), (page.name, row)
                continue
            elsewhere = "(trained elsewhere)" in row["Model"]
            assert elsewhere or re.match(r"seed \d+, ", row["Training"]), (page.name, row["Model ID"], row["Training"])
            assert re.match(r"[\d,]+ of [\d,]+ \(", row["Evaluated on"]), (page.name, row["Model ID"])
