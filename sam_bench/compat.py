"""The few shims the ecosystem needs today, each doing nothing where the real package works (docs/development.md,
"Compatibility shims"). `import sam_bench` runs each right before its module's first import (`install_on_import()`),
so that importing sam-bench costs no torch import; `install()` applies them at once. Both are idempotent; `ACTIVE`
records what they did.

1. torchvision: PyPI's 0.28.0 is a CUDA build; with CPU-only torch its extension does not load and its import dies
   registering fake kernels for `nms`/`qnms`: the two schemas are defined (detection ops, unused here, stay missing).
2. autoattack: robustbench 1.1.1 imports upstream's git-only `autoattack` but depends on `pyautoattack` 0.2.0
   (keyword-only arguments, `batch_size=`, returns `(x_adv, y_adv)`): a module with upstream's signature is registered.
3. `apgd_starts(source)`: inside the block, an APGD run given no `x_init` starts from `source(adversary, x)`, each
   image's start its own rather than drawn for the whole batch; nothing of pyautoattack is copied.
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.util
import logging
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from pathlib import Path

ACTIVE: set[str] = set()

_TORCHVISION_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_torchvision_lib = None  # keeps the torch.library alive for the life of the process


def ensure_torchvision() -> bool:
    """Make `import torchvision` work on CPU torch: before its first import, when its C++ extension cannot load
    with this torch (a CUDA build on CPU torch), define the two schemas its import registers fake kernels for.
    Returns True if the shim was needed."""
    global _torchvision_lib
    if "torchvision" in sys.modules:
        return "torchvision" in ACTIVE
    spec = importlib.util.find_spec("torchvision")
    folder = spec.submodule_search_locations if spec is not None else None
    extension = next((p for f in folder or [] for p in Path(f).glob("_C.*")), None)
    if extension is None:
        return False  # no torchvision, or one without an extension: nothing can fail
    import torch

    try:
        torch.ops.load_library(str(extension))
        return False  # loads: the real operators are there
    except OSError:
        pass
    _torchvision_lib = torch.library.Library("torchvision", "FRAGMENT")  # noqa: TOR901
    for name, schema in _TORCHVISION_SCHEMAS.items():
        if not torch._C._dispatch_has_kernel(f"torchvision::{name}"):
            with suppress(RuntimeError):  # already defined
                _torchvision_lib.define(schema)
    ACTIVE.add("torchvision")
    return True


class _UpstreamAutoAttack:
    """pyautoattack's AutoAttack behind upstream AutoAttack's signature: AutoAttack(model, norm='Linf', eps=.3,
    version='standard', seed=None, verbose=True, attacks_to_run=[], device='cuda', log_path=None), and
    run_standard_evaluation(x, y, bs=250, return_labels=False, state_path=None) -> x_adv."""

    def __init__(
        self,
        model,
        norm="Linf",
        eps=0.3,
        version="standard",
        seed=None,
        verbose=True,
        attacks_to_run=(),
        device="cuda",
        log_path=None,
    ):
        from pyautoattack import AutoAttack

        # upstream ignores attacks_to_run outside 'custom'; pyautoattack raises
        attacks = (list(attacks_to_run) or None) if version == "custom" else None
        self._inner = AutoAttack(model, attacks=attacks, device=device, eps=eps, norm=norm, seed=seed, version=version)
        self.verbose = verbose
        logger = logging.getLogger("auto-attack")
        if verbose and logger.level == logging.NOTSET and not logger.handlers:
            logger.setLevel(logging.DEBUG)
        if log_path is not None:
            logger.addHandler(logging.FileHandler(log_path))

    def __getattr__(self, name):  # apgd, fab, square, apgd_targeted, attacks_to_run, ...
        return getattr(self._inner, name)

    def __setattr__(self, name, value):
        if name in ("_inner", "verbose"):
            object.__setattr__(self, name, value)
        else:
            setattr(self._inner, name, value)

    def run_standard_evaluation(self, x_orig, y_orig, bs=250, return_labels=False, state_path=None):
        x_adv, y_adv = self._inner.run_standard_evaluation(x_orig, y_orig, batch_size=bs, state_path=state_path)
        return (x_adv, y_adv) if return_labels else x_adv


def ensure_autoattack() -> bool:
    """Register an upstream-compatible `autoattack` module. Returns True if the shim was needed."""
    if "autoattack" in sys.modules:
        return "autoattack" in ACTIVE
    if importlib.util.find_spec("autoattack") is not None:
        return False  # the real upstream package is installed
    if importlib.util.find_spec("pyautoattack") is None:
        return False
    pyaa_state = importlib.import_module("pyautoattack.state")
    module = types.ModuleType("autoattack", "upstream AutoAttack API over pyautoattack (sam_bench.compat)")
    module.AutoAttack = _UpstreamAutoAttack  # type: ignore[attr-defined]  # ModuleType's stub: no such attribute
    module.__path__ = []  # a package, so that `autoattack.state` can be imported
    module.state = pyaa_state  # type: ignore[attr-defined]  # ModuleType's stub: no such attribute
    sys.modules["autoattack"] = module
    sys.modules["autoattack.state"] = pyaa_state
    for sub in ("autopgd_base", "fab_pt", "square", "checks", "other_utils"):
        full = f"pyautoattack.{sub}"
        if importlib.util.find_spec(full) is not None:
            sys.modules[f"autoattack.{sub}"] = importlib.import_module(full)
            setattr(module, sub, sys.modules[f"autoattack.{sub}"])
    ACTIVE.add("autoattack")
    return True


_APGD_STARTS: ContextVar[Callable | None] = ContextVar("apgd_starts", default=None)


@contextmanager
def apgd_starts(source: Callable) -> Iterator[None]:
    """Inside the block every APGD run of pyautoattack that is given no start of its own starts from
    `source(adversary, x)` (x: the images it attacks, on their device) instead of its batch-wide draw. It wraps
    `APGDAttack.attack_single_run` once, which APGD-T and APGD-DLR inherit; outside the block it runs as it is."""
    from pyautoattack.autopgd_base import APGDAttack

    original = APGDAttack.attack_single_run
    if not getattr(original, "_sam_bench_keyed", False):

        @functools.wraps(original)
        def attack_single_run(self, x, y, x_init=None):
            keyed = _APGD_STARTS.get()
            if keyed is not None and x_init is None:
                x_init = keyed(self, x)
            return original(self, x, y, x_init=x_init)

        attack_single_run._sam_bench_keyed = True  # type: ignore[attr-defined]  # a mark on the function object
        APGDAttack.attack_single_run = attack_single_run
    token = _APGD_STARTS.set(source)
    try:
        yield
    finally:
        _APGD_STARTS.reset(token)


def _quiet_pkg_resources() -> None:
    # robustbench 1.1.1 imports pkg_resources (hence setuptools<82), which warns on every import.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated", category=UserWarning)


def install() -> set[str]:
    """Apply every shim that is needed here now; return the names of the active ones."""
    _quiet_pkg_resources()
    ensure_torchvision()
    ensure_autoattack()
    return set(ACTIVE)


class _BeforeFirstImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Runs a shim the first time a module is imported, not before: `import sam_bench` (and so
    `sam-bench --help`) stays free of torch. The shim may provide the module itself."""

    def __init__(self, name: str, shim):
        self.name, self.shim = name, shim

    def find_spec(self, fullname, path, target=None):
        if fullname != self.name:
            return None
        sys.meta_path.remove(self)  # once; the regular finders do the import itself
        self.shim()
        if fullname in sys.modules:  # the shim provided the module
            return importlib.util.spec_from_loader(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        return sys.modules[self.name]

    def exec_module(self, module):
        pass


def install_on_import() -> None:
    """What `import sam_bench` does: each shim runs right before its module's first import."""
    _quiet_pkg_resources()
    for name, shim in (("torchvision", ensure_torchvision), ("autoattack", ensure_autoattack)):
        if name in sys.modules:
            shim()
        elif not any(isinstance(f, _BeforeFirstImport) and f.name == name for f in sys.meta_path):
            sys.meta_path.insert(0, _BeforeFirstImport(name, shim))


@functools.cache
def robustbench_models() -> dict[str, dict] | None:
    """RobustBench's model list: every id of every leaderboard with its model_info (`gdrive_id` says
    where its weights come from), or None where robustbench is not installed. Entries sam-bench
    registered into the same lists (sam_bench.zoo.store.register_with_robustbench) are in it too; the
    caller tells them apart by their gdrive_id. Importing it costs seconds (it imports timm): once per
    process."""
    if importlib.util.find_spec("robustbench") is None:
        return None
    install()  # its imports need the torchvision and autoattack shims
    from robustbench.model_zoo import model_dicts

    return {
        model_id: info
        for threat_models in model_dicts.values()
        for models in threat_models.values()
        for model_id, info in models.items()
    }
