"""A probe record (`sam-bench bench --probe`) as Markdown: what was timed, the ratios the choice reads, and
what they pick (probe_choice). docs/benchmarks.md carries it between markers, rendered, never typed:

    python -m sam_bench.bench.probe_report benchmarks/cpu-2core-w0.25-probe.json            # print it
    python -m sam_bench.bench.probe_report benchmarks/cpu-2core-w0.25-probe.json --write docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sam_bench.bench import marked_block
from sam_bench.bench.probe import read
from sam_bench.bench.probe_choice import choose
from sam_bench.errors import BadInput
from sam_bench.runtime import provenance

START, END = "<!-- probe {name} start -->", "<!-- probe {name} end -->"


def _value(name: str, v: float) -> str:
    if name.endswith("_s") and "_per_" not in name:  # seconds, not a rate (images_per_s, steps_per_s_...)
        return f"{1000 * v:.1f} ms" if v < 1 else f"{v:.2f} s"
    return f"{v:,.0f}" if v >= 1000 else f"{v:.3g}"


def markdown(record: dict, source: str) -> str:
    env, s, budget = record["environment"], record["settings"], record["budget"]
    isa = env.get("cpu_isa")
    where = ", ".join(f"{k} {v}" for k, v in isa.items() if v) if isinstance(isa, dict) else isa or env["device"]
    lines = [
        f"`{source}`: {env['device_name']} ({where}), torch {env['torch_version']}, "
        f"{env.get('torch_threads')} thread(s) per process, {provenance.shown(record)}; "
        f"{s.get('arch')} at width {s.get('width')}, batch {s['batch_size']}, "
        f"{budget['rounds']} rounds in {budget['spent_s']:.0f} of {budget['budget_s']:.0f} s ({record['status']}).",
        "",
        "| part | value | median | rounds |",
        "| --- | --- | --- | --- |",
    ]
    for name, part in record["parts"].items():
        for key, v in part["values"].items():
            if v["median"] is not None:
                lines.append(f"| `{name}` | {key} | {_value(key, v['median'])} | {v['rounds']} |")
    lines += ["", "| ratio (taken round by round) | median | lowest | highest |", "| --- | --- | --- | --- |"]
    for ratio in record["ratios"]:
        if ratio["median"] is not None:
            runs = ratio["runs"]
            lines.append(f"| {ratio['name']} | {ratio['median']:.2f} | {min(runs):.2f} | {max(runs):.2f} |")
    skipped = {**record["not_applicable"], **record["failed"], **{n: "not measured" for n in record["not_measured"]}}
    if skipped:
        lines += ["", "Not timed: " + "; ".join(f"`{n}` ({why})" for n, why in skipped.items()) + "."]
    picked = choose(record)
    lines += [
        "",
        f"What these ratios would pick for a long run on this device (`sam_bench/bench/probe_choice.py`): "
        f"`{picked.recipe_line()}` "
        f"and `{' '.join(picked.options())}` ({'; '.join(picked.reasons)}).",
    ]
    return "\n".join(lines)


def write_into(doc: Path, name: str, text: str) -> None:
    try:
        marked_block.replace(doc, START.format(name=name), END.format(name=name), text)
    except BadInput as err:
        raise SystemExit(f"probe_report: {err}") from None


def between(doc: Path, name: str) -> str | None:
    """What `doc` holds between the probe's markers (the test compares it with `markdown`)."""
    return marked_block.between(doc, START.format(name=name), END.format(name=name))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("record", help="a sam-bench/probe/v1 record")
    parser.add_argument("--write", type=Path, default=None, help="render between the record's markers in this file")
    args = parser.parse_args(argv)
    record = read(args.record, error=SystemExit)
    source = Path(args.record).as_posix()
    text = markdown(record, source)
    if args.write is None:
        print(text)
        return 0
    write_into(args.write, Path(args.record).stem, text)
    print(f"wrote {args.write}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
