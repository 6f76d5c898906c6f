"""RobustBench's own code reads what sam-bench writes of common corruptions: a corruption set written in its layout
gives the same accuracy through its `load_cifar10c` + `clean_accuracy` as through sam-bench's corruption runner, its
corruptions evaluation adds its row to each committed board's `unaggregated_results.csv`, and each committed
corruptions entry is its standard entry with no eps. Skipped where robustbench is not installed or cannot be
imported (its data module imports timm and torchvision, which must match torch)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from sam_bench import files
from sam_bench.corruptions import catalogue
from sam_bench.corruptions.corruption_set import load_corruption_set
from sam_bench.evaluation.corruption_runner import evaluate_corruptions
from sam_bench.leaderboard import corruptions_board

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


ROOT = Path(__file__).resolve().parents[1]


def _committed_boards():
    found = [
        (ROOT / "leaderboards" / dataset / board) for dataset, board in corruptions_board.boards(ROOT / "leaderboards")
    ]
    assert found  # the generated set's board, at least
    return found


def test_robustbenchs_evaluation_adds_its_row_to_each_committed_unaggregated_csv(tmp_path, monkeypatch):
    """RobustBench's corruptions evaluation reads `model_info/<dataset>/corruptions/unaggregated_results.csv` (two
    header rows, the model's name as index), adds the row of the model it measured and writes the file back: on a
    board's file, that must align with its 75 columns, not add new ones, and keep every row as written."""
    import pandas as pd

    data, _ = _robustbench()
    from robustbench import eval as rb_eval
    from robustbench.model_zoo.enums import BenchmarkDataset, ThreatModel

    def loader(n_examples, severity, data_dir, shuffle=False, corruptions=(), prepr=None):
        generator = torch.Generator().manual_seed(severity)
        return torch.rand(n_examples, 3, 32, 32, generator=generator), torch.arange(n_examples) % 10

    monkeypatch.setitem(rb_eval.CORRUPTION_DATASET_LOADERS[BenchmarkDataset.cifar_10], ThreatModel.corruptions, loader)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10)).eval()
    for board in _committed_boards():
        rows = corruptions_board.checked_rows(board.parent.name, board.name, ROOT / "leaderboards")
        there = tmp_path / board.name / "model_info" / "cifar10" / "corruptions" / corruptions_board.CSV
        there.parent.mkdir(parents=True)
        there.write_bytes((board / corruptions_board.CSV).read_bytes())
        monkeypatch.chdir(tmp_path / board.name)
        # named AlexNet: RobustBench's mCE divides by AlexNet's errors, read from the same file
        rb_eval.corruptions_evaluation(
            8, str(tmp_path), BenchmarkDataset.cifar_10, ThreatModel.corruptions, torch.device("cpu"), model, 8,
            True, None, "AlexNet",
        )  # fmt: skip
        merged = pd.read_csv(there, header=[0, 1], index_col=0)
        assert merged.shape == (len(rows) + 1, 75) and not merged.isna().any().any()
        assert list(merged.index) == [r["model_id"] for r in rows] + ["AlexNet"]
        assert list(dict.fromkeys(merged.columns.get_level_values(0))) == list(data.CORRUPTIONS)
        for row in rows:
            mean = 100 * merged.loc[row["model_id"]].mean()
            assert abs(mean - float(row["corruptions_acc"])) < 0.006, row["model_id"]


def test_each_committed_corruptions_entry_is_robustbenchs_with_no_eps():
    """Every field RobustBench's committed corruptions entries hold (model_info/cifar10/corruptions/*.json: the
    standard fields, `eps` null and `corruptions_acc`), each a field of its ModelInfo, the board ranked by the
    field RobustBench ranks a corruptions board by."""
    _, utils = _robustbench()
    from robustbench.model_zoo.enums import ThreatModel

    their_keys = {
        "link", "name", "authors", "additional_data", "number_forward_passes", "dataset", "venue", "architecture",
        "eps", "clean_acc", "reported", "corruptions_acc",
    }  # fmt: skip
    ranked_by = utils.ACC_FIELDS[ThreatModel.corruptions]
    for board in _committed_boards():
        for path in sorted(board.glob("*.json")):
            entry = files.read_json(path)
            theirs = {k: v for k, v in entry.items() if k != "sam_bench"}
            assert their_keys <= set(theirs) <= their_keys | {"footnote"}, path.name
            utils.ModelInfo(**theirs)  # RobustBench's own record of an entry takes every field
            assert theirs["eps"] is None and float(theirs[ranked_by]) == float(entry["corruptions_acc"])
            assert all(isinstance(theirs[k], str) for k in ("clean_acc", "reported", "corruptions_acc"))
