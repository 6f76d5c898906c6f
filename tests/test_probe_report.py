"""A probe record as Markdown (sam_bench/bench/probe_report.py): docs/benchmarks.md carries every committed
probe rendered from its record, never typed, with the choice its ratios make."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from sam_bench.bench import probe_report
from sam_bench.bench.probe import read

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
SYNTHETIC = ROOT / "tests" / "probes" / "synthetic-h100.probe.json"


def test_every_probe_in_the_benchmarks_doc_is_its_records_rendering():
    names = re.findall(r"<!-- probe (\S+) start -->", DOC.read_text())
    assert names, "docs/benchmarks.md carries no probe"
    for name in names:
        path = ROOT / "benchmarks" / f"{name}.json"
        expected = probe_report.markdown(read(path), path.relative_to(ROOT).as_posix())
        assert probe_report.between(DOC, name) == expected, (
            f"re-render: python -m sam_bench.bench.probe_report benchmarks/{name}.json --write docs/benchmarks.md"
        )


def test_the_rendering_names_the_record_its_ratios_and_their_choice(tmp_path, capsys):
    text = probe_report.markdown(read(SYNTHETIC), "synthetic.json")
    assert "| `train/sam/static` | step_s | 3.3 ms | 4 |" in text
    assert "| standard: static speed-up (eager step / static step) | 1.25 | 1.25 | 1.25 |" in text
    assert "`train: {step_mode: static}` and `--parallel 1`" in text
    doc = tmp_path / "doc.md"
    doc.write_text("before\n<!-- probe synthetic-h100.probe start -->\nold\n<!-- probe synthetic-h100.probe end -->\n")
    assert probe_report.main([str(SYNTHETIC), "--write", str(doc)]) == 0
    assert probe_report.between(doc, "synthetic-h100.probe").endswith(
        "--parallel 1` (" + text.split("--parallel 1` (")[1]
    )
    doc.write_text("no markers\n")
    with pytest.raises(SystemExit, match="has no <!-- probe synthetic-h100.probe start -->"):
        probe_report.main([str(SYNTHETIC), "--write", str(doc)])
