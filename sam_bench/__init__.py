"""sam-bench: does Sharpness-Aware Minimization buy adversarial robustness? Train, attack, rank."""
__version__ = "0.1.0"

from . import compat as _compat

_compat.install()  # torchvision on CPU torch, `autoattack` over pyautoattack; no-ops where not needed


def __getattr__(name):
    # Lazy, so that `import sam_bench` stays light for the CLI's --help.
    if name == "load_model":
        from .zoo import load_model
        return load_model
    raise AttributeError(f"module 'sam_bench' has no attribute {name!r}")
