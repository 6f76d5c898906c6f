"""The README answers the question first: the findings table and the front figure are rendered from the
reproductions' results (sam_bench.report.findings, effect_plot), never typed; the raw-accuracy figure is each
report's (small_budgets_figure)."""

import re
from pathlib import Path

from click.testing import CliRunner
from test_confirmatory_report import PLAN, grid, write_runs

from sam_bench.bench import marked_block
from sam_bench.cli import cli
from sam_bench.report import claim_effects, code_provenance, confirmatory, effect_plot, findings, small_budgets_figure
from sam_bench.report.folder import Folder

ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_holds_the_findings_its_reproductions_give():
    folders = findings.folders_of(ROOT / "reproductions")
    assert [f.name for f in folders][:2] == ["paper-cifar10-full", "paper-cifar10-cpu-confirmatory"]  # largest first
    loaded = [Folder.load(f) for f in folders]
    said = marked_block.in_text((ROOT / "README.md").read_text(), findings.START, findings.END)
    assert said == findings.table(loaded), (
        "the README's findings are stale: sam-bench report <folder> --readme README.md"
    )
    # the front figure is the effect plot, the 15-seed primary AutoAttack test on it
    assert (ROOT / "reproductions" / effect_plot.NAME).is_file()
    assert f"](reproductions/{effect_plot.NAME})" in (ROOT / "README.md").read_text()
    points = effect_plot.points(loaded)
    assert any(
        p.primary and p.scale == "cpu-confirmatory" and p.measure.startswith("AA Linf 2/255") and p.seeds == 15
        for p in points
    )
    # the raw accuracies at the small budgets are in the report of a scale with ST, SAM-0.1 and an AT model
    confirming = Folder.load(ROOT / "reproductions" / "paper-cifar10-cpu-confirmatory")
    groups = small_budgets_figure.chosen(confirming)
    assert [g[0].method for g in groups] == ["standard", "sam", "at"]
    assert (confirming.path / small_budgets_figure.NAME).is_file()
    assert f"]({small_budgets_figure.NAME})" in (confirming.path / "REPORT.md").read_text()


def test_every_effect_of_the_full_scale_is_in_its_cell_not_one_chosen_budget():
    full = Folder.load(ROOT / "reproductions" / "paper-cifar10-full")
    cell = findings._cell(full, "C2")
    for effect in claim_effects.every_budget(full, "C2"):
        assert findings._effect(effect) in cell
    assert cell.count("PGD ") == 4


def test_a_decided_primary_test_is_said_in_words_with_its_effect(tmp_path):
    records = grid()
    write_runs(tmp_path, records, "HEAD")
    c1, c2 = confirmatory.primary_results(records, PLAN)
    loaded = Folder(tmp_path, PLAN, records, None)
    words = findings._in_words(c2, claim_effects.primary_effects(loaded, c2))
    assert words.startswith("SAM-0.1 is ") and "above ST under AutoAttack Linf 2/255" in words
    d = c2.comparisons[0]
    assert f"{100 * d.difference:.2f} points [{100 * d.low:.2f}, {100 * d.high:.2f}]" in words
    assert words.endswith(f", {d.levels()} (C2 holds)")


def test_report_readme_refuses_a_file_it_can_fill_nothing_in(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("nothing to fill\n")
    result = CliRunner().invoke(
        cli, ["report", str(ROOT / "reproductions" / "paper-cifar10-sample"), "--readme", str(page)]
    )
    assert result.exit_code != 0 and "no summary markers for paper-cifar10-sample" in result.output
    assert page.read_text() == "nothing to fill\n"


def _seed_count(text: str) -> int:
    """The seeds a cell or a list's entry says it rests on: '15 fresh seeds', '5 seeds', '1 seed', 'one seed'."""
    found = re.findall(r"\b(\d+|one) (?:fresh )?seeds?\b", text)
    assert len(set(found)) == 1, text
    return 1 if found[0] == "one" else int(found[0])


def test_each_claim_rests_on_one_count_of_seeds_at_a_scale_wherever_the_first_screen_states_it():
    """The seeds of a claim at a scale are one number in its cell, in the list of signs that differ between scales
    and on the front figure (its rows are the cells' effects)."""
    loaded = [Folder.load(f) for f in findings.folders_of(ROOT / "reproductions")]
    said = marked_block.in_text((ROOT / "README.md").read_text(), findings.START, findings.END)
    scales = [f.plan["scale"] for f in loaded]
    stated: dict[tuple[str, str], set[int]] = {}
    for line in said.splitlines():
        cells = line.split(" | ")
        if line.startswith("| **C") and not line.startswith("| **C4"):
            claim = line[len("| **") : len("| **C1")]
            for scale, cell in zip(scales, cells[1:]):
                if "<br>" in cell:  # a cell with effects: the seeds they rest on
                    stated.setdefault((claim, scale), set()).add(_seed_count(cell.split("<br>")[0]))
        elif line.startswith("- **C"):
            claim = line[len("- **") : len("- **C1")]
            for scale, count in re.findall(r"`([\w-]+)` \((\d+) seeds?\)", line):
                stated.setdefault((claim, scale), set()).add(int(count))
    for p in effect_plot.points(loaded):
        stated.setdefault((p.claim, p.scale), set()).add(p.seeds)
    assert ("C2", "cpu-confirmatory") in stated and ("C1", "full") in stated
    assert {key: counts for key, counts in stated.items() if len(counts) != 1} == {}


def test_the_rule_for_which_figures_a_cell_shows_is_said_in_short_sentences():
    said = marked_block.in_text((ROOT / "README.md").read_text(), findings.START, findings.END)
    rule = said[said.index("Each cell gives") : said.index("Scope of each scale")]
    sentences = [s for s in re.split(r"(?<=[.:])\s+|\n", rule) if s.strip()]
    assert len(sentences) >= 4 and max(len(s) for s in sentences) <= 160, max(sentences, key=len)


def test_a_scale_whose_confirmatory_seeds_are_not_all_measured_says_how_many_are():
    """The scope line names the seeds the primary tests are judged over and, until every one has results, how many
    have: a count of seeds with results beside it must not read as those seeds."""
    names = ("paper-cifar10-full", "paper-cifar10-cpu-confirmatory")
    loaded = [Folder.load(ROOT / "reproductions" / name) for name in names]
    full, confirming = (line for line in findings._scope(loaded) if line.startswith("- `"))
    wanted = code_provenance.seeds(loaded[0].records, loaded[0].plan)[claim_effects.HEADLINE_SAM]
    measured = sum(r.name == claim_effects.HEADLINE_SAM and r.seed in wanted for r in loaded[0].records)
    judged = f"judged over {len(wanted)} seeds of each fixed before they trained"
    assert judged + ("" if measured == len(wanted) else f" ({measured} of them with results so far)") + ";" in full
    assert "judged over 15 seeds of each fixed before they trained;" in confirming


def test_a_waiting_extension_test_shows_its_exploratory_runs_apart_and_unjudged():
    """At full scale E1 waits for its confirmatory seeds, while seeds outside the test (0) or exploratory by their
    records (1, confirmatory in the recipe) have E1 measured: the report and the first screen give those levels as
    exploratory and not judged, from the finished E1 files (a resumable one's finished chunks never count), never
    as the test's measurement."""
    import statistics

    from sam_bench.evaluation.results_record import Results
    from sam_bench.report import extension_tests

    full = Folder.load(ROOT / "reproductions" / "paper-cifar10-full")
    (one,) = extension_tests.judged(full.path, full.plan)
    assert one.verdict is None and one.measured == 0
    finished = [p for p in (full.path / "extensions" / "E1").glob("*.json") if not p.name.endswith(".partial.json")]
    levels = {
        m: [Results.read(p).evaluations[0].robust_acc for p in finished if p.name.startswith(f"{m}-")]
        for m in ("ST", "SAM-0.1")
    }
    assert {m: len(r) for m, r in one.exploratory.items() if r} == {m: len(v) for m, v in levels.items()}
    n = len(levels["ST"])
    assert n >= 1 and len(levels["SAM-0.1"]) == n
    st, sam = statistics.mean(levels["ST"]), statistics.mean(levels["SAM-0.1"])
    seeds = "1 seed" if n == 1 else f"{n} seeds"
    said = f"exploratory, {seeds}: ST {100 * st:.2f}% → SAM-0.1 {100 * sam:.2f}%, {100 * (sam - st):+.2f} points"
    assert one.exploratory_levels() == said
    assert f"So far, {said}, not judged." in "\n".join(extension_tests.section(full.path, full.plan))
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"not measured yet, 0 of {one.needed} runs; {said} (not judged)." in readme
