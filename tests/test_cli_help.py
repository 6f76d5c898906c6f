"""`sam-bench --help` is instant: the CLI and `import sam_bench` import no torch."""

import subprocess
import sys


def test_help_imports_no_torch_and_cuts_no_description():
    code = (
        "import sys; from sam_bench.cli import cli\n"
        "for args in ([], ['train'], ['evaluate'], ['zoo'], ['leaderboard'], ['reproduce'], ['bench']):\n"
        "    try:\n"
        "        cli(args + ['--help'], prog_name='sam-bench')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('torch imported' if 'torch' in sys.modules else 'no torch')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith("no torch")
    commands = out.split("Commands:")[1].split("Usage:")[0]
    assert "..." not in commands  # no description cut off
    listed = {line.split()[0] for line in commands.splitlines() if line.strip()}
    assert {"train", "reproduce", "evaluate", "bench"} <= listed and not listed & {"pack", "unpack"}  # ops/ tools
    assert "$SAM_BENCH_ZOO" in out  # evaluate's --zoo-dir names the variable


def test_import_sam_bench_is_light_until_used():
    code = (
        "import sys, sam_bench; light = 'torch' not in sys.modules\n"
        "import torchvision, autoattack  # the shims run on first import\n"
        "print(light, callable(sam_bench.load_model), sorted(sam_bench._compat.ACTIVE))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "True True ['autoattack', 'torchvision']"


def test_reproduce_help_names_every_shipped_recipe():
    from click.testing import CliRunner

    from sam_bench.cli import cli
    from sam_bench.experiments.recipe import RECIPE_DIR

    text = " ".join(CliRunner().invoke(cli, ["reproduce", "--help"]).output.split())
    shipped = sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))
    assert len(shipped) >= 4
    assert [name for name in shipped if name not in text] == []
