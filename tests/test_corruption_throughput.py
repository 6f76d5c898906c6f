"""The corruptions throughput measurement: both passes timed, their ratio, and the block rendered from the record."""

from __future__ import annotations

import json

import pytest

from sam_bench.bench import corruption_throughput


def test_the_record_times_both_passes_and_the_block_shows_its_figures(tmp_path):
    record = corruption_throughput.measure(images=6, rounds=1)
    clean, corrupted = record["clean_images_per_s"], record["corruptions_images_per_s"]
    assert clean["median"] > 0 and corrupted["median"] > 0
    assert record["ratio"]["runs"][0] == pytest.approx(clean["runs"][0] / corrupted["runs"][0])
    assert sum(record["corruption_share"].values()) == pytest.approx(1)
    assert record["corruption_set"]["generated"] is True
    text = corruption_throughput.markdown(record)
    assert f"| clean | {clean['median']:,.0f} | 1 |" in text
    assert f"{record['ratio']['median']:.2f}" in text
    doc = tmp_path / "doc.md"
    doc.write_text("a\n" + "\n".join(corruption_throughput.MARKERS) + "\nb\n")
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    corruption_throughput.main(["--out", str(path), "--from-record", "--write-into", str(doc)])
    assert text in doc.read_text() and doc.read_text().startswith("a\n") and doc.read_text().endswith("b\n")
