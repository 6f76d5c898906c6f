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
    from sam_bench.recipes.recipe import RECIPE_DIR

    text = " ".join(CliRunner().invoke(cli, ["reproduce", "--help"]).output.split())
    shipped = sorted(p.stem for p in RECIPE_DIR.glob("*.yaml"))
    assert len(shipped) >= 4
    assert [name for name in shipped if name not in text] == []


def _commands(group, path=()):
    import click

    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


def test_every_option_of_every_command_says_what_it_is():
    import click

    from sam_bench.cli import cli

    untold = []
    for path, command in _commands(cli):
        ctx = click.Context(command, info_name=path[-1])
        for param in command.params:
            if isinstance(param, click.Option) and param.name != "help":
                record = param.get_help_record(ctx)
                if record is None or not record[1].split("[")[0].strip():  # more than its default or choices
                    untold.append(f"{' '.join(path)} {param.opts[0]}")
    assert untold == []


def test_reproduce_scale_lists_every_scale_of_every_shipped_recipe():
    from click.testing import CliRunner

    from sam_bench.cli import cli
    from sam_bench.recipes import recipe

    text = " ".join(CliRunner().invoke(cli, ["reproduce", "--help"]).output.split()).replace("- ", "-")
    listed = text.split("--scale SCALE")[1].split("--data-dir")[0]
    for name in recipe.available():
        scales = list(recipe._read(name)[0]["scales"])
        assert f"{name}: {', '.join(scales)}" in listed


def test_train_rho_says_its_default_and_the_papers():
    from click.testing import CliRunner

    from sam_bench.cli import cli
    from sam_bench.training import method_table

    text = " ".join(CliRunner().invoke(cli, ["train", "--help"]).output.split())
    rho = text.split("--rho FLOAT")[1].split("--attack-norm")[0]
    assert f"{method_table.method('sam').default_rho:g} for sam" in rho and "davda54/sam" in rho
    assert "The paper's headline runs use 0.1" in rho and "--rho 0.1" in rho
