"""How many of the package's files a new attack or a new threat model must touch, at a commit or in the tree.

A file is a touch point where it asks a question by comparing an attack's or a threat model's name (`attack ==
"autoattack"`, `norm == "Linf"`), or enumerates them (a tuple of names, a click choice, a schema enum, a loop over
norms, a mapping keyed by them): a new one goes unseen there until the file is edited. A name used as data (the
paper's budget ("Linf", "2/255"), a results key) is no touch point. The
tables that are meant to hold the names (sam_bench/threat_models.py, sam_bench/evaluation/attack_table.py,
sam_bench/autoattack_versions.py) are counted apart: they are where a new entry goes. Left out alike before and
after: the attacks' own mathematics (sam_bench/attacks/: a new norm needs its projection there whatever the
tables say), the theory's linear model (sam_bench/analysis/theory/: its norms are not the evaluation's threat
models) and nothing else: a docstring's example counts like code.

    python tools/extension_points.py             # the working tree
    python tools/extension_points.py e73e4fa     # a commit
    python tools/extension_points.py e73e4fa --files

Prints, for threat models and for attacks: the files, the folders they are in, and the files of the tables.
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import PurePosixPath

TABLES = {"sam_bench/threat_models.py", "sam_bench/evaluation/attack_table.py", "sam_bench/autoattack_versions.py"}
LEFT_OUT = ("sam_bench/attacks/", "sam_bench/analysis/theory/")
# A question asked by a threat model's name (`norm == "Linf"`), or the threat models enumerated (a tuple, a choice,
# a schema enum: "Linf", "L2" side by side), or a mapping keyed by them
_TM = r"""["'](Linf|L2)["']"""
THREAT_MODEL = re.compile(rf"(==|!=)\s*{_TM}|{_TM}\s*(==|!=)|{_TM}\s*,\s*{_TM}|\{{\s*{_TM}\s*:|{_TM}:\s*\{{")
# The same for attacks: `attack == "autoattack"`, `in ("pgd", "autoattack")`, "clean", "pgd" side by side, a mapping
# keyed by attack names, a schema's "const": "pgd"
_ATTACK = r"""["'](clean|pgd|autoattack)["']"""
ATTACK = re.compile(
    rf"(==|!=)\s*{_ATTACK}|{_ATTACK}\s*(==|!=)|\bin\s*[\(\[\{{]\s*{_ATTACK}|{_ATTACK}\s*,\s*{_ATTACK}"
    rf"|\{{\s*{_ATTACK}\s*:|\"const\":\s*{_ATTACK}"
)


def files(commit: str | None) -> dict[str, str]:
    """{path: text} of the package's Python and schema files at the commit (None: the working tree)."""
    if commit is None:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "sam_bench"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        return {p: open(p, encoding="utf-8").read() for p in listed if p.endswith((".py", ".json"))}
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", commit, "sam_bench"], capture_output=True, text=True, check=True
    ).stdout.split()
    return {
        p: subprocess.run(["git", "show", f"{commit}:{p}"], capture_output=True, text=True, check=True).stdout
        for p in listed
        if p.endswith((".py", ".json")) and "/published/" not in p
    }


def touch_points(texts: dict[str, str], pattern: re.Pattern) -> tuple[list[str], list[str]]:
    """(files outside the tables that name one, the tables' files that do)."""
    named = sorted(
        p for p, text in texts.items() if not p.startswith(LEFT_OUT) and "/published/" not in p and pattern.search(text)
    )
    return [p for p in named if p not in TABLES], [p for p in named if p in TABLES]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commit", nargs="?", default=None, help="a commit (default: the working tree)")
    parser.add_argument("--files", action="store_true", help="list the files")
    args = parser.parse_args()
    texts = files(args.commit)
    for what, pattern in (("threat model", THREAT_MODEL), ("attack", ATTACK)):
        outside, tables = touch_points(texts, pattern)
        folders = sorted({str(PurePosixPath(p).parent) for p in outside})
        print(
            f"a new {what}: {len(outside)} files in {len(folders)} folders name one outside the tables"
            + (f" (the tables that do: {', '.join(tables)})" if tables else "")
        )
        if args.files:
            for p in outside:
                print(f"    {p}")


if __name__ == "__main__":
    main()
