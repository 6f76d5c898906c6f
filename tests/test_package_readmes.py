"""The module-by-module reference lives beside the code: a README.md in the package folder and in each of its
packages lists, in its tables, every module under it once (a row whose first cell names it: `store.py`, or
`optim/sam.py` for a folder without a README of its own) and every sub-folder with a README of its own, and
names nothing that is not there. No table cell there or in docs/architecture.md runs past MAX_CELL characters, and
docs/architecture.md links every one of those READMEs and names every package the import contracts name."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "sam_bench"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
MAX_CELL = 300  # a line a reader takes in at once; the details live in the module's docstring
NAMED = re.compile(r"^`([^`]+)`$")  # a row's first cell: one name in backticks


def readmes() -> list[Path]:
    return sorted(PACKAGE.rglob("README.md"))


def cells(line: str) -> list[str]:
    """A markdown table row's cells (an escaped pipe, `\\|`, stays in its cell)."""
    inner = line.strip()[1:-1] if line.strip().endswith("|") else line.strip()[1:]
    return [c.strip() for c in re.split(r"(?<!\\)\|", inner)]


def table_rows(text: str) -> list[list[str]]:
    """Every row of every table, headers and separators left out."""
    lines = text.splitlines()
    rows = []
    for i, line in enumerate(lines):
        if not line.lstrip().startswith("|"):
            continue
        if set(line.replace("|", "").strip()) <= set("-: "):
            continue  # the separator
        if i + 1 < len(lines) and set(lines[i + 1].replace("|", "").strip()) <= set("-: ") and "-" in lines[i + 1]:
            continue  # the header
        rows.append(cells(line))
    return rows


def listed(readme: Path) -> list[str]:
    """The names a README's rows are about, in order (a name twice is listed twice)."""
    return [m.group(1) for row in table_rows(readme.read_text()) if (m := NAMED.match(row[0]))]


def owner(path: Path) -> Path:
    """The README that must list `path`: the one in the nearest folder above it that has one."""
    folder = path.parent
    while not (folder / "README.md").exists() and folder != PACKAGE:
        folder = folder.parent
    return folder / "README.md"


def required() -> dict[Path, set[str]]:
    """For each README, the names it must list: the modules it owns and the folders below it with a README."""
    needed: dict[Path, set[str]] = {r: set() for r in [*readmes(), PACKAGE / "README.md"]}
    for module in PACKAGE.rglob("*.py"):
        if module.name != "__init__.py":
            readme = owner(module)
            needed[readme].add(str(module.relative_to(readme.parent)))
    for readme in readmes():
        if readme.parent != PACKAGE:
            above = owner(readme.parent)
            needed[above].add(f"{readme.parent.relative_to(above.parent)}/")
    return needed


def test_the_package_folder_has_a_readme():
    assert (PACKAGE / "README.md").exists(), "sam_bench/README.md: the top-level modules and the packages, listed"


@pytest.mark.parametrize("readme", readmes(), ids=lambda p: str(p.relative_to(ROOT)))
def test_a_readme_lists_each_of_its_modules_once_and_nothing_that_is_not_there(readme):
    names = listed(readme)
    twice = sorted({n for n in names if names.count(n) > 1})
    assert not twice, f"{readme.relative_to(ROOT)} lists these more than once: {twice}"
    missing = sorted(required()[readme] - set(names))
    assert not missing, f"{readme.relative_to(ROOT)} does not list {missing}"
    absent = [n for n in names if not list(readme.parent.glob(n.rstrip("/")))]
    assert not absent, f"{readme.relative_to(ROOT)} lists what is not there: {absent}"


@pytest.mark.parametrize("page", [*readmes(), ARCHITECTURE], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_table_cell_is_a_paragraph(page):
    long = [c[:60] + "..." for row in table_rows(page.read_text()) for c in row if len(c) > MAX_CELL]
    assert not long, f"{page.relative_to(ROOT)}: cells over {MAX_CELL} characters: {long}"


def test_architecture_links_every_package_readme():
    text = ARCHITECTURE.read_text()
    unlinked = [str(r.relative_to(ROOT)) for r in readmes() if f"]({Path('..') / r.relative_to(ROOT)})" not in text]
    assert not unlinked, f"docs/architecture.md does not link {unlinked}"


def test_architecture_names_every_package_the_import_contracts_name():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    named = {
        name.strip()
        for section in config.sections()
        if section.startswith("importlinter:contract:")
        for key in ("layers", "source_modules", "forbidden_modules")
        for line in config[section].get(key, "").splitlines()
        for name in line.split("|")
        if name.strip()
    }
    assert named, "setup.cfg names no package in its import contracts"
    text = ARCHITECTURE.read_text()

    def mentioned(name: str) -> bool:  # `cli/`, `threat_models.py`, `sam_bench.cli`
        short = re.escape(name.removeprefix("sam_bench."))
        return re.search(rf"`(sam_bench[./])?{short}(/|\.py)?`", text) is not None

    unnamed = sorted(n for n in named if not mentioned(n))
    assert not unnamed, f"docs/architecture.md does not name {unnamed}"


def test_the_parser_finds_rows_names_and_escaped_pipes():
    text = "| module | what |\n| --- | --- |\n| `a.py` | one |\n| `b/` | x \\| y |\n| plain | z |\n"
    assert table_rows(text) == [["`a.py`", "one"], ["`b/`", "x \\| y"], ["plain", "z"]]
    assert [m.group(1) for row in table_rows(text) if (m := NAMED.match(row[0]))] == ["a.py", "b/"]
