"""sam-bench: does Sharpness-Aware Minimization buy adversarial robustness? Train, attack, rank."""

from sam_bench import compat as _compat  # noqa: E402
from sam_bench.runtime import clock as _clock  # noqa: F401,E402  (first: time limits count from the command's start)
from sam_bench.version import __version__  # noqa: F401
from sam_bench.zoo.robustbench_hook import install_robustbench_hook as _install_robustbench_hook  # noqa: E402

# Nothing here imports torch, so that `sam-bench --help` is quick: each shim (torchvision on CPU
# torch, `autoattack` over pyautoattack) runs right before its module's first import, and
# RobustBench sees our zoo ids once robustbench.utils is imported.
_compat.install_on_import()
_install_robustbench_hook()


def __getattr__(name):
    """The public calls, imported on first use: `sam_bench.load_model`, `sam_bench.register_with_robustbench`,
    `sam_bench.benchmark`."""
    if name == "benchmark":
        from sam_bench.evaluation.evaluators import benchmark

        return benchmark
    if name in ("load_model", "register_with_robustbench"):
        from sam_bench.zoo import store as zoo

        return getattr(zoo, name)
    raise AttributeError(f"module 'sam_bench' has no attribute {name!r}")
