"""A recipe's scales as one table (scale, model, epochs, seeds per model, data, role), rendered from the recipe
itself so that the docs never say other settings than a run gets.

`python -m sam_bench.recipes.scales_table docs/reproducing.md` replaces the text between
`<!-- sam-bench scales paper-cifar10 start -->` and `<!-- sam-bench scales paper-cifar10 end -->` with `table()`;
tests/test_scales_table.py checks the page holds exactly that.
"""

from __future__ import annotations

import re
import sys
from collections import Counter
from pathlib import Path

from sam_bench import files
from sam_bench.errors import BadInput
from sam_bench.recipes.recipe import Recipe, load_recipe, scales

RECIPE = "paper-cifar10"
ARCHITECTURES = {"preactresnet18": "PreActResNet-18"}


def markers(recipe: str = RECIPE) -> tuple[str, str]:
    return tuple(f"<!-- sam-bench scales {recipe} {edge} -->" for edge in ("start", "end"))  # type: ignore[return-value]


def table(recipe: str = RECIPE) -> str:
    """The Markdown table of every scale of `recipe`, in the recipe's order."""
    lines = ["| scale | model | epochs | seeds per model | data | role |", "|---|---|---:|---|---|---|"]
    for scale in scales(recipe):
        plan = load_recipe(recipe, scale)
        config = plan.models[0].config
        lines.append(
            f"| `{scale}` | {_model(plan)} | {config.epochs} | {_seeds(plan)} | {plan.dataset} | {plan.role or '–'} |"
        )
    return "\n".join(lines)


def _model(plan: Recipe) -> str:
    """'PreActResNet-18 at 1/8 width', from the scale's first model (every model of a scale shares it)."""
    config = plan.models[0].config
    name = ARCHITECTURES.get(config.arch, config.arch)
    share = config.width
    if share == 1.0:
        return name
    return f"{name} at {f'1/{round(1 / share)}' if (1 / share).is_integer() else f'{share:g}'} width"


def _seeds(plan: Recipe) -> str:
    """'ST, SAM-0.1: 20; AT-Linf-8: 3', models with the same number of seeds together, most seeds first."""
    by_count: dict[int, list[str]] = {}
    for name, n in Counter(m.name for m in plan.models).items():
        by_count.setdefault(n, []).append(name)
    parts: list[str] = []
    for n in sorted(by_count, reverse=True):
        names = by_count[n]
        said = (
            ", ".join(names) if len(names) <= 4 else f"{len(names)} other models" if parts else f"{len(names)} models"
        )
        parts.append(f"{said}: {n}")
    return "; ".join(parts)


def update(page: str | Path, recipe: str = RECIPE) -> Path:
    """Replace the table between its markers in `page` (one line and exit 2 where it has none)."""
    page = Path(page)
    start, end = markers(recipe)
    text = files.read_text(page)
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise BadInput(f"{page}: no scales markers; put '{start}' and '{end}' where the table belongs")
    rendered = table(recipe)
    files.write_text(page, pattern.sub(lambda _: f"{start}\n{rendered}\n{end}", text))
    return page


if __name__ == "__main__":
    try:
        for path in sys.argv[1:] or ["docs/reproducing.md"]:
            print(f"wrote the scales of {RECIPE} in {update(path)}")
    except BadInput as e:
        sys.exit(f"error: {e}")
