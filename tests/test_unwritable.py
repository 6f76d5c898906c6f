"""An output that cannot be written is one line and a non-zero exit, before any work is done.

Root writes anywhere, so as root the commands run with the capabilities that let it ignore
permissions dropped (`setpriv --bounding-set -dac_override,-dac_read_search`): a read-only folder
then refuses root too, as it refuses any user.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
AS_USER = (
    ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search"]
    if os.geteuid() == 0
    else []
)


def sam_bench(*args, cwd=None):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "OMP_NUM_THREADS": "1"}
    return subprocess.run(
        [*AS_USER, sys.executable, "-m", "sam_bench", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    if AS_USER and shutil.which("setpriv") is None:
        pytest.fail("running as root needs setpriv (util-linux) to test read-only folders")
    tmp = tmp_path_factory.mktemp("unwritable")
    run = tmp / "run"
    done = sam_bench(
        "train",
        "--dataset",
        "cifar10-sample",
        "--n-train",
        "64",
        "--batch-size",
        "32",
        "--epochs",
        "1",
        "--width",
        "0.0625",
        "--device",
        "cpu",
        "--quiet",
        "--out",
        run,
    )
    assert done.returncode == 0, done.stderr
    shutil.copytree(ROOT / "leaderboards", tmp / "boards")
    (tmp / "ro").mkdir()
    for folder in (tmp / "ro", tmp / "boards", *(p for p in (tmp / "boards").rglob("*") if p.is_dir())):
        folder.chmod(0o555)
    yield tmp
    for folder in (tmp / "ro", tmp / "boards", *(p for p in (tmp / "boards").rglob("*") if p.is_dir())):
        folder.chmod(0o755)


@pytest.mark.parametrize("command", ["train", "evaluate", "plot", "zoo add", "leaderboard render", "reproduce"])
def test_unwritable_output_is_one_line(setup, command):
    ro, run = setup / "ro", setup / "run"
    args = {
        "train": [
            "train",
            "--dataset",
            "synthetic",
            "--epochs",
            "1",
            "--device",
            "cpu",
            "--quiet",
            "--out",
            ro / "run",
        ],
        "evaluate": [
            "evaluate",
            run,
            "--attack",
            "pgd",
            "--eps",
            "1/255",
            "--steps",
            "1",
            "--quiet",
            "--out",
            ro / "r.json",
        ],
        "plot": [
            "evaluate",
            run,
            "--attack",
            "pgd",
            "--eps",
            "1/255",
            "--steps",
            "1",
            "--quiet",
            "--out",
            setup / "r.json",
            "--plot",
            ro / "p.png",
        ],
        "zoo add": ["zoo", "add", run, "--zoo-dir", ro / "zoo"],
        "leaderboard render": ["leaderboard", "render", "--leaderboard-dir", setup / "boards"],
        "reproduce": ["reproduce", "paper-cifar10", "--scale", "smoke", "--out", ro / "smoke", "--quiet"],
    }[command]
    done = sam_bench(*args)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: cannot write ") and "Permission denied" in lines[0], (
        done.stderr[-1500:]
    )
    assert not (setup / "r.json").exists()  # the evaluation with an unwritable plot did not run first
