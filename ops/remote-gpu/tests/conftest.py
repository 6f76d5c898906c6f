"""The relay's tests: its tools import one another by name (each is a script in ops/remote-gpu/), so that
folder is on the path; the package's own test fixtures (one thread per process, the controlled clocks) are
shared from tests/conftest.py rather than copied.

    PYTHONPATH=$PWD python -m pytest -q ops/remote-gpu/tests -n 2     # from the checkout's root
"""

import importlib.util
import sys
from pathlib import Path

OPS = Path(__file__).resolve().parents[1]
ROOT = OPS.parents[1]
sys.path.insert(0, str(OPS))

_spec = importlib.util.spec_from_file_location("sam_bench_tests_conftest", ROOT / "tests" / "conftest.py")
assert _spec is not None and _spec.loader is not None
_package_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_package_conftest)

_few_threads = _package_conftest._few_threads
evaluation_clock = _package_conftest.evaluation_clock
training_clock = _package_conftest.training_clock

# Under pytest-xdist the rehearsal (minutes: a smoke model trained across two simulated machines) starts first,
# on a worker of its own, and the rest share the others meanwhile.
RUN_FIRST = ["test_gpu_rehearsal.py"]


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: RUN_FIRST.index(item.path.name) if item.path.name in RUN_FIRST else len(RUN_FIRST))
