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

Prints, for threat models and for attacks: the files, the folders they are in, and the files of the tables. Then, for
each threat model with modules of its own (its record's `own_modules`, as the working tree's table lists them): the
files outside the tables, its own modules and an extension test's that name it (its name as a word, code, text or
comment) or import one of its own modules (a dotted reference in a string included), each a place that another such
threat model would have to edit; tests/test_evaluation_tables.py holds the package to none.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

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


# Besides the tables and a threat model's own modules, an extension test's modules may name a threat model with
# modules of its own: a question fixed in a recipe before its data, about one measure of it
EXTENSION_TEST_MODULES = {
    "sam_bench.recipes.endpoints",
    "sam_bench.experiments.extension_runs",
    "sam_bench.report.extension_tests",
}


def module_name(path: str) -> str:
    """'sam_bench/leaderboard/board.py' -> 'sam_bench.leaderboard.board' (a package's __init__: the package)."""
    parts = PurePosixPath(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def within(module: str, owners) -> bool:
    return any(module == owner or module.startswith(owner + ".") for owner in owners)


def imported_modules(source: str) -> set[str]:
    """Every module a source imports (`import a.b`, `from a import b`: a and a.b) or names in a string (a dotted
    reference that importlib resolves, "package.module:attribute")."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("sam_bench."):
            found.add(node.value.partition(":")[0])
    return found


def strangers_naming(name: str, own_modules, texts: dict[str, str]) -> list[str]:
    """The Python files (of {path: text}) outside the tables, the threat model's own modules and the extension
    tests' that name it or import one of its own modules, each with where."""
    named = re.compile(rf"(?<![\w-]){re.escape(name)}(?![\w-])", re.IGNORECASE)
    tables = {module_name(p) for p in TABLES}
    found = []
    for path, source in sorted(texts.items()):
        module = module_name(path)
        if not path.endswith(".py") or module in tables | EXTENSION_TEST_MODULES or within(module, own_modules):
            continue
        lines = [n for n, line in enumerate(source.splitlines(), 1) if named.search(line)]
        imported = sorted(m for m in imported_modules(source) if within(m, own_modules))
        if lines or imported:
            found.append(f"{path}: names {name} at lines {lines}, imports {imported}")
    return found


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
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the working tree's table
    from sam_bench import threat_models

    for tm in threat_models.TABLE.values():
        if tm.own_modules:
            found = strangers_naming(tm.name, tm.own_modules, texts)
            print(f"{tm.name}, a threat model with modules of its own: {len(found)} files name it or import them")
            if args.files:
                for line in found:
                    print(f"    {line}")


if __name__ == "__main__":
    main()
