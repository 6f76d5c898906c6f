"""sam-bench: does Sharpness-Aware Minimization buy adversarial robustness? Train, attack, rank."""
__version__ = "0.1.0"

from . import clock as _clock  # noqa: F401,E402  (first: time limits count from the command's start)

from . import compat as _compat

_compat.install()  # torchvision on CPU torch, `autoattack` over pyautoattack; no-ops where not needed

from .zoo import install_robustbench_hook as _install_robustbench_hook  # noqa: E402  (after the shims)
from .zoo import load_model, register_with_robustbench  # noqa: E402,F401  (the public calls)

_install_robustbench_hook()  # RobustBench sees our zoo ids once robustbench.utils is imported
