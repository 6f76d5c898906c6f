"""The model zoo (README.md lists its modules); the store's calls and `add_module`, `import_file` are reachable here,
imported on first use: the store imports torch, and `import sam_bench` installs the RobustBench hook without it."""

from __future__ import annotations

from sam_bench.zoo.robustbench_hook import install_robustbench_hook  # noqa: F401  (torch-free)


def __getattr__(name: str):
    import sam_bench.zoo.imported  # and the store, which it imports

    here = globals()
    if name.startswith("__") or "store" not in here or "imported" not in here:  # asked while they import
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if name in here:  # a submodule imported just now
        return here[name]
    if name in ("add_module", "import_file"):  # models trained elsewhere (sam_bench.zoo.imported)
        return getattr(sam_bench.zoo.imported, name)
    return getattr(sam_bench.zoo.store, name)
