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
each kind of threat model with an evaluator of its own (its records' `kind`, sam_bench.evaluation.evaluators): the
files outside the tables and its own modules that name one of its threat models (as a word: code, text or comment)
or one of its data keys (its entries' own fields and its evaluator's own options), each a place that another such
kind would have to edit. Its own modules are read from the import graph, not from names: those its evaluator module
and its board module (leaderboard/own_boards.BOARDS) import, directly or not, and the norm ball's evaluator does not.
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

# The tables: where a new threat model's, attack's or evaluator's entry goes (a record, an import line of a registry)
TABLES = {
    "sam_bench/threat_models.py",
    "sam_bench/evaluation/attack_table.py",
    "sam_bench/autoattack_versions.py",
    "sam_bench/evaluation/evaluators/__init__.py",
    "sam_bench/evaluation/own_entries.py",
    "sam_bench/leaderboard/own_boards.py",
}
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


def module_name(path: str) -> str:
    """'sam_bench/leaderboard/board.py' -> 'sam_bench.leaderboard.board' (a package's __init__: the package)."""
    parts = PurePosixPath(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(source: str, module: str, modules) -> set[str]:
    """The modules (of `modules`) a source imports, anywhere in it: `import a.b` and `from a import b` import a.b
    where that is a module, else a (`from . import b` alike)."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = module.split(".")[: len(module.split(".")) - node.level + 1]
                base = ".".join([*parent, *([base] if base else [])])
            found |= {f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names}
    return found & set(modules)


def reach(starts, texts: dict[str, str]) -> set[str]:
    """The package's modules that `starts` import, directly or not, and `starts`; a table's imports are not
    followed (a table imports every kind's modules: its registry)."""
    sources = {module_name(p): text for p, text in texts.items() if p.endswith(".py")}
    tables = {module_name(p) for p in TABLES}
    seen, todo = set(), [m for m in starts if m in sources]
    while todo:
        module = todo.pop()
        if module not in seen:
            parts = module.split(".")  # importing a module runs its packages' __init__ too
            seen |= {".".join(parts[:i]) for i in range(1, len(parts)) if ".".join(parts[:i]) in sources}
            seen.add(module)
            if module not in tables:
                todo += imported_modules(sources[module], module, sources)
    return seen


def strangers_naming(words, own_modules, texts: dict[str, str]) -> list[str]:
    """The Python files (of {path: text}) outside the tables and `own_modules` that name one of `words` (a threat
    model's name, a data key), each with where."""
    named = re.compile("|".join(rf"(?<![\w-]){re.escape(w)}(?![\w-])" for w in words), re.IGNORECASE)
    found = []
    for path, source in sorted(texts.items()):
        if not path.endswith(".py") or path in TABLES or module_name(path) in own_modules:
            continue
        lines = [n for n, line in enumerate(source.splitlines(), 1) if named.search(line)]
        if lines:
            found.append(f"{path}: lines {lines}")
    return found


def own_kinds(texts: dict[str, str]) -> list[tuple[str, list[str], set[str]]]:
    """(kind, the words that name it: its threat models and data keys, its own modules) of every kind of threat
    model with an evaluator of its own, as the working tree's tables hold them."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the working tree's tables
    from sam_bench import threat_models
    from sam_bench.evaluation import evaluators, own_entries
    from sam_bench.leaderboard import own_boards

    generic = reach([type(evaluators.EVALUATORS[threat_models.NORM_BALL]).__module__], texts)
    kinds = []
    for kind, evaluator in evaluators.EVALUATORS.items():
        if kind == threat_models.NORM_BALL:
            continue
        board = own_boards.BOARDS.get(kind)
        starts = [type(evaluator).__module__] + ([board.__name__] if board is not None else [])
        entry = own_entries.KINDS.get(kind)
        words = [name for name, tm in threat_models.TABLE.items() if tm.kind == kind]
        words += [*(entry.fields if entry else ()), *(o.name for o in evaluator.options)]
        kinds.append((kind, words, reach(starts, texts) - generic))
    return kinds


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
    for kind, words, own in own_kinds(texts):
        found = strangers_naming(words, own, texts)
        print(f"{kind}, a kind with an evaluator of its own: {len(found)} files name it outside the tables and its own")
        if args.files:
            for line in found:
                print(f"    {line}")


if __name__ == "__main__":
    main()
