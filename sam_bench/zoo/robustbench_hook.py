"""Our zoo ids in RobustBench: registered right after `robustbench.utils` is first imported.

Kept apart from `sam_bench.zoo` so that `import sam_bench` installs the hook without importing
torch; the zoo is imported only when RobustBench is.
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import logging
import sys

log = logging.getLogger("sam_bench.zoo")


class _RegisterOnImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path, target=None):
        if fullname != "robustbench.utils":
            return None
        sys.meta_path.remove(self)  # once is enough; the real finders locate the module
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        self.inner = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        module.__loader__ = self.inner
        self.inner.exec_module(module)
        try:
            _register()
        except Exception as err:  # a broken zoo must not break `import robustbench`
            log.warning("sam-bench zoo not registered with RobustBench: %s", err)


def install_robustbench_hook() -> None:
    """Register the zoo with RobustBench now if it is imported, else as soon as it is."""
    if "robustbench.utils" in sys.modules:
        _register()
    elif not any(isinstance(f, _RegisterOnImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _RegisterOnImport())


def _register() -> None:
    from sam_bench.zoo.store import register_with_robustbench

    register_with_robustbench()
