"""The model zoo: the store (`store`: add, load, verify entries), models trained elsewhere (`imported`:
`add_module`, `import_file`; `robustbench_import`) and the RobustBench bridge (`robustbench_hook`). The
store's calls are also reachable here (`sam_bench.zoo.add`, `from sam_bench.zoo import
register_with_robustbench`), imported on first use: the store imports torch, and `import sam_bench` installs
the RobustBench hook without it."""

from __future__ import annotations

import importlib


def __getattr__(name: str):
    if name in ("store", "robustbench_hook"):
        return importlib.import_module(f"{__name__}.{name}")
    if name in ("add_module", "import_file"):  # models trained elsewhere (sam_bench.zoo.imported)
        return getattr(importlib.import_module(f"{__name__}.imported"), name)
    if name == "install_robustbench_hook":
        return importlib.import_module(f"{__name__}.robustbench_hook").install_robustbench_hook
    if name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.store"), name)
