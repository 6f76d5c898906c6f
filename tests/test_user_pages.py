"""The README and docs/ speak of the user's work: none of the project's own machinery (the lanes its own GPU
windows and restores were planned in, its scripts for its own machines, the hours its results were written, a
commit shown with its copied-tree mark, the time its machines were held), in the prose or in the blocks rendered
into them (bench tables, probe reports). The package's own lanes (runtime/lanes.py: runs side by side in one
process) and the format of a results file's code_commit are the user's, and the pages say what they are."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MACHINERY = {
    "the project's work lanes": r"\b(work|restore|GPU|gpu)[ _-]lanes?\b|gpu_lanes",
    "the project's CPU run script": r"cpu_decisive\.sh",
    "a commit shown with its copied tree's mark": r"\b[0-9a-f]{7,40}\+copy\b",
    "a held machine": r"machine you hold",
    "the project's own time limit": r"--max-minutes 230\b",
    "the project's remote machine": r"one command at a time",
    "the hour results were written": r"\b\d\d:\d\d(:\d\d)?( to \d\d:\d\d)? UTC\b|\d{4}-\d\d-\d\dT\d\d:\d\d",
}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_user_pages_carry_none_of_the_projects_machinery(page):
    text = page.read_text()
    found = {what: m.group(0) for what, pattern in MACHINERY.items() if (m := re.search(pattern, text))}
    assert found == {}


def test_a_bench_table_shows_its_commit_without_the_copy_mark_and_its_day():
    from sam_bench.runtime import provenance

    record = {"environment": {"code_commit": "c34cebe+copy"}, "created": "2026-11-26T01:40:35+00:00"}
    assert provenance.shown(record) == "sam-bench commit `c34cebe`, 2026-11-26"
    record["environment"]["code_commit"] = None
    assert provenance.shown(record) == "sam-bench commit `unknown`, 2026-11-26"
