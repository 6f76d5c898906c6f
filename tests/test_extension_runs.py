"""`reproduce` measures a scale's extension tests: every confirmatory seed of the arms (and of the models beside
them) evaluated on the test's corruption set once trained, into extensions/<test>/<run>.json, resumable."""

from __future__ import annotations

import json
import re

from sam_bench.experiments.extension_runs import planned
from sam_bench.experiments.reproduce import reproduce
from sam_bench.recipes.recipe import load_recipe
from sam_bench.report.folder import extension_path

RECIPE = """
name: ext
dataset: cifar10-sample
train: {arch: preactresnet18, width: 0.0625, epochs: 1, batch_size: 32, n_train: 64}
models:
  - {name: ST, method: standard}
  - {name: SAM, method: sam, rho: 0.1}
evaluation:
  n_examples: 8
scales:
  tiny:
    publish: false
    seeds: {ST: [0, 1, 2], SAM: [0, 1, 2]}
    confirmatory_seeds: {ST: [1, 2], SAM: [1, 2]}
    extension_tests:
      E1: {attack: corruptions, set: cifar10-sample-c-generated, images: 6, models: [SAM, ST]}
"""


def test_reproduce_measures_the_extension_on_the_confirmatory_seeds_and_resumes_after_a_stop(tmp_path):
    path = tmp_path / "ext.yaml"
    path.write_text(RECIPE)
    out = tmp_path / "ext"
    recipe = load_recipe(str(path), "tiny")
    wanted = planned(recipe, recipe.endpoints.extension_tests["E1"])
    assert sorted((p.name, p.seed) for p in wanted) == [("SAM", 1), ("SAM", 2), ("ST", 1), ("ST", 2)]

    # a deadline already past: training and evaluation stop, and nothing of the extension is measured
    complete, _ = reproduce(str(path), "tiny", out=out, device="cpu", progress=False, stop_at=0.0)
    assert not complete and not list(out.glob("extensions/E1/*.json"))

    complete, report = reproduce(str(path), "tiny", out=out, device="cpu", progress=False, only=["ST"])
    assert not complete  # SAM is neither trained nor measured
    shown = _extension_section(report.read_text())
    assert "Not measured yet: 2 of 4 runs" in shown
    assert "**holds**" not in shown and "**fails**" not in shown and "**inconclusive**" not in shown
    st = extension_path(out, "E1", next(p for p in wanted if p.name == "ST").run_name)
    assert len(list(out.glob("extensions/E1/ST-*.json"))) == 2 and not list(out.glob("extensions/E1/SAM-*.json"))
    first = st.read_bytes()

    complete, report = reproduce(str(path), "tiny", out=out, device="cpu", progress=False)
    assert complete and st.read_bytes() == first  # measured once, kept
    shown = _extension_section(report.read_text())
    assert "Not measured yet" not in shown and "Set measured: cifar10-sample-c-generated." in shown
    (row,) = [line for line in shown.splitlines() if line.startswith("| SAM − ST |")]
    assert re.search(r"\*\*(holds|fails|inconclusive)\*\*", row) and "| 2 |" in row
    means = {}
    for name in ("ST", "SAM"):
        runs = [p for p in wanted if p.name == name]
        files = [json.loads(extension_path(out, "E1", p.run_name).read_text()) for p in runs]
        accs = [f["evaluations"][0]["robust_acc"] for f in files]
        means[name] = 100 * sum(accs) / len(accs)
    assert f"{means['ST']:.2f}%" in row and f"{means['SAM']:.2f}%" in row  # the levels are the files' means
    assert "per-family mean accuracy" in shown
    for plan in wanted:
        results = json.loads(extension_path(out, "E1", plan.run_name).read_text())
        run = json.loads((out / "runs" / plan.run_name / "metadata.json").read_text())
        assert results["model"]["weights_sha256"] == run["weights_sha256"]
        (entry,) = results["evaluations"]
        assert entry["attack"] == "corruptions" and entry["n_examples"] == 6
        assert results["model"]["ref"] == f"runs/{plan.run_name}"  # found from any copy of the folder
    assert not list(out.glob("extensions/E1/*.partial.json"))
    seed0 = [p.run_name for p in recipe.models if p.seed == 0]
    assert not any(extension_path(out, "E1", name).exists() for name in seed0)  # not a confirmatory seed

    # the README's findings give the decided test in words, with both levels, the effect and its interval
    from sam_bench.report.findings import _extensions
    from sam_bench.report.folder import Folder

    (said,) = [line for line in _extensions([Folder.load(out)]) if line.startswith("- **E1** at scale tiny")]
    verdict = re.search(r"\*\*(holds|fails|inconclusive)\*\*", row)[1]
    assert f"(E1 {verdict})." in said and "2 fresh seeds" in said and "cifar10-sample-c-generated" in said
    assert (
        f"{means['ST']:.2f}%" in said
        and f"{means['SAM']:.2f}%" in said
        and "not claims of the paper" in "\n".join(_extensions([Folder.load(out)]))
    )


def _extension_section(report: str) -> str:
    assert "## Extension tests" in report
    return report.split("## Extension tests", 1)[1].split("\n## ", 1)[0]


def test_a_runs_weights_are_found_where_the_grid_keeps_them(tmp_path):
    """A published first seed's weights live in the zoo only; a reused run's in the folder it came from."""
    import shutil

    import pytest

    from sam_bench.errors import SamBenchError
    from sam_bench.experiments.extension_runs import weights_ref
    from sam_bench.zoo.store import list_entries

    path = tmp_path / "ext.yaml"
    path.write_text(RECIPE)
    out = tmp_path / "ext"
    reproduce(str(path), "tiny", out=out, device="cpu", progress=False, only=["ST:0"])
    (st,) = [p for p in load_recipe(str(path), "tiny").models if p.name == "ST" and p.seed == 0]
    run = out / "runs" / st.run_name
    assert weights_ref(out, st.run_name) == str(run)

    elsewhere = tmp_path / "other" / "runs" / st.run_name  # a grid that reused the run: reused.json names it
    elsewhere.mkdir(parents=True)
    shutil.copy(run / "metadata.json", elsewhere)
    (elsewhere / "reused.json").write_text(json.dumps({"from": str(run)}))
    assert weights_ref(tmp_path / "other", st.run_name) == str(run)

    (run / "model.safetensors").unlink()  # the published first seed: its weights in the zoo only
    (entry,) = [e for e in list_entries(zoo_dir=out / "model_zoo") if "Standard" in e["id"]]
    assert weights_ref(out, st.run_name, out / "model_zoo") == entry["id"]
    with pytest.raises(SamBenchError, match="neither in the run's folder"):
        weights_ref(out, st.run_name, tmp_path / "empty_zoo")


def test_the_official_set_is_measured_where_its_files_are_and_its_fallback_elsewhere(tmp_path):
    import pytest

    from sam_bench.errors import BadInput
    from sam_bench.experiments.extension_runs import corruption_source
    from sam_bench.recipes.endpoints import ExtensionTest

    official = ExtensionTest("E1", "corruptions", "cifar10-c", 100, ("SAM", "ST"), fallback_set="cifar10-c-generated")
    assert corruption_source(official, tmp_path) == ("cifar10-c-generated", None)
    assert corruption_source(official, None) == ("cifar10-c-generated", None)
    (tmp_path / "CIFAR-10-C").mkdir()
    (tmp_path / "CIFAR-10-C" / "labels.npy").write_bytes(b"")  # where RobustBench keeps them: its files are read
    assert corruption_source(official, tmp_path) == ("cifar10-c", str(tmp_path))
    strict = ExtensionTest("E1", "corruptions", "cifar10-c", 100, ("SAM", "ST"))
    with pytest.raises(BadInput, match="names no fallback_set"):
        corruption_source(strict, tmp_path / "elsewhere")
    generated = ExtensionTest("E1", "corruptions", "cifar10-c-generated", 100, ("SAM", "ST"))
    assert corruption_source(generated, tmp_path) == ("cifar10-c-generated", None)


def test_a_scale_with_confirmatory_seeds_starts_no_run_whose_code_it_cannot_name(tmp_path, monkeypatch, capsys):
    """Its runs count only where their records name their code: with neither a commit nor the package's files to
    fingerprint, no run starts; uncommitted changes are named by the fingerprint alone, with a warning."""
    import pytest

    from sam_bench.errors import BadInput
    from sam_bench.experiments import reproduction

    path = tmp_path / "ext.yaml"
    path.write_text(RECIPE)
    monkeypatch.setattr(reproduction.code_identity, "fingerprint", lambda: None)
    monkeypatch.setattr(reproduction.provenance, "code_commit", lambda: None)
    with pytest.raises(BadInput, match="confirmatory seeds, and the code here cannot be named"):
        reproduce(str(path), "tiny", out=tmp_path / "ext", device="cpu", progress=False, only=["ST:1"])
    assert not list((tmp_path / "ext").glob("runs/*/metadata.json"))

    monkeypatch.setattr(reproduction.code_identity, "fingerprint", lambda: "a" * 64)
    monkeypatch.setattr(reproduction.provenance, "code_commit", lambda: "b" * 40 + "+dirty")
    reproduce(str(path), "tiny", out=tmp_path / "ext", device="cpu", progress=False, only=["ST:1"], stop_at=0.0)
    assert capsys.readouterr().out.count("warning: uncommitted changes under sam_bench/") == 1


def test_no_extensions_leaves_the_extension_tests_to_a_later_call(tmp_path):
    """A GPU window trains and evaluates; the corruptions, made on the CPU, are measured by a later call."""
    from click.testing import CliRunner

    from sam_bench.cli import cli

    path = tmp_path / "ext.yaml"
    path.write_text(RECIPE)
    out = tmp_path / "ext"
    complete, _ = reproduce(str(path), "tiny", out=out, device="cpu", progress=False, only=["ST:1"], extensions=False)
    assert not complete and list(out.glob("results/ST-*.json")) and not list(out.glob("extensions/E1/*"))
    args = ["reproduce", str(path), "--scale", "tiny", "--out", str(out), "--device", "cpu", "--only", "ST:1"]
    result = CliRunner().invoke(cli, [*args, "--quiet"])
    assert result.exit_code == 0, result.output
    assert len(list(out.glob("extensions/E1/ST-*.json"))) == 1
