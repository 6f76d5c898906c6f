"""Leaderboards: RobustBench model_info from results files, rendering in rank order, submission rules."""

import dataclasses
import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from results_records import written
from results_records import zoo_results as results_for

from sam_bench import files
from sam_bench.cli import cli
from sam_bench.data import synthetic_dataset
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import attack_table
from sam_bench.leaderboard import board as leaderboard
from sam_bench.leaderboard import entries
from sam_bench.stats import inference
from sam_bench.training.loop import TrainConfig, train
from sam_bench.zoo import store as zoo

TINY = dict(arch="preactresnet18", width=0.125, epochs=1, n_train=256, batch_size=64)
SAMPLE_IDS = ["SamBench2025Standard_a", "SamBench2025SAM_b", "SamBench2025Standard_c"]
FULL_ID = "SamBench2025Standard_full"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """Runs on the bundled sample, and one on a stand-in 'cifar10' (an .npz with the real name)."""
    torch.set_num_threads(1)  # tiny models; more threads only fight over a busy machine's cores
    root = tmp_path_factory.mktemp("lb")
    runs = {}
    for mid, method, seed in zip(SAMPLE_IDS, ["standard", "sam", "standard"], [0, 0, 1]):
        runs[mid] = root / mid
        train(TrainConfig(method=method, seed=seed, dataset="cifar10-sample", **TINY), runs[mid], progress=False)
    fake = synthetic_dataset(n_train=256, n_test=64)
    npz = root / "cifar10.npz"
    np.savez(npz, x_train=fake.x_train, y_train=fake.y_train, x_test=fake.x_test, y_test=fake.y_test)
    runs[FULL_ID] = root / FULL_ID
    train(TrainConfig(dataset="cifar10", data_dir=str(npz), **TINY), runs[FULL_ID], progress=False)
    return runs


@pytest.fixture
def dirs(trained, tmp_path, monkeypatch):
    monkeypatch.setenv("SAM_BENCH_CACHE", str(tmp_path / "cache"))
    zoo_dir, boards = tmp_path / "model_zoo", tmp_path / "leaderboards"
    for mid, run in trained.items():
        zoo.add(run, mid, zoo_dir=zoo_dir)
    return zoo_dir, boards


def add(results: dict, boards, zoo_dir):
    """A board entry from results written to a file first (an entry names the file its figures come from); the
    results reach one board."""
    [[(path, _)]] = leaderboard.write_entries([written(results, boards.parent / "results")], boards, zoo_dir)
    return path


def entry(zoo_dir, mid):
    return zoo.find_entry(mid, zoo_dir)


def test_model_info_is_robustbench_format_with_our_extras_apart(dirs):
    zoo_dir, boards = dirs
    e = entry(zoo_dir, SAMPLE_IDS[0])
    path = add(results_for(e, 0.456, 0.124, pgd=[("1/255", 0.3)]), boards, zoo_dir)
    assert path == boards / "cifar10" / "Linf" / f"{SAMPLE_IDS[0]}.json"
    info = json.loads(path.read_text())
    assert list(info) == [*leaderboard.MODEL_INFO_KEYS, "sam_bench"]
    assert (info["clean_acc"], info["autoattack_acc"], info["reported"]) == ("45.6", "12.4", "12.4")
    assert info["eps"] == "8/255" and info["dataset"] == "cifar10" and info["additional_data"] is False
    assert info["number_forward_passes"] == 1 and info["architecture"] == "PreActResNet-18 (width x0.125)"
    assert "256 images of the bundled CIFAR-10 sample" in info["footnote"] and "first 500 of 500" in info["footnote"]
    extras = info["sam_bench"]
    assert extras["weights_sha256"] == e["weights_sha256"] and extras["trained_on"] == "cifar10-sample"
    assert extras["pgd"][0]["eps"] == "1/255" and extras["pgd"][0]["robust_acc"] == "30.0"
    assert extras["training_cost"] == e["training_cost"] and extras["autoattack"]["n_examples"] == 500

    from robustbench.utils import ModelInfo  # upstream's own record type takes every field

    ModelInfo(**{k: v for k, v in info.items() if k != "sam_bench"})


def test_robustbench_reads_our_leaderboard(dirs, tmp_path, monkeypatch, capsys):
    from robustbench.utils import list_available_models

    zoo_dir, boards = dirs
    for mid, aa in zip(SAMPLE_IDS, [0.10, 0.30, 0.20]):
        add(results_for(entry(zoo_dir, mid), 0.5, aa), boards, zoo_dir)
    zoo.register_with_robustbench(zoo_dir)
    shutil.copytree(boards, tmp_path / "cwd" / "model_info")
    monkeypatch.chdir(tmp_path / "cwd")  # upstream reads ./model_info
    list_available_models("cifar10", "Linf")
    printed = capsys.readouterr().out
    order = [m for m in re.findall(r"\*\*(SamBench\w+)\*\*", printed)]
    assert order == [SAMPLE_IDS[1], SAMPLE_IDS[2], SAMPLE_IDS[0]]


def test_a_second_column_attack_needs_only_its_record(dirs, monkeypatch):
    """A board shows each column attack of the attack table (board=COLUMN) under its record's name and display."""
    from sam_bench.leaderboard import render

    monkeypatch.setitem(attack_table.TABLE, "toy", dataclasses.replace(attack_table.PGD, name="toy", display="Toy"))
    zoo_dir, boards = dirs
    path = add(results_for(entry(zoo_dir, SAMPLE_IDS[0]), 0.5, 0.2, pgd=[("1/255", 0.3)]), boards, zoo_dir)
    info = json.loads(path.read_text())
    assert info["sam_bench"]["toy"] == []  # an entry keeps each column attack's figures under its name
    info["sam_bench"]["toy"] = [{**info["sam_bench"]["pgd"][0], "robust_acc": "25.0"}]
    table = render.markdown("cifar10", "Linf", [entries.BoardEntry.of(info, "m")])
    assert "| PGD-10 Linf 1/255 | Toy-10 Linf 1/255 |" in table
    assert "| 30.00% (26.1–34.2) | 25.00% (21.4–29.0) |" in table
    groups = [g["group"] for g in render.column_groups([entries.BoardEntry.of(info, "m")], "Linf")]
    assert groups[:2] == ["pgd-Linf", "toy-Linf"]


def test_results_for_other_weights_or_data_are_refused(dirs):
    zoo_dir, boards = dirs
    e = entry(zoo_dir, SAMPLE_IDS[0])
    with pytest.raises(BadInput, match="results are for weights with sha256"):
        add(results_for(e, 0.5, 0.1, sha="f" * 64), boards, zoo_dir)
    with pytest.raises(BadInput, match="synthetic data"):
        add(results_for(e, 0.5, 0.1, name="synthetic"), boards, zoo_dir)
    with pytest.raises(BadInput, match="no AutoAttack"):
        add(results_for(e, 0.5, pgd=[("1/255", 0.3)]), boards, zoo_dir)
    with pytest.raises(BadInput, match="no AutoAttack"):  # on the real test set only the standard version ranks
        add(results_for(e, 0.5, 0.1, version="rand", name="cifar10", total=10_000), boards, zoo_dir)
    orphan = results_for(e, 0.5, 0.1, sha="e" * 64)
    orphan["model"].update(kind="run", zoo_id=None)
    with pytest.raises(BadInput, match="in no zoo entry"):
        add(orphan, boards, zoo_dir)
    with pytest.raises(BadInput, match="not a sam-bench results file"):
        add({"schema": "other"}, boards, zoo_dir)
    assert not boards.exists()  # nothing half-written


def test_on_the_sample_a_quick_autoattack_ranks_and_says_so_but_never_replaces_the_standard_one(dirs):
    zoo_dir, boards = dirs
    e = entry(zoo_dir, SAMPLE_IDS[0])
    quick = results_for(e, 0.5, 0.2, version="custom")
    quick["evaluations"][-1]["settings"]["attacks"] = ["apgd-ce", "apgd-t"]
    path = add(quick, boards, zoo_dir)
    info = json.loads(path.read_text())
    assert (
        float(info["autoattack_acc"]) == 20
        and "AutoAttack (custom: apgd-ce, apgd-t, not the standard version)" in info["footnote"]
    )
    assert "custom: apgd-ce, apgd-t" in leaderboard.rows([entries.BoardEntry.of(info, "m")], "Linf")[0]["evaluated_on"]
    # the sample page's heading is true to its rows: not "standard" where a row is scored by the quick version
    from sam_bench.leaderboard import render

    standard = json.loads(json.dumps(info))
    standard["sam_bench"]["autoattack"].update(version="standard", attacks=["apgd-ce", "apgd-t", "fab-t", "square"])
    assert render.ranked_by([entries.BoardEntry.of(m, "m") for m in (info, standard)]) == (
        "AutoAttack (custom: apgd-ce, apgd-t or standard: each row names its version)"
    )
    assert render.ranked_by([entries.BoardEntry.of(standard, "m")]) == "AutoAttack (standard)"
    add(results_for(e, 0.5, 0.1), boards, zoo_dir)  # the standard version replaces it
    assert float(json.loads(path.read_text())["autoattack_acc"]) == 10
    add(quick, boards, zoo_dir)  # and is not replaced by the quick one
    assert float(json.loads(path.read_text())["autoattack_acc"]) == 10


def test_a_lower_precision_evaluation_never_replaces_an_fp32_one_and_the_row_says_its_precision(dirs):
    zoo_dir, boards = dirs
    e = entry(zoo_dir, SAMPLE_IDS[0])
    path = add(results_for(e, 0.5, 0.1, pgd=[("1/255", 0.3)]), boards, zoo_dir)
    row = leaderboard.rows([entries.BoardEntry.of(json.loads(path.read_text()), "m")], "Linf")[0]
    assert "(cifar10-sample; fp32)" in row["evaluated_on"]  # a CPU evaluation: no TF32 search to speak of
    bf16 = results_for(e, 0.5, 0.2, pgd=[("1/255", 0.4)])
    bf16["precision"] = "bf16"
    add(bf16, boards, zoo_dir)  # the same size, newer: a bf16 evaluation still does not replace fp32 figures
    info = json.loads(path.read_text())
    assert float(info["autoattack_acc"]) == 10 and float(info["sam_bench"]["pgd"][0]["robust_acc"]) == 30
    assert info["sam_bench"]["autoattack"]["precision"] == "fp32"
    # where bf16 is all there is, the row says so
    only_bf16 = results_for(entry(zoo_dir, SAMPLE_IDS[1]), 0.5, 0.2, pgd=[("1/255", 0.4)])
    only_bf16["precision"] = "bf16"
    row = leaderboard.rows(
        [entries.BoardEntry.of(json.loads(add(only_bf16, boards, zoo_dir).read_text()), "m")], "Linf"
    )[0]
    assert "(cifar10-sample; bf16)" in row["evaluated_on"] and "PGD in bf16" in row["evaluated_on"]


def test_a_run_evaluated_directly_counts_when_its_bytes_are_in_the_zoo(dirs):
    zoo_dir, boards = dirs
    e = entry(zoo_dir, SAMPLE_IDS[0])
    results = results_for(e, 0.5, 0.1)
    results["model"].update(kind="run", zoo_id=None, ref="runs/x")
    assert add(results, boards, zoo_dir).stem == SAMPLE_IDS[0]


def test_updates_merge_and_a_bigger_evaluation_wins(dirs, tmp_path):
    zoo_dir, boards = dirs
    e = entry(zoo_dir, SAMPLE_IDS[0])
    first = tmp_path / "aa.json"
    first.write_text(json.dumps(results_for(e, 0.5, 0.2, n=500)))
    leaderboard.write_entries([first], boards, zoo_dir)
    add(results_for(e, 0.5, pgd=[("2/255", 0.25), ("1/255", 0.4)], n=500), boards, zoo_dir)
    add(results_for(e, 0.9, 0.9, n=100), boards, zoo_dir)  # smaller: ignored
    info = json.loads((boards / "cifar10" / "Linf" / f"{e['id']}.json").read_text())
    assert (info["clean_acc"], info["autoattack_acc"]) == ("50.0", "20.0")
    assert [p["eps"] for p in info["sam_bench"]["pgd"]] == ["1/255", "2/255"]
    sources = info["sam_bench"]["sources"]
    assert len(sources) == 2 and sources[0]["file"].endswith("aa.json")  # the ignored one is not a source
    assert sources[0]["sha256"] == files.sha256_file(first)


def test_a_file_weaker_than_the_board_publishes_nothing_and_needs_no_check(dirs, tmp_path):
    zoo_dir, boards = dirs
    e = entry(zoo_dir, SAMPLE_IDS[0])
    add(results_for(e, 0.5, 0.2, n=500), boards, zoo_dir)
    weaker = tmp_path / "weaker.json"
    weaker.write_text(json.dumps(results_for(e, 0.9, 0.9, n=100)))
    [(found, standing)] = entries.planned([weaker], boards, zoo_dir)
    assert found.id == e["id"] and standing


def rank_order_fixture(zoo_dir, boards):
    # Clean accuracy would rank them a, c, b; AutoAttack accuracy ranks b, c, a.
    for mid, clean, aa in zip(SAMPLE_IDS, [0.80, 0.60, 0.70], [0.10, 0.30, 0.20]):
        add(results_for(entry(zoo_dir, mid), clean, aa, pgd=[("1/255", aa + 0.2)]), boards, zoo_dir)
    return [SAMPLE_IDS[1], SAMPLE_IDS[2], SAMPLE_IDS[0]]


def test_render_writes_every_entry_in_rank_order(dirs):
    zoo_dir, boards = dirs
    expected = rank_order_fixture(zoo_dir, boards)
    readme = boards.parent / "README.md"
    readme.write_text(
        "intro\n<!-- sam-bench leaderboard cifar10/Linf/sample start -->\nold\n"
        "<!-- sam-bench leaderboard cifar10/Linf/sample end -->\noutro\n"
    )
    written = leaderboard.render(boards, readme=readme)
    stem = boards / "cifar10-Linf-sample"  # these models trained on the bundled sample: a page of their own
    assert written == [stem.with_suffix(".md"), stem.with_suffix(".html"), stem.with_suffix(".png"), readme]

    md = stem.with_suffix(".md").read_text()
    assert re.findall(r"\*\*(SamBench\w+)\*\*", md) == expected
    assert re.findall(r"^\| (\d) \|", md, re.M) == ["1", "2", "3"]
    # clean, AutoAttack, PGD of the winner, each with its 95% Wilson interval over the 500 images
    intervals = {p: inference.wilson(round(p * 500), 500) for p in (0.6, 0.3, 0.5)}
    cells = [f"{100 * p:.2f}% ({100 * intervals[p][0]:.1f}–{100 * intervals[p][1]:.1f})" for p in (0.6, 0.3, 0.5)]
    assert "| " + " | ".join(cells) + " |" in md and cells[0] == "60.00% (55.6–64.2)"
    assert (
        '60.00%<span class="ci" title="95% Wilson interval">55.6–64.2</span>' in stem.with_suffix(".html").read_text()
    )
    html = stem.with_suffix(".html").read_text()
    assert re.findall(r'data-model-id="([^"]+)"', html) == expected
    assert "data:image/png;base64," in html and "http" not in html.split("<script>")[1]  # standalone
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("outro\n")
    assert re.findall(r"\*\*(SamBench\w+)\*\*", text) == expected

    again = leaderboard.render(boards)  # same input, same files
    assert stem.with_suffix(".md").read_text() == md and len(again) == 3


def test_render_with_nothing_to_render_says_so(tmp_path):
    with pytest.raises(BadInput, match="no leaderboard entries"):
        leaderboard.render(tmp_path / "leaderboards")


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def dump_dom(url: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 0, out.stderr[-1000:]
    return out.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="needs a headless Chromium (apt-get install chromium)")
def test_html_page_renders_and_sorts_in_chromium(dirs):
    zoo_dir, boards = dirs
    expected = rank_order_fixture(zoo_dir, boards)
    leaderboard.render(boards)
    page = (boards / "cifar10-Linf-sample.html").as_uri()
    assert re.findall(r'data-model-id="([^"]+)"', dump_dom(page)) == expected
    by_clean = dump_dom(page + "#sort=clean")  # the page's own script reorders the rows
    assert re.findall(r'data-model-id="([^"]+)"', by_clean) == [SAMPLE_IDS[0], SAMPLE_IDS[2], SAMPLE_IDS[1]]
    assert "sorted-desc" in by_clean


def full_results(e, n=10_000, pgd=()):
    return results_for(e, 0.8123, 0.4567, n=n, name="cifar10", total=10_000, pgd=pgd)


def test_submit_refuses_a_100_example_evaluation(dirs, tmp_path):
    zoo_dir, boards = dirs
    add(full_results(entry(zoo_dir, FULL_ID), n=100), boards, zoo_dir)
    out = tmp_path / "submission"
    with pytest.raises(BadInput, match=r"AutoAttack ran on 100 images.*full cifar10 test set of 10,000"):
        leaderboard.submit(FULL_ID, boards, zoo_dir, out, {"link": "https://example.org/p", "authors": "A. B"})
    assert not out.exists()


def test_submit_refuses_a_model_trained_on_the_sample_and_lists_every_reason(dirs, tmp_path):
    zoo_dir, boards = dirs
    results = full_results(entry(zoo_dir, SAMPLE_IDS[0]))
    results["precision"] = "bf16"
    add(results, boards, zoo_dir)
    with pytest.raises(BadInput) as err:
        leaderboard.submit(SAMPLE_IDS[0], boards, zoo_dir, tmp_path / "submission")
    message = str(err.value)
    assert "trained on the bundled 1,500-image sample" in message
    assert "no paper link" in message and "empty authors" in message and "ran in bf16" in message
    with pytest.raises(BadInput, match="has no leaderboard entry"):
        leaderboard.submit(SAMPLE_IDS[1], boards, zoo_dir, tmp_path / "submission")


def test_submit_measures_the_evidence_again_before_writing_anything(dirs, tmp_path):
    """An entry that meets every rule of RobustBench's is checked against its evidence before it is submitted (the
    gate of `leaderboard add`): figures a test chose on a stand-in 'cifar10' are refused in one line naming their
    results file, first for their data (another fingerprint under CIFAR-10's name), before any is measured."""
    zoo_dir, boards = dirs
    add(full_results(entry(zoo_dir, FULL_ID)), boards, zoo_dir)
    paper = {"link": "https://example.org/paper", "authors": "A. B"}
    with pytest.raises(SamBenchError, match=r"results-0\.json: the results name the cifar10 test set, but their data"):
        leaderboard.submit(FULL_ID, boards, zoo_dir, tmp_path / "submission", paper)
    assert not (tmp_path / "submission").exists()


def test_submit_writes_upstream_json_and_the_filled_in_issue(dirs, tmp_path, monkeypatch):
    from sam_bench.leaderboard import publication

    zoo_dir, boards = dirs
    results = written(full_results(entry(zoo_dir, FULL_ID)), boards.parent / "results")
    leaderboard.write_entries([results], boards, zoo_dir)
    measured = []  # the figures are the test's, not measured: what submit measures again is recorded instead
    monkeypatch.setattr(publication, "check_evidence", lambda path, entry, **_: measured.append((path, entry["id"])))
    paper = {"link": "https://example.org/paper", "authors": "Ada Lovelace, Alan Turing", "venue": "arXiv, Jan 2025"}
    json_path, issue_path = leaderboard.submit(FULL_ID, boards, zoo_dir, tmp_path / "submission", paper)
    assert measured == [(results.resolve(), FULL_ID)]
    info = json.loads(json_path.read_text())
    assert list(info) == list(leaderboard.MODEL_INFO_KEYS)
    assert (info["clean_acc"], info["autoattack_acc"], info["eps"]) == ("81.23", "45.67", "8/255")
    assert info["link"] == paper["link"] and info["authors"] == paper["authors"]
    issue = issue_path.read_text()
    assert issue.startswith("Title: [New Model] SamBench2025Standard\n")
    for line in [
        "- **Paper URL**: https://example.org/paper",
        "- **Threat Model**: Linf",
        "- **eps**: 8/255",
        "- **Clean accuracy**: 81.23%",
        "- **Robust accuracy**: 45.67%",
        "- **Additional data**: false",
        "- [x] I want to add my models to the Model Zoo",
    ]:
        assert line in issue
    assert "10,000 images" in issue and zoo.find_entry(FULL_ID, zoo_dir)["weights_sha256"] in issue


def test_submit_of_an_imported_robustbench_entry_says_who_trained_it(dirs, tmp_path, monkeypatch):
    """A RobustBench model imported from its checkpoint (made here) is submitted in its importer's words: trained
    elsewhere, its source named, never as a run of sam-bench."""
    from test_zoo_import import robustbench_checkpoint

    from sam_bench.leaderboard import publication
    from sam_bench.models.robustbench_adapter import constructor
    from sam_bench.zoo import robustbench_import

    zoo_dir, boards = dirs
    torch.manual_seed(0)
    robustbench_checkpoint(tmp_path / "Wong2020Fast.pt", constructor("cifar10", "Linf", "Wong2020Fast")["model"]())
    imported = robustbench_import.import_checkpoint(
        "Wong2020Fast", tmp_path / "Wong2020Fast.pt", zoo_dir=zoo_dir, additional_data=False
    )
    add(full_results(imported), boards, zoo_dir)
    monkeypatch.setattr(publication, "check_evidence", lambda path, entry, **_: None)
    paper = {"link": "https://arxiv.org/abs/2001.03994", "authors": "Eric Wong, Leslie Rice, J. Zico Kolter"}
    _, issue_path = leaderboard.submit("Wong2020Fast_imported", boards, zoo_dir, tmp_path / "submission", paper)
    issue = issue_path.read_text()
    (training,) = [line for line in issue.splitlines() if line.startswith("- **Training**")]
    assert "Trained elsewhere, not by sam-bench (RobustBench's Wong2020Fast" in training
    assert "data: cifar10)" in training  # RobustBench lists it without additional data (leaderboard/published)
    assert "- **Additional data**: false" in issue
    assert "by sam-bench (" not in issue.replace("not by sam-bench (", "")
    assert "model_info/cifar10/Linf/Wong2020Fast.json; evaluated here from model_zoo/" in issue
    # a run of this project's says so in the same line
    add(full_results(entry(zoo_dir, FULL_ID)), boards, zoo_dir)
    _, own_issue = leaderboard.submit(FULL_ID, boards, zoo_dir, tmp_path / "own", paper)
    assert (
        "- **Training**: Trained by sam-bench (standard training, 1 epoch on 256 cifar10 training images)."
        in own_issue.read_text()
    )


def test_extra_data_an_importer_did_not_state_is_unknown_on_the_board_and_in_the_issue_never_false(
    dirs, tmp_path, monkeypatch
):
    """A model imported without --additional-data or --no-additional-data: RobustBench's additional_data is null in
    its board entry, "unknown" in the page's Extra data column and in the submission's issue."""
    from sam_bench.leaderboard import publication
    from sam_bench.models import create_model
    from sam_bench.zoo import imported

    zoo_dir, boards = dirs
    arch = imported.architecture_spec("preactresnet18", (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), width=0.0625)
    told = imported.trained_elsewhere("at", "PGD AT", "https://example.org/p", "cifar10")  # extra data not said
    entry = imported.add_module(create_model(arch), arch, told, "Me2026AT_unsaid", zoo_dir=zoo_dir)
    assert entry["trained_elsewhere"]["additional_data"] is None and imported.additional_data(entry) is None
    path = add(full_results(entry), boards, zoo_dir)
    assert files.read_json(path)["additional_data"] is None
    leaderboard.render(boards)
    page = (boards / "cifar10-Linf.html").read_text()
    (row,) = [line for line in page.splitlines() if 'class="col-extra"' in line and "<td" in line and "unknown" in line]
    assert ">unknown</td>" in row
    monkeypatch.setattr(publication, "check_evidence", lambda path, entry, **_: None)
    paper = {"link": "https://example.org/p", "authors": "A. B"}
    _, issue = leaderboard.submit("Me2026AT_unsaid", boards, zoo_dir, tmp_path / "submission", paper)
    assert "- **Additional data**: unknown (not stated when the model was imported)" in issue.read_text()
    # a run of this project's never trains on additional data
    assert (
        files.read_json(add(full_results(zoo.find_entry(FULL_ID, zoo_dir)), boards, zoo_dir))["additional_data"]
        is False
    )


def test_submit_refuses_when_the_weights_no_longer_verify(dirs, tmp_path):
    zoo_dir, boards = dirs
    add(full_results(entry(zoo_dir, FULL_ID)), boards, zoo_dir)
    (zoo_dir / "cifar10" / "Linf" / f"{FULL_ID}.safetensors").unlink()
    with pytest.raises(BadInput, match="weights do not verify"):
        leaderboard.submit(FULL_ID, boards, zoo_dir, tmp_path / "s", {"link": "https://x.org", "authors": "A"})


def test_whole_chain_with_a_real_evaluation(dirs, tmp_path):
    """zoo entry -> sam-bench's own evaluation (PGD + AutoAttack on 16 sample images) -> leaderboard
    -> render -> submit refuses; every number in the row is the evaluation's."""
    from sam_bench.data import load_dataset
    from sam_bench.evaluation.evaluate import evaluate
    from sam_bench.evaluation.model_ref import load_model_ref
    from sam_bench.evaluation.specs import make_attacks

    torch.set_num_threads(1)
    zoo_dir, boards = dirs
    model, info = load_model_ref(SAMPLE_IDS[1], zoo_dir=zoo_dir)
    attacks = make_attacks("pgd", "Linf", ["1/255"]) + make_attacks("autoattack", "Linf", ["8/255"])
    results = evaluate(model, load_dataset("cifar10-sample"), attacks, n_examples=16, model_info=info, progress=False)
    results_file = tmp_path / "results.json"
    results_file.write_text(json.dumps(results))
    runner = CliRunner()
    out = runner.invoke(
        cli, ["leaderboard", "add", str(results_file), "--leaderboard-dir", str(boards), "--zoo-dir", str(zoo_dir)]
    )
    assert out.exit_code == 0, out.output
    row = json.loads((boards / "cifar10" / "Linf" / f"{SAMPLE_IDS[1]}.json").read_text())
    aa = results["evaluations"][1]
    assert row["clean_acc"] == leaderboard.percent(aa["clean_acc"])
    assert row["autoattack_acc"] == leaderboard.percent(aa["robust_acc"])
    assert row["sam_bench"]["pgd"][0]["robust_acc"] == leaderboard.percent(results["evaluations"][0]["robust_acc"])
    out = runner.invoke(cli, ["leaderboard", "render", "--leaderboard-dir", str(boards)])
    assert out.exit_code == 0 and SAMPLE_IDS[1] in (boards / "cifar10-Linf-sample.md").read_text()
    out = runner.invoke(
        cli,
        [
            "leaderboard",
            "submit",
            SAMPLE_IDS[1],
            "--leaderboard-dir",
            str(boards),
            "--zoo-dir",
            str(zoo_dir),
            "--out",
            str(tmp_path / "s"),
        ],
    )
    assert out.exit_code == 2 and "does not qualify" in out.output and "16 images" in out.output
    assert "Traceback" not in out.output


def test_models_of_the_bundled_sample_are_ranked_apart(dirs):
    """A model trained or scored on the bundled sample is never ranked among real evaluations."""
    zoo_dir, boards = dirs
    expected = rank_order_fixture(zoo_dir, boards)
    add(full_results(entry(zoo_dir, FULL_ID), pgd=[("1/255", 0.6)]), boards, zoo_dir)  # on a stand-in cifar10
    leaderboard.render(boards)
    main, sample = (boards / "cifar10-Linf.md").read_text(), (boards / "cifar10-Linf-sample.md").read_text()
    assert re.findall(r"\*\*(SamBench\w+)\*\*", main) == [FULL_ID]
    assert re.findall(r"\*\*(SamBench\w+)\*\*", sample) == expected
    assert re.findall(r"^\| (\d) \|", sample, re.M) == ["1", "2", "3"]  # ranked among themselves
    assert 'href="cifar10-Linf-sample.html"' in (boards / "cifar10-Linf.html").read_text()
    header = main.splitlines()[2]
    assert header.index("PGD-10 Linf") < header.index("Architecture")  # Linf columns first on a Linf board


def test_a_retired_model_leaves_the_ranking_with_its_note_and_stays_retired(dirs):
    from click.testing import CliRunner

    from sam_bench.cli import cli

    zoo_dir, boards = dirs
    expected = rank_order_fixture(zoo_dir, boards)
    gone = expected[0]
    run = CliRunner().invoke(
        cli,
        [
            "leaderboard",
            "retire",
            gone,
            "--note",
            "a 3-epoch model; the 8-epoch one decides",
            "--replaced-by",
            "SamBench2025Standard_c",
            "--leaderboard-dir",
            str(boards),
        ],
    )
    assert run.exit_code == 0, run.output
    stem = boards / "cifar10-Linf-sample"
    md, html = stem.with_suffix(".md").read_text(), stem.with_suffix(".html").read_text()
    assert re.findall(r"\| \d+ \| \*\*(SamBench\w+)\*\*", md) == expected[1:]  # ranked without it
    assert re.findall(r'data-model-id="([^"]+)"', html) == expected[1:]
    assert (
        f"- **{gone}** (" in md and "a 3-epoch model; the 8-epoch one decides Replaced by SamBench2025Standard_c." in md
    )
    assert "a 3-epoch model; the 8-epoch one decides" in html
    # new results for it keep it retired
    add(results_for(entry(zoo_dir, gone), 0.9, 0.5), boards, zoo_dir)
    leaderboard.render(boards)
    assert re.findall(r'data-model-id="([^"]+)"', stem.with_suffix(".html").read_text()) == expected[1:]
    for args, message in (
        (["NoSuchModel", "--note", "x"], "NoSuchModel: no leaderboard entry"),
        ([expected[1], "--note", "  "], "--note: say why"),
        ([expected[1], "--note", "x", "--replaced-by", "SamBench2026Nope_x"], "--replaced-by SamBench2026Nope_x: no"),
        ([expected[1], "--note", "x", "--replaced-by", expected[1]], "cannot replace itself"),
        ([expected[1], "--note", "x", "--replaced-by", ","], "--replaced-by ',' names nothing"),
    ):
        bad = CliRunner().invoke(cli, ["leaderboard", "retire", *args, "--leaderboard-dir", str(boards)])
        assert bad.exit_code != 0 and message in bad.output and "Traceback" not in bad.output, bad.output


def test_a_board_whose_every_entry_is_retired_has_no_page_and_says_so(dirs):
    from click.testing import CliRunner

    from sam_bench.cli import cli

    zoo_dir, boards = dirs
    ids = rank_order_fixture(zoo_dir, boards)
    readme = boards.parent / "README.md"
    marked = "<!-- sam-bench leaderboard cifar10/Linf/sample {} -->"
    readme.write_text(f"intro\n{marked.format('start')}\nold rows\n{marked.format('end')}\n")
    args = ["--leaderboard-dir", str(boards)]
    assert CliRunner().invoke(cli, ["leaderboard", "render", *args]).exit_code == 0
    run = CliRunner().invoke(cli, ["leaderboard", "retire", *ids, "--note", "all three superseded", *args])
    assert run.exit_code == 0, run.output
    assert "no board page written: every entry is retired" in run.output
    assert not list(boards.glob("cifar10-Linf-sample.*"))  # no stale page still ranking them

    run = CliRunner().invoke(cli, ["leaderboard", "render", "--readme", str(readme), *args])
    assert run.exit_code == 0, run.output
    assert "no board page written: every entry is retired" in run.output and f"wrote {readme}" in run.output
    table = readme.read_text()
    assert "old rows" not in table and "No model is ranked here: every entry is retired." in table
    assert all(f"- **{model_id}** (" in table for model_id in ids) and "all three superseded" in table


def test_a_row_says_when_its_pgd_columns_rest_on_more_images_than_autoattack():
    """cpu-decisive runs PGD on 2,000 test images and AutoAttack on the first 1,000."""
    committed = REPO / "leaderboards" / "cifar10" / "Linf" / "SamBench2026Standard_PRN18-w0.125_b199f514.json"
    info = json.loads(committed.read_text())
    assert {p["n_examples"] for p in info["sam_bench"]["pgd"]} == {2000}
    row = leaderboard.rows([entries.BoardEntry.of(info, "m")], "Linf")[0]
    assert row["evaluated_on"] == "1,000 of 10,000 (cifar10; fp32); PGD on 2,000"
    same = {
        **info,
        "sam_bench": {**info["sam_bench"], "pgd": [{**p, "n_examples": 1000} for p in info["sam_bench"]["pgd"]]},
    }
    assert (
        leaderboard.rows([entries.BoardEntry.of(same, "m")], "Linf")[0]["evaluated_on"]
        == "1,000 of 10,000 (cifar10; fp32)"
    )
