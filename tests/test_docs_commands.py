"""The commands the README and docs/ show run as written: every `sam-bench ...` in their code names a
command that exists, only options that command has, and, where a choice option is given a literal value,
one of its choices; every `python tools/X.py` or `tools/X.sh` names a tool that exists and options it
defines; and every python example runs, its models loading from the committed zoo. A renamed option,
command or model otherwise leaves the manuals teaching one that fails (docs/zoo.md's example named a model
id the zoo never had)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from test_docs_links import PAGES, ROOT

from sam_bench.cli import cli

# A command's words run to the end of its line (a trailing backslash continues it) or to what ends a shell
# command: a pipe, &&, ;, a comment, a closing backtick or parenthesis.
COMMAND = re.compile(r"(?<![\w/-])sam-bench((?:[ \t]+(?:\\\n[ \t]*)?[^\s|&;#`()]+)*)")
TOOL = re.compile(r"(?<![\w/-])((?:python3?[ \t]+)?tools/[\w-]+\.(?:py|sh))((?:[ \t]+[^\s|&;#`()]+)*)")


def code_of(page: Path) -> list[str]:
    """The page's fenced code blocks and inline code spans; HTML comments (the leaderboards' markers
    name `sam-bench leaderboard ...` without being a command) are left out."""
    text = re.sub(r"<!--.*?-->", "", page.read_text(), flags=re.S)
    blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"^```.*?^```[^\n]*$", "", text, flags=re.S | re.M))
    return blocks + spans


def placeholder(word: str) -> bool:
    """A word the reader fills in (DIR, <ModelId>, ..., $VAR, {a,b}), not a literal value."""
    return bool(re.search(r"[<>${}\[\]]|\.\.\.", word)) or (word.isupper() and len(word) > 1)


def options_of(command: click.Command) -> dict[str, click.Parameter | None]:
    found: dict[str, click.Parameter | None] = {"--help": None, "-h": None}
    for param in command.params:
        for name in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
            if name.startswith("-"):
                found[name] = param
    return found


def sam_bench_problems(words: list[str]) -> list[str]:
    command: click.Command = cli
    path = ["sam-bench"]
    rest = list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        if placeholder(rest[0]):
            return []  # `sam-bench COMMAND --help`: a command left to the reader
        sub = command.commands.get(rest[0])
        if sub is None:
            return [f"{' '.join(path)} has no command {rest[0]!r}"]
        path.append(rest.pop(0))
        command = sub
    known = options_of(command)
    problems = []
    for i, word in enumerate(rest):
        if not re.match(r"--?[A-Za-z]", word):
            continue
        name, _, inline_value = word.partition("=")
        if name not in known:
            problems.append(f"{' '.join(path)} has no option {name}")
            continue
        param = known[name]
        value = inline_value or (rest[i + 1] if i + 1 < len(rest) and not param_is_flag(param) else "")
        kind = getattr(param, "type", None)
        if isinstance(kind, click.Choice) and value and not placeholder(value):
            choices = [str(c) for c in kind.choices]
            values = value.split(",") if getattr(param, "multiple", False) else [value]
            problems += [f"{' '.join(path)} {name}: {v!r} is not one of {choices}" for v in values if v not in choices]
    return problems


def param_is_flag(param: click.Parameter | None) -> bool:
    return param is None or bool(getattr(param, "is_flag", False)) or bool(getattr(param, "count", False))


def tool_problems(tool: str, words: list[str]) -> list[str]:
    path = ROOT / tool.split()[-1]
    if not path.is_file():
        return [f"{tool}: no such tool"]
    source = path.read_text()
    # argparse's add_argument("--x", ...), click's options and the shell scripts' case patterns all spell the
    # option out
    return [
        f"{tool} defines no option {word.split('=')[0]}"
        for word in words
        if re.match(r"--[A-Za-z]", word) and word.split("=")[0] not in source
    ]


def problems_in(page: Path, tool=TOOL, problems_of=tool_problems) -> list[str]:
    """What is wrong with the commands the page's code shows, one line each (`tool`: the pattern of the page's
    own tools, `problems_of` what checks them)."""
    problems = []
    for code in code_of(page):
        for match in COMMAND.finditer(code):
            problems += sam_bench_problems(match.group(1).replace("\\\n", " ").split())
        for match in tool.finditer(code):
            problems += problems_of(match.group(1), match.group(2).split())
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_command_the_manuals_show_exists_with_its_options(page):
    assert problems_in(page) == []


def test_the_check_finds_what_it_is_for(tmp_path):
    """It can fail: a made-up command, option and choice, and a missing tool, each named."""
    page = tmp_path / "page.md"
    page.write_text(
        "```bash\nsam-bench evaluate M --attack autoattak --no-such-option\nsam-bench zoo frobnicate\n```\n"
        "Then `python tools/no_such_tool.py --x` and `python tools/first_epoch.py --no-such-flag`.\n"
        "<!-- sam-bench leaderboard cifar10/Linf start -->\n"
    )
    assert problems_in(page) == [
        "sam-bench evaluate --attack: 'autoattak' is not one of " + str(choices("evaluate", "--attack")),
        "sam-bench evaluate has no option --no-such-option",
        "sam-bench zoo has no command 'frobnicate'",
        "python tools/no_such_tool.py: no such tool",
        "python tools/first_epoch.py defines no option --no-such-flag",
    ]


def choices(command: str, option: str) -> list[str]:
    kind = getattr(options_of(cli.commands[command])[option], "type", None)
    assert isinstance(kind, click.Choice)
    return [str(c) for c in kind.choices]


PYTHON_EXAMPLES = {  # "page#n": the page's n-th python block
    f"{page.relative_to(ROOT)}#{i + 1}": block
    for page in PAGES
    for i, block in enumerate(re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.S | re.M))
}


@pytest.mark.parametrize("where,code", PYTHON_EXAMPLES.items(), ids=list(PYTHON_EXAMPLES))
def test_every_python_example_the_manuals_show_runs(where, code, monkeypatch):
    """As a reader runs it, from the checkout's root, with `images` being what the README says they are;
    the models it names load from the committed zoo (their weights from git history, checked)."""
    import torch

    monkeypatch.chdir(ROOT)
    names = {"images": torch.rand(4, 3, 32, 32)}
    exec(compile(code, where, "exec"), names)  # noqa: S102 - the manuals' own code
    model = names.get("model")
    assert isinstance(model, torch.nn.Module) and not model.training, where
    if "logits" in names:
        assert names["logits"].shape == (4, 10), where


def test_the_manuals_show_python_examples():
    assert {where.split("#")[0] for where in PYTHON_EXAMPLES} >= {"README.md", "docs/zoo.md"}
