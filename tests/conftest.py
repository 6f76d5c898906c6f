import pytest
import torch

import sam_bench  # noqa: F401  (applies the compat shims before any test imports torchvision)


@pytest.fixture(autouse=True)
def _few_threads():
    # Tiny models gain nothing from threads, and on a busy 2-core machine threads only contend.
    torch.set_num_threads(1)
    yield
