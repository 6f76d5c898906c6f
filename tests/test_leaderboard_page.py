"""The committed boards as a reader sees them: the HTML page fits a 1,300-pixel window (a column chooser hides
the least read columns until ticked), and every row links its training method's paper, from the method table
(sam_bench.training.method_table), never the entry's own `link`."""

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from sam_bench.leaderboard import board
from sam_bench.training import method_table

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.fixture(scope="module")
def boards(tmp_path_factory):
    """The committed cifar10 entries rendered afresh into a folder of the test's own."""
    root = tmp_path_factory.mktemp("boards") / "leaderboards"
    shutil.copytree(REPO / "leaderboards" / "cifar10", root / "cifar10")
    board.render(root, "cifar10", "Linf")
    return root


def methods(root: Path) -> dict[str, str]:
    entries = (json.loads(p.read_text()) for p in (root / "cifar10" / "Linf").glob("*.json"))
    return {e["sam_bench"]["model_id"]: e["sam_bench"]["method"] for e in entries}


def rows(html: str) -> dict[str, str]:
    """Each row of the page's table by its model id."""
    return dict(re.findall(r'<tr data-model-id="([^"]+)">(.*?)</tr>', html, re.S))


def test_every_row_links_its_methods_paper_and_standard_training_none(boards):
    method_of = methods(boards)
    html = (boards / "cifar10-Linf.html").read_text() + (boards / "cifar10-Linf-sample.html").read_text()
    markdown = (boards / "cifar10-Linf.md").read_text() + (boards / "cifar10-Linf-sample.md").read_text()
    shown = rows(html)
    assert set(shown) <= set(method_of)  # the retired entries are listed under the table, not ranked
    assert {"standard", "sam", "at", "fgsm-rs", "n-fgsm"} <= {method_of[model_id] for model_id in shown}
    for model_id, row in shown.items():
        paper = method_table.method(method_of[model_id]).paper
        links = re.findall(r'href="([^"]+)"', row)
        md_row = next(line for line in markdown.splitlines() if f"**{model_id}**" in line)
        if paper is None:
            assert links == [] and "](" not in md_row, model_id
        else:
            assert links == [paper.url] and f">{paper.cite}</a>" in row, model_id
            assert f"([{paper.cite}]({paper.url}))" in md_row, model_id
    fgsm_rs = next(row for model_id, row in shown.items() if method_of[model_id] == "fgsm-rs")
    assert "https://arxiv.org/abs/2001.03994" in fgsm_rs  # Wong, Rice, Kolter 2020, not the SAM paper


def test_the_column_chooser_starts_with_the_other_norm_extra_data_and_venue_hidden(boards):
    html = (boards / "cifar10-Linf.html").read_text()
    boxes = dict(re.findall(r'<input type="checkbox" class="col-toggle" id="show-([\w-]+)"( checked)?>', html))
    assert boxes == {
        "pgd-Linf": " checked",
        "pgd-L2": "",
        "extra": "",
        "arch": " checked",
        "training": " checked",
        "evaluated": " checked",
        "venue": "",
    }
    for group in boxes:  # the box steers its columns: a rule for each, and each column's cells in it
        assert f"#show-{group}:not(:checked) ~ .scroll .col-{group} {{ display: none; }}" in html
    header = re.search(r"<thead>(.*?)</thead>", html, re.S).group(1)
    columns = re.findall(r"<th[^>]*>", header)
    for row in rows(html).values():
        cells = re.findall(r"<td[^>]*>", row)
        assert len(cells) == len(columns)
        assert [re.findall(r"col-[\w-]+", c) for c in cells] == [re.findall(r"col-[\w-]+", c) for c in columns]


@pytest.mark.skipif(CHROMIUM is None, reason="needs a headless Chromium (apt-get install chromium)")
def test_the_page_fits_a_1300_pixel_window_in_chromium(boards, tmp_path):
    """The table's width against the width its box has in a 1,300 x 900 window, measured by the browser."""
    probe = (
        "<script>var box = document.querySelector('.scroll');"
        "document.body.setAttribute('data-widths', box.scrollWidth + ' ' + box.clientWidth + ' ' +"
        " document.documentElement.scrollWidth);</script>"
    )
    for name in ("cifar10-Linf.html", "cifar10-Linf-sample.html"):
        page = tmp_path / name
        page.write_text((boards / name).read_text().replace("</body>", probe + "</body>"))
        with tempfile.TemporaryDirectory() as profile:
            out = subprocess.run(
                [
                    CHROMIUM,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    f"--user-data-dir={profile}",
                    "--window-size=1300,900",
                    "--dump-dom",
                    page.as_uri(),
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
        table, box, document = map(int, re.search(r'data-widths="(\d+) (\d+) (\d+)"', out.stdout).groups())
        assert table <= box and document <= 1300, (name, table, box, document)
