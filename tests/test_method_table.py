"""One table of methods: the CLI's choices, the run metadata's method names, the zoo's
ids and names and the cost model all come from sam_bench/training/method_table.py, so a new method is
its record (and, when its step is its own, its step function) and nothing else."""

import json

import pytest
from click.testing import CliRunner
from tiny_training import tiny

from sam_bench import schema
from sam_bench.cli import cli
from sam_bench.errors import BadInput
from sam_bench.training import method_table, methods
from sam_bench.training.loop import TrainConfig, train
from sam_bench.training.method_table import Method


def test_the_cli_offers_the_tables_methods_with_their_help():
    text = " ".join(CliRunner().invoke(cli, ["train", "--help"]).output.split())
    for record in method_table.TABLE.values():
        assert record.name in text and record.help in text


def test_the_tables_facts_as_the_paper_and_the_single_step_papers_state_them():
    table = method_table.TABLE
    assert [n for n in table if table[n].sam] == ["sam", "asam", "sam-at"]
    assert table["asam"].default_rho == 0.5 and table["sam"].default_rho == 0.05
    assert method_table.passes_per_step("at", 10) == 11 and method_table.passes_per_step("sam-at", 5) == 7
    assert method_table.passes_per_step("fgsm-rs", 1) == method_table.passes_per_step("sam", 0) == 2
    rule = table["n-fgsm"].single_step
    assert rule is not None and (rule.noise, rule.step, rule.projected) == (2.0, 1.0, False)
    with pytest.raises(BadInput, match="unknown method 'mart'; choose one of standard, sam"):
        method_table.method("mart")
    with pytest.raises(ValueError, match="a SAM method has a default rho"):
        Method("x", "x", "X", "x", sam=True)


def test_a_new_method_is_its_record_and_its_step(monkeypatch, tmp_path):
    def twice(model, optimizer, x, y, attack=None, autocast=None, shard=None, start=None, settings=None):
        methods.sgd_step(model, optimizer, x, y)
        return methods.sgd_step(model, optimizer, x, y)

    record = Method("sgd-twice", "SGD twice", "SGDTwice", "two SGD steps per batch", passes=2)
    monkeypatch.setitem(method_table.TABLE, "sgd-twice", record)
    monkeypatch.setitem(methods.STEPS, "sgd-twice", twice)
    meta = train(tiny(method="sgd-twice", epochs=1), tmp_path / "run", progress=False)
    assert meta["status"] == "complete" and meta["passes_per_step"] == 2
    schema.check("run-metadata", json.loads((tmp_path / "run" / "metadata.json").read_text()), "metadata")

    from sam_bench.zoo import store

    entry = store.add(tmp_path / "run", zoo_dir=tmp_path / "zoo")
    assert entry["id"].startswith("SamBench") and "SGDTwice_" in entry["id"]
    assert entry["paper"]["name"].endswith("SGD twice") and entry["training_cost"]["passes_per_step"] == 2
    with pytest.raises(BadInput, match="unknown method 'sgd-thrice'"):
        TrainConfig(method="sgd-thrice").validate()


def test_every_method_has_its_own_short_name_and_colour_for_every_plot_and_page():
    from sam_bench.training import method_table as table

    labels = [table.label(n) for n in table.names()]
    colours = [table.colour(n) for n in table.names()]
    assert all(labels) and len(set(labels)) == len(labels)
    assert len(set(colours)) == len(colours)  # one palette: no two methods share a colour
    # as the recipes name their models
    assert (table.label("standard"), table.label("sam"), table.label("at")) == ("ST", "SAM", "AT")


def test_every_method_but_standard_training_names_its_paper():
    # what each leaderboard row links (sam_bench.leaderboard.table.rows); plain SGD has no paper of its own
    without = [m.name for m in method_table.TABLE.values() if m.paper is None]
    assert without == ["standard"]
    for m in method_table.TABLE.values():
        if m.paper is not None:
            assert m.paper.url.startswith("https://arxiv.org/abs/") and m.paper.cite.split()[-1].isdigit(), m.name


def test_the_papers_methods_and_the_sam_family_are_read_from_the_table():
    """The claims compare the paper's three methods; the Mechanism section and C3's primary test take SAM's two
    passes on clean images (SAM and ASAM) as SAM, and SAM on PGD examples as an AT method."""
    assert set(method_table.PAPER_METHODS) <= set(method_table.TABLE)
    assert [m for m in method_table.names() if method_table.is_sam_family(m)] == ["sam", "asam"]
    assert method_table.uses_sam("sam-at") and method_table.uses_attack("sam-at")
    assert not method_table.is_sam_family("sam-at")
    # C4's expected ratios: ST 1, SAM 2, PGD-10 AT 11 passes per step
    assert [method_table.passes_per_step(m, 10) for m in method_table.PAPER_METHODS] == [1, 2, 11]


def test_a_norm_added_to_the_threat_models_reaches_no_method_that_does_not_name_it(monkeypatch):
    """An L1 ball in the threat-model table alone: AT and TRADES (whose steps know Linf and L2) refuse to train in
    it, rather than attack in another ball without a word; a method whose record names it takes it."""
    from dataclasses import replace

    from sam_bench import threat_models

    l1 = replace(threat_models.TABLE["L2"], name="L1", norm="L1", small_budgets=())
    monkeypatch.setitem(threat_models.TABLE, "L1", l1)
    for method in ("at", "trades", "awp-trades", "sam-at", "fgsm-rs"):
        with pytest.raises(BadInput, match=f"{method} attacks in .*; --attack-norm L1 is not supported$"):
            TrainConfig(method=method, attack_norm="L1", attack_eps="1").validate()
    taught = replace(method_table.TABLE["at"], norms=("Linf", "L2", "L1"))
    monkeypatch.setitem(method_table.TABLE, "at", taught)
    assert TrainConfig(method="at", attack_norm="L1", attack_eps="1").validate().attack_norm == "L1"
    with pytest.raises(ValueError, match="names the norms it attacks in"):
        replace(method_table.TABLE["at"], norms=())
