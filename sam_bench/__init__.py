"""sam-bench: does Sharpness-Aware Minimization buy adversarial robustness? Train, attack, rank."""
__version__ = "0.1.0"

from . import compat as _compat

_compat.install()  # torchvision on CPU torch, `autoattack` over pyautoattack; no-ops where not needed


def _hook_robustbench():
    # RobustBench sees our zoo ids once robustbench.utils is imported; nothing is imported now.
    from .zoo import install_robustbench_hook
    install_robustbench_hook()


_hook_robustbench()


def __getattr__(name):
    # Lazy, so that `import sam_bench` stays light for the CLI's --help.
    if name in ("load_model", "register_with_robustbench"):
        from . import zoo
        return getattr(zoo, name)
    raise AttributeError(f"module 'sam_bench' has no attribute {name!r}")
