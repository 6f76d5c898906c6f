import pytest
import torch

import sam_bench  # noqa: F401  (applies the compat shims before any test imports torchvision)


@pytest.fixture(autouse=True)
def _few_threads():
    # The CI machine has 2 cores; more threads only add contention.
    torch.set_num_threads(2)
    yield
