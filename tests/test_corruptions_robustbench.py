"""A corruption set written in RobustBench's layout gives the same accuracy through RobustBench's own
`load_cifar10c` + `clean_accuracy` as through sam-bench's corruption runner. Skipped where robustbench is not
installed or cannot be imported (its data module imports timm and torchvision, which must match torch)."""

from __future__ import annotations

import pytest
import torch

from sam_bench.corruptions import catalogue
from sam_bench.corruptions.corruption_set import load_corruption_set
from sam_bench.evaluation.corruption_runner import evaluate_corruptions

N = 200
CORRUPTIONS = ("gaussian_noise", "fog", "jpeg_compression")


def _robustbench():
    try:
        import robustbench.data
        import robustbench.utils
    except Exception as error:  # not installed, or its timm/torchvision do not import with this torch
        pytest.skip(f"robustbench cannot be imported here: {type(error).__name__}: {error}")
    return robustbench.data, robustbench.utils


def test_robustbench_reads_the_written_layout_to_the_same_accuracy(tmp_path):
    data, utils = _robustbench()
    torch.manual_seed(0)
    # a linear model on the pixels: its predictions follow each image (a fresh network's are one class for all)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)).eval()
    corruption_set = load_corruption_set(catalogue.SAMPLE_GENERATED)
    corruption_set.write_layout(tmp_path)
    # RobustBench slices each file in blocks of 10,000 images per severity: the sample's 500 images a severity
    # are read right at severity 1 only
    record = evaluate_corruptions(model, corruption_set, n_examples=N, corruptions=CORRUPTIONS, severities=(1,))
    for corruption in CORRUPTIONS:
        x, y = data.load_cifar10c(N, severity=1, data_dir=str(tmp_path), corruptions=[corruption])
        theirs = utils.clean_accuracy(model, x, y, batch_size=16, device=torch.device("cpu"))
        assert theirs == pytest.approx(record["accuracy"][corruption]["1"], abs=1e-9), corruption
