"""The Python that the repository's shell tools run inline (heredocs) imports names that exist: a module moved in
the package must not break a tool that no other test runs to its end (tools/time_quickstart.sh runs a quick start
for minutes before its first import)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IMPORT = re.compile(r"^\s*from (sam_bench[\w.]*) import ([\w, ]+)$", re.MULTILINE)


def inline_imports() -> list[tuple[str, str, str]]:
    found = []
    for script in sorted([*ROOT.glob("tools/*.sh"), *ROOT.glob("ops/*/*.sh"), *ROOT.glob(".ci/*")]):
        if script.is_file():
            for module, names in IMPORT.findall(script.read_text()):
                found += [(script.relative_to(ROOT).as_posix(), module, n.strip()) for n in names.split(",")]
    return found


def test_the_shell_tools_import_what_the_package_has():
    found = inline_imports()
    assert any(script == "tools/time_quickstart.sh" for script, _, _ in found)  # the scan reads the tools
    missing = []
    for script, module, name in found:
        imported = importlib.import_module(module)
        if not hasattr(imported, name):
            try:
                importlib.import_module(f"{module}.{name}")
            except ModuleNotFoundError:
                missing.append(f"{script}: from {module} import {name}")
    assert not missing
