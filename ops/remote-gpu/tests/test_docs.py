"""The relay's own page (README.md here) is held to the package's standard for its docs: every
command they show exists with the options given, the relay's subcommands passing the rest on to the
`sam-bench` command they run, and every relative link resolves (tests/test_docs_commands.py and
tests/test_docs_links.py, whose checks these reuse)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

OPS = Path(__file__).resolve().parents[1]
ROOT = OPS.parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from test_docs_commands import problems_in, sam_bench_problems, tool_problems  # noqa: E402
from test_docs_links import relative_links  # noqa: E402

PAGES = sorted(OPS.glob("*.md"))
TOOL = re.compile(r"(?<![\w/-])((?:python3?[ \t]+)?ops/remote-gpu/[\w-]+\.(?:py|sh))((?:[ \t]+[^\s|&;#`()]+)*)")
# gpu_relay.sh's own options (with how many values each takes); its reproduce call passes the rest on to
# `sam-bench reproduce`
RELAY_OPTIONS = {"--left": 1, "--at-most": 1, "--batches": 1, "--last": 0}
RELAY_PASSES_ON = {"reproduce": ["reproduce"]}


def relay_problems(tool: str, words: list[str]) -> list[str]:
    """tool_problems, with a tool's options found in the sibling modules it imports too (unpack.py's are in
    pack.py), and the relay's subcommands checking what they pass on."""
    path = ROOT / tool.split()[-1]
    if not path.is_file() or path.suffix != ".py" and path.name != "gpu_relay.sh":
        return tool_problems(tool, words)
    passed_on: list[str] = []
    if path.name == "gpu_relay.sh" and words:
        rest, words = words[1:], [words[0]]
        while rest:
            word = rest.pop(0)
            if word in RELAY_OPTIONS:
                words.append(word)
                rest = rest[RELAY_OPTIONS[word] :]
            else:
                passed_on.append(word)
    source = path.read_text()
    for name in re.findall(r"^(?:from|import) (\w+)", source, re.M):
        if (path.parent / f"{name}.py").is_file():
            source += (path.parent / f"{name}.py").read_text()
    problems = [
        f"{tool} defines no option {word.split('=')[0]}"
        for word in words
        if re.match(r"--[A-Za-z]", word) and word.split("=")[0] not in source
    ]
    if passed_on and words[0] in RELAY_PASSES_ON:
        problems += sam_bench_problems(RELAY_PASSES_ON[words[0]] + passed_on)
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_command_the_relays_pages_show_exists_with_its_options(page):
    assert problems_in(page, TOOL, relay_problems) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_of_the_relays_pages_resolves(page):
    missing = [t for t in relative_links(page) if not (page.parent / t.split("#", 1)[0]).exists()]
    assert not missing, f"{page.name} links to what is not there: {missing}"


def test_the_check_finds_what_it_is_for(tmp_path):
    page = tmp_path / "page.md"
    page.write_text(
        "`python ops/remote-gpu/gpu_prepare.py --no-such-flag` and `python3 ops/remote-gpu/unpack.py B --into .`\n"
        "`ops/remote-gpu/gpu_relay.sh reproduce --left L paper-cifar10 full --no-such-reproduce-option --parallel 1`\n"
        "`ops/remote-gpu/no_such.sh --x`\n"
    )
    assert problems_in(page, TOOL, relay_problems) == [
        "python ops/remote-gpu/gpu_prepare.py defines no option --no-such-flag",
        "sam-bench reproduce has no option --no-such-reproduce-option",
        "ops/remote-gpu/no_such.sh: no such tool",
    ]
