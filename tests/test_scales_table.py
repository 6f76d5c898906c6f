"""docs/reproducing.md's table of the scales is rendered from the recipe (sam_bench.recipes.scales_table), never
typed: the page holds exactly what the recipe gives."""

from pathlib import Path

import pytest

from sam_bench.bench import marked_block
from sam_bench.errors import BadInput
from sam_bench.recipes import scales_table
from sam_bench.recipes.recipe import load_recipe, scales

ROOT = Path(__file__).resolve().parents[1]


def test_the_docs_hold_the_scales_table_the_recipe_gives():
    said = marked_block.in_text((ROOT / "docs" / "reproducing.md").read_text(), *scales_table.markers())
    assert said == scales_table.table(), (
        "docs/reproducing.md's scales are stale: python -m sam_bench.recipes.scales_table docs/reproducing.md"
    )


def test_each_row_says_the_scales_settings():
    rows = {line.split(" | ")[0].strip("| `"): line for line in scales_table.table().split("\n")[2:]}
    assert list(rows) == scales("paper-cifar10")
    for scale, row in rows.items():
        plan = load_recipe("paper-cifar10", scale)
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[2] == str(plan.models[0].config.epochs) and cells[4] == plan.dataset and cells[5] == plan.role
    assert "ST, SAM-0.1: 20; AT-Linf-8: 3" in rows["cpu-confirmatory"]
    assert "PreActResNet-18 at 1/8 width" in rows["cpu"] and "| PreActResNet-18 |" in rows["full"]


def test_a_page_without_the_markers_is_refused_untouched(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("no table here\n")
    with pytest.raises(BadInput, match="no scales markers"):
        scales_table.update(page)
    assert page.read_text() == "no table here\n"
    start, end = scales_table.markers()
    page.write_text(f"before\n{start}\ntyped\n{end}\nafter\n")
    scales_table.update(page)
    assert page.read_text() == f"before\n{start}\n{scales_table.table()}\n{end}\nafter\n"
