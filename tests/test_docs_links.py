"""The README is the front door and docs/ holds the manuals: every relative link in README.md, docs/*.md and the
package's READMEs (sam_bench/**/README.md) leads to a file or folder that exists, the README stays short (at most
README_MAX_LINES: pitch, load_model example, the two set-up commands, the path of a
model, what the project has found and the board, the table of pages), and it keeps the two set-up
commands for a fresh machine word for word."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "sam_bench").rglob("README.md"))]
README_MAX_LINES = 200  # a front door, not a manual: the details live in docs/
SET_UP_COMMANDS = [
    "pip install -c constraints-cpu.txt -e . && sam-bench reproduce paper-cifar10 --scale smoke",
    'pip install -c constraints-cpu.txt -e ".[test]" && python -m pytest -q -m "not slow" -n auto',
]
# [text](target) and ![alt](target); the target ends at whitespace or the closing parenthesis (an optional
# "title" after it is not part of the path)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
EXTERNAL = re.compile(r"^([a-z][a-z0-9+.-]*:|#)", re.I)  # http(s):, mailto:, data:, ... or an anchor in the page


def prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where brackets are code, not links."""
    text = re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.S | re.M)
    return re.sub(r"`[^`\n]*`", "", text)


def relative_links(page: Path) -> list[str]:
    return [target for target in LINK.findall(prose(page.read_text())) if not EXTERNAL.match(target)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    missing = [
        target
        for target in relative_links(page)
        if not (page.parent / target.split("#", 1)[0].split("?", 1)[0]).exists()
    ]
    assert not missing, f"{page.relative_to(ROOT)} links to what is not there: {missing}"


def test_the_link_finder_sees_links_and_images_not_code():
    text = '[a](docs/a.md) ![b](x/b.png) [c](http://e) [d](#top) [e](f.md#g "t") `[h](i)` [0,1] (NCHW)\n'
    page = ROOT / "docs" / "_example.md"
    assert [t for t in LINK.findall(prose(text)) if not EXTERNAL.match(t)] == ["docs/a.md", "x/b.png", "f.md#g"]
    assert page.parent / "f.md#g".split("#")[0] == ROOT / "docs" / "f.md"


def test_the_readme_is_short():
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move the details to a page under docs/"


def test_the_readme_keeps_the_two_set_up_commands_word_for_word():
    text = README.read_text()
    for command in SET_UP_COMMANDS:
        assert f"```bash\n{command}\n```" in text, command
