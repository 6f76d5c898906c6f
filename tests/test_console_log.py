"""tools/console_log.py keeps what a console showed, minus the progress bars' intermediate frames."""

import importlib.util
from pathlib import Path

spec = importlib.util.spec_from_file_location("console_log", Path(__file__).parents[1] / "tools" / "console_log.py")
console_log = importlib.util.module_from_spec(spec)
spec.loader.exec_module(console_log)


def test_only_finished_bars_and_plain_lines_are_kept():
    raw = (
        "epoch 1/2:   0%|          | 0/390 [00:00<?, ?batch/s]\r"
        "epoch 1/2:  50%|█████     | 195/390 [00:10<00:10, 19.5batch/s]\r"
        "epoch 1/2: 100%|██████████| 390/390 [00:20<00:00, 19.4batch/s]\r"
        "epoch 1/2: 100%|██████████| 390/390 [00:20<00:00, 19.5batch/s]\n"
        "epoch 1/2: loss 1.59 train acc 39.86%\n"
        "\x1b[Aclean: 100%|██████████| 1000/1000 [00:01<00:00, 734.60img/s]\n"
        "pgd Linf 1/255:  25%|██▌       | 250/1000 [00:01<00:05, 139.90img/s]\r"
    )
    assert console_log.finished_only(console_log.frames(raw)) == [
        "epoch 1/2: 100%|██████████| 390/390 [00:20<00:00, 19.5batch/s]",  # the last redraw of a finished bar
        "epoch 1/2: loss 1.59 train acc 39.86%",
        "clean: 100%|██████████| 1000/1000 [00:01<00:00, 734.60img/s]",
    ]  # an unfinished bar leaves nothing


def test_a_slice_header_after_a_stopped_process_unfinished_bar_is_kept():
    """A lane's log (tools/cpu_decisive.sh): a slice stopped mid-bar (its process ended at a time limit); the
    next run's slice header was appended to that unterminated frame."""
    raw = (
        "## python -m sam_bench reproduce paper-cifar10 --scale cpu-decisive --only ST:1 (2026-11-23T20:26:14Z)\n"
        "pgd Linf 8/255:  88%|████████▊ | 1750/2000 [00:35<00:04, 55.27img/s]\x1b[A"
        "## python -m sam_bench reproduce paper-cifar10 --scale cpu-decisive --only ST:1 (2026-11-23T22:35:13Z)\n"
        "pgd Linf 8/255: 100%|██████████| 2000/2000 [00:40<00:00, 50.00img/s]\n"
    )
    assert console_log.finished_only(console_log.frames(raw)) == [
        "## python -m sam_bench reproduce paper-cifar10 --scale cpu-decisive --only ST:1 (2026-11-23T20:26:14Z)",
        "## python -m sam_bench reproduce paper-cifar10 --scale cpu-decisive --only ST:1 (2026-11-23T22:35:13Z)",
        "pgd Linf 8/255: 100%|██████████| 2000/2000 [00:40<00:00, 50.00img/s]",
    ]
