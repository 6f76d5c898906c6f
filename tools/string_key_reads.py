"""Where the package reads a zoo entry or a plan entry by string key (`entry["weights"]`, `m.get("config")`) outside
the modules that read and write them, file by file, in the working tree or at a commit.

A zoo entry is what `sam_bench.zoo.store` finds (`find_entry`, `list_entries`, `load_model_with_info`) and what a
function that returns one hands on; its `weights` block is part of it. A plan entry is one of a reproduction's
`plan.json` models (`plan["models"]`, `folder.plan["models"]`, `read_plan(folder)["models"]`). The names that hold
one are followed through a module's assignments, loops and comprehensions, into the parameters of the package's
functions they are passed to and out of the functions that return them; a parameter annotated with the record's
class holds one too. A read is a subscript by a string (`x["id"]`) or `x.get("id")` on such a name; a board entry
(a leaderboard's JSON row) or a results file is neither and is not counted.

    python tools/string_key_reads.py            # the working tree
    python tools/string_key_reads.py HEAD~3     # a commit
    python tools/string_key_reads.py --lines    # each read, under its file
"""

from __future__ import annotations

import argparse
import ast
import subprocess
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The modules that read, check and write each record: string keys are how they handle the file (the zoo entry's
# training record is checked against its run's log by training_record, an entry as written included)
READERS = {
    "zoo": {"zoo/store.py", "zoo/entry.py", "zoo/training_record.py"},
    "plan": {"recipes/recipe.py", "recipes/plan_entry.py"},
}
# Calls that return a zoo entry (a list of them, or (model, entry) for load_model_with_info)
ZOO_SOURCES = {"find_entry", "list_entries", "load_model_with_info"}
RECORD_CLASSES = {"zoo": "ZooEntry", "plan": "PlanEntry"}


def _texts(commit: str | None) -> dict[str, str]:
    """{path under sam_bench/: text} of the package's Python files."""
    if commit is None:
        return {
            str(p.relative_to(ROOT / "sam_bench")): p.read_text() for p in sorted((ROOT / "sam_bench").rglob("*.py"))
        }
    listed = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", commit, "sam_bench"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    return {
        p.removeprefix("sam_bench/"): subprocess.run(
            ["git", "show", f"{commit}:{p}"], capture_output=True, text=True, check=True, cwd=ROOT
        ).stdout
        for p in listed
        if p.endswith(".py")
    }


def _called(node: ast.AST) -> str | None:
    if isinstance(node, ast.Call):
        f = node.func
        return f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    return None


def _key(node: ast.AST) -> str | None:
    """The string key of `x["k"]` or `x.get("k")`, and the receiver is checked by the caller."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str):
        return node.slice.value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def _receiver(node: ast.AST) -> ast.AST:
    return node.value if isinstance(node, ast.Subscript) else node.func.value  # type: ignore[attr-defined]


def _is_plan(node: ast.AST) -> bool:
    """`plan`, `folder.plan`, `self.plan`, `read_plan(folder)`: a reproduction's plan.json as read."""
    return (
        (isinstance(node, ast.Name) and node.id == "plan")
        or (isinstance(node, ast.Attribute) and node.attr == "plan")
        or _called(node) == "read_plan"
    )


class _Scope:
    """The names of one function (or module body) that hold a record of each kind: single ones and lists."""

    def __init__(self, node: ast.AST):
        self.node = node
        self.nodes = list(_own_nodes(node))
        self.one: dict[str, set[str]] = {"zoo": set(), "plan": set()}
        self.many: dict[str, set[str]] = {"zoo": set(), "plan": set()}


def _functions(tree: ast.AST) -> list[ast.AST]:
    return [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))]


def _own_nodes(scope: ast.AST):
    """The nodes of a function that are not inside a function defined in it."""
    stack = list(ast.iter_child_nodes(scope))
    while stack:
        node = stack.pop()
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))


def analyse(texts: dict[str, str]) -> dict[str, Counter]:
    """{kind: Counter({file: reads outside the readers})}."""
    counts: dict[str, Counter] = {"zoo": Counter(), "plan": Counter()}
    for kind, found in reads(texts).items():
        counts[kind].update(path for path, _, _ in found)
    return counts


def reads(texts: dict[str, str]) -> dict[str, list[tuple[str, int, str]]]:
    """{kind: [(file, line, the read as written)]} outside the readers."""
    trees = {path: ast.parse(text) for path, text in texts.items()}
    scopes = {path: [_Scope(f) for f in _functions(tree)] for path, tree in trees.items()}
    defs: dict[str, list[tuple[str, str | None, ast.AST]]] = {}  # function name: (its file, its class, its def)
    for path, tree in trees.items():
        classes = {id(f): c.name for c in ast.walk(tree) if isinstance(c, ast.ClassDef) for f in c.body}
        for f in _functions(tree)[1:]:
            defs.setdefault(f.name, []).append((path, classes.get(id(f)), f))  # type: ignore[attr-defined]
    modules = {Path(p).stem for p in trees}
    returns = {"zoo": set(ZOO_SOURCES) - {"load_model_with_info", "list_entries"}, "plan": set()}
    returns_many = {"zoo": {"list_entries"}, "plan": set()}
    params: dict[str, set[tuple[int, str]]] = {"zoo": set(), "plan": set()}  # (id of a def, parameter name)
    params["zoo_many"], params["plan_many"] = set(), set()  # parameters that hold a list of them
    changed = True
    while changed:
        changed = False
        for path in trees:
            for scope in scopes[path]:
                changed |= _follow(path, scope, returns, returns_many, params, defs, modules)
    found: dict[str, list[tuple[str, int, str]]] = {"zoo": [], "plan": []}
    for path in trees:
        for scope in scopes[path]:
            for node in scope.nodes:
                if _key(node) is None:
                    continue
                kind = _holds(_receiver(node), scope, returns)
                if kind and path not in READERS[kind]:
                    found[kind].append((path, node.lineno, ast.unparse(node)))
    return {kind: sorted(f) for kind, f in found.items()}


def _holds(node: ast.AST, scope: _Scope, returns) -> str | None:
    """Which record an expression is: a name that holds one, a record's block (`entry["weights"]`), a call of a
    function that returns one, `plan["models"][i]`."""
    if isinstance(node, ast.Name):
        return next((k for k in ("zoo", "plan") if node.id in scope.one[k]), None)
    if _called(node) and _called(node) in returns["zoo"]:
        return "zoo"
    if isinstance(node, ast.Subscript) and not (
        isinstance(node.slice, ast.Constant) and isinstance(node.slice.value, str)
    ):
        return "plan" if _is_models(node.value, scope) == "plan" else None
    if _key(node) == "weights" and _holds(_receiver(node), scope, returns) == "zoo":
        return "zoo"  # the entry's weights block
    return None


def _is_models(node: ast.AST, scope: _Scope) -> str | None:
    """Which record a list holds: `plan["models"]`, a list name, a list comprehension of one's items."""
    if _key(node) == "models" and _is_plan(_receiver(node)):
        return "plan"
    if isinstance(node, ast.ListComp) and isinstance(node.elt, ast.Name):
        loop = node.generators[0]
        if node.elt.id in _targets(loop.target):
            return _is_models(loop.iter, scope)
    if isinstance(node, ast.Name):
        return next((k for k in ("zoo", "plan") if node.id in scope.many[k]), None)
    return None


def _targets(target: ast.AST) -> list[str]:
    return [target.id] if isinstance(target, ast.Name) else []


def _callees(path: str, call: ast.Call, defs, modules: set[str]) -> list[ast.AST]:
    """The package's functions a call may reach: `module.f(...)` those of a file of that name, `Class.f(...)` that
    class's, `self.f(...)` the caller's own file's methods, `f(...)` the caller's own file's where it has one; else
    every function of that name."""
    found = defs.get(_called(call) or "", [])
    if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
        name = call.func.value.id
        if name in modules:  # a module's function: that module's only
            return [f for p, _, f in found if Path(p).stem == name]
        if any(c == name for _, c, _ in found):  # a class's method
            return [f for _, c, f in found if c == name]
        if name in ("self", "cls"):
            return [f for p, c, f in found if p == path and c is not None]
        return [f for _, _, f in found]  # a method of an object the call does not name
    own = [f for p, _, f in found if p == path]
    return own or [f for _, _, f in found]


def _follow(path: str, scope: _Scope, returns, returns_many, params, defs, modules) -> bool:
    before = sum(len(s) for s in (*scope.one.values(), *scope.many.values())) + sum(map(len, params.values()))
    before += sum(map(len, returns.values()))
    node0 = scope.node
    if isinstance(node0, (ast.FunctionDef, ast.AsyncFunctionDef)):
        args = [*node0.args.posonlyargs, *node0.args.args, *node0.args.kwonlyargs]
        for kind in ("zoo", "plan"):
            for a in args:
                annotated = a.annotation is not None and RECORD_CLASSES[kind] in ast.unparse(a.annotation)
                if annotated or (id(node0), a.arg) in params[kind] or (kind == "zoo" and a.arg == "zoo_entry"):
                    scope.one[kind].add(a.arg)
                if (id(node0), a.arg) in params[f"{kind}_many"]:
                    scope.many[kind].add(a.arg)
    for node in scope.nodes:
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)):
            value = node.value
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if value is None:
                continue
            for target in targets:
                kind = _holds(value, scope, returns)
                if kind:
                    for name in _targets(target):
                        scope.one[kind].add(name)
                many = _is_models(value, scope) or ("zoo" if _called(value) in returns_many["zoo"] else None)
                if many:
                    for name in _targets(target):
                        scope.many[many].add(name)
                if _called(value) == "load_model_with_info" and isinstance(target, ast.Tuple):
                    scope.one["zoo"].update(_targets(target.elts[-1]))
                if isinstance(value, ast.Call) and _called(value) == "next" and value.args:
                    gen = value.args[0]
                    if isinstance(gen, ast.GeneratorExp):
                        kind = _loop_kind(gen.generators[0].iter, scope, returns_many)
                        if kind and isinstance(gen.elt, ast.Name) and gen.elt.id in _targets(gen.generators[0].target):
                            for name in _targets(target):
                                scope.one[kind].add(name)
        elif isinstance(node, (ast.For, ast.comprehension)):
            kind = _loop_kind(node.iter, scope, returns_many)
            if kind:
                scope.one[kind].update(_targets(node.target))
        elif isinstance(node, ast.Return) and node.value is not None and isinstance(node0, ast.FunctionDef):
            if _holds(node.value, scope, returns) == "zoo":
                returns["zoo"].add(node0.name)
        elif isinstance(node, ast.Call) and _called(node) in defs:
            for f in _callees(path, node, defs, modules):
                names = [a.arg for a in [*f.args.posonlyargs, *f.args.args]]  # type: ignore[attr-defined]
                if names and names[0] in ("self", "cls") and isinstance(node.func, ast.Attribute):
                    names = names[1:]
                given = list(zip(names, node.args)) + [(k.arg, k.value) for k in node.keywords if k.arg]
                for name, value in given:
                    kind = _holds(value, scope, returns)
                    if kind:
                        params[kind].add((id(f), name))
                    many = _is_models(value, scope)
                    if many:
                        params[f"{many}_many"].add((id(f), name))
    after = sum(len(s) for s in (*scope.one.values(), *scope.many.values())) + sum(map(len, params.values()))
    return after + sum(map(len, returns.values())) != before


def _loop_kind(iterable: ast.AST, scope: _Scope, returns_many) -> str | None:
    if _called(iterable) in returns_many["zoo"]:
        return "zoo"
    return _is_models(iterable, scope)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("commit", nargs="?", default=None, help="a commit (default: the working tree)")
    parser.add_argument("--lines", action="store_true", help="list each read")
    args = parser.parse_args()
    texts = _texts(args.commit)
    every = reads(texts)
    for kind, counts in analyse(texts).items():
        readers = ", ".join(sorted(READERS[kind]))
        print(f"{kind} entries: {sum(counts.values())} string-key reads outside their readers ({readers})")
        for path, n in sorted(counts.items()):
            print(f"  {n:4d}  sam_bench/{path}")
            for _, line, text in every[kind] if args.lines else []:
                if _ == path:
                    print(f"          {line}: {text}")


if __name__ == "__main__":
    main()
