"""Models trained elsewhere into the zoo (`sam-bench zoo import`, sam_bench.zoo.imported and
robustbench_import): a plain-PyTorch model, a timm model and RobustBench-format checkpoints each go from a file
to a zoo entry that sam-bench and RobustBench's own `load_model` load with the very function that was saved; a
plain-PyTorch model goes on to a board row marked "trained elsewhere"; every bad input is one line with nothing
written."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner

from sam_bench.cli import cli
from sam_bench.models import create_model
from sam_bench.zoo import imported, store, training_record

CIFAR = ["--mean", "0.4914,0.4822,0.4465", "--std", "0.2471,0.2435,0.2616"]
OWN = ["--arch", "preactresnet18", "--width", "0.125", *CIFAR]
TOLD = ["--method", "at", "--description", "PGD-10 AT", "--source", "https://example.org/paper", "--data", "cifar10"]
PRN = {"arch": "preactresnet18", "num_classes": 10, "mean": [0.4914, 0.4822, 0.4465], "std": [0.2471, 0.2435, 0.2616]}
X = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def imports(weights, zoo, *args):
    return invoke("zoo", "import", weights, "--zoo-dir", zoo, *args)


def one_line_refusal(result, *words):
    assert result.exit_code != 0
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    text = result.output.strip()
    assert "Traceback" not in text and len(text.splitlines()) == 1, text
    for word in words:
        assert word in text, text


def nothing_written(zoo: Path):
    assert not zoo.exists() or not any(p.is_file() for p in zoo.rglob("*")), list(zoo.rglob("*"))


def prn18(width=0.125, seed=0):
    torch.manual_seed(seed)
    return create_model({**PRN, "width": width}).eval()


def test_a_plain_pytorch_state_dict_becomes_an_entry_that_loads_the_same_function(tmp_path):
    model = prn18()
    torch.save(model.state_dict(), tmp_path / "mine.pt")
    result = imports(tmp_path / "mine.pt", tmp_path / "zoo", "--id", "Me2026AT_w0.125", *OWN, *TOLD)
    assert result.exit_code == 0, result.output
    assert "trained elsewhere" in result.output
    entry = store.find_entry("Me2026AT_w0.125", tmp_path / "zoo")
    assert "training" not in entry and entry["trained_elsewhere"]["source"] == "https://example.org/paper"
    assert entry["added"]["source_sha256"] == __import__("sam_bench").files.sha256_file(tmp_path / "mine.pt")
    assert torch.equal(store.load_model("Me2026AT_w0.125", zoo_dir=tmp_path / "zoo")(X), model(X))
    training_record.check_entry(entry, "here")  # no run log is asked of a model trained elsewhere


def test_torchvision_and_timm_models_as_their_libraries_define_them(tmp_path):
    import timm
    import torchvision

    zoo = tmp_path / "zoo"
    tv = torchvision.models.resnet18(num_classes=10).eval()
    spec = imported.architecture_spec("torchvision:resnet18", [0.5] * 3, [0.25] * 3)
    told = imported.trained_elsewhere("standard", "SGD, a few steps", "https://example.org", "cifar10")
    imported.add_module(tv, spec, told, "Me2026Plain_tv-resnet18", zoo_dir=zoo, precision="fp32")
    assert torch.allclose(store.load_model("Me2026Plain_tv-resnet18", zoo_dir=zoo)(X), tv((X - 0.5) / 0.25), atol=1e-5)

    net = timm.create_model("resnet10t", num_classes=10).eval()  # timm's own stem, not sam-bench's CIFAR form
    from safetensors.torch import save_file

    save_file(net.state_dict(), tmp_path / "timm.safetensors")
    result = imports(
        tmp_path / "timm.safetensors",
        zoo,
        "--id",
        "Me2026Timm_r10t",
        "--arch",
        "timm:resnet10t",
        *CIFAR,
        *TOLD,
        "--precision",
        "fp32",
    )
    assert result.exit_code == 0, result.output
    mean, std = torch.tensor(PRN["mean"]).view(1, 3, 1, 1), torch.tensor(PRN["std"]).view(1, 3, 1, 1)
    got = store.load_model("Me2026Timm_r10t", zoo_dir=zoo)(X)
    assert torch.allclose(got, net((X - mean) / std), atol=1e-5)


def robustbench_checkpoint(path: Path, net: torch.nn.Module) -> None:
    """A checkpoint as RobustBench stores its models: the state dict under `state_dict`, DataParallel's names."""
    torch.save({"state_dict": {f"module.{k}": v for k, v in net.state_dict().items()}}, path)


@pytest.mark.parametrize(
    "rb_id, threat_model, our_id",
    [("Standard", "Linf", "RobustBench2020Standard_imported"), ("Wong2020Fast", "Linf", None)],
)
def test_robustbench_checkpoints_load_through_its_definitions_and_its_load_model(tmp_path, rb_id, threat_model, our_id):
    from sam_bench.models.robustbench_adapter import constructor

    torch.manual_seed(1)
    net = constructor("cifar10", threat_model, rb_id)["model"]().eval()
    robustbench_checkpoint(tmp_path / f"{rb_id}.pt", net)
    zoo = tmp_path / "zoo"
    args = ["--robustbench-id", rb_id, "--threat-model", threat_model] + (["--id", our_id] if our_id else [])
    if rb_id == "Standard":  # the installed robustbench does not say its extra data, nor does leaderboard/published
        args.append("--no-additional-data")
    result = imports(tmp_path / f"{rb_id}.pt", zoo, *args)
    assert result.exit_code == 0, result.output
    model_id = our_id or f"{rb_id}_imported"
    entry = store.find_entry(model_id, zoo)
    told = entry["trained_elsewhere"]
    assert told["robustbench_id"] == rb_id and entry["arch"]["arch"] == f"robustbench:cifar10/{threat_model}/{rb_id}"
    if rb_id == "Wong2020Fast":  # listed in leaderboard/published: its figures are claims, not results
        (claim,) = told["claims"]
        assert claim["eps"] == "8/255" and claim["autoattack_acc"] > 0 and "model_info" in claim["source"]
    x = X[:2]
    expected = net(x)
    assert torch.allclose(store.load_model(model_id, "cifar10", threat_model, zoo_dir=zoo)(x), expected, atol=1e-2)

    from robustbench.utils import load_model

    assert model_id in store.register_with_robustbench(zoo)
    theirs = load_model(model_id, model_dir=tmp_path / "rb", dataset="cifar10", threat_model=threat_model)
    assert torch.allclose(theirs(x), expected, atol=1e-2)


def test_a_plain_pytorch_model_goes_from_its_file_to_a_board_row_marked_trained_elsewhere(tmp_path, sample):
    """zoo import -> evaluate (PGD on 48 sample images, AutoAttack's APGD-CE) -> leaderboard add (its spot checks
    measure the imported weights again) -> render -> recheck."""
    from sam_bench.data import load_dataset
    from sam_bench.evaluation.evaluate import evaluate
    from sam_bench.evaluation.model_ref import load_model_ref
    from sam_bench.evaluation.specs import make_attacks

    model = prn18(width=0.0625).train()  # trained in plain PyTorch, a few steps
    x = torch.from_numpy(sample.x_train[:512]).permute(0, 3, 1, 2).contiguous().float() / 255
    y = torch.from_numpy(sample.y_train[:512])
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for idx in torch.randperm(512, generator=torch.Generator().manual_seed(0)).split(64):
        opt.zero_grad()
        F.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
    torch.save(model.eval().state_dict(), tmp_path / "mine.pt")
    zoo, boards = tmp_path / "zoo", tmp_path / "boards"
    result = imports(
        tmp_path / "mine.pt",
        zoo,
        "--id",
        "Me2026AT_w0.0625",
        "--arch",
        "preactresnet18",
        *CIFAR,
        *TOLD,
        "--width",
        0.0625,
    )
    assert result.exit_code == 0, result.output

    loaded, info = load_model_ref("Me2026AT_w0.0625", zoo_dir=zoo)
    attacks = make_attacks("pgd", "Linf", ["1/255"]) + make_attacks(
        "autoattack", "Linf", ["8/255"], version="custom", attacks=["apgd-ce"]
    )
    results = evaluate(loaded, load_dataset("cifar10-sample"), attacks, n_examples=48, model_info=info, progress=False)
    (tmp_path / "results.json").write_text(json.dumps(results))
    added = invoke("leaderboard", "add", tmp_path / "results.json", "--leaderboard-dir", boards, "--zoo-dir", zoo)
    assert added.exit_code == 0, added.output
    row = json.loads((boards / "cifar10" / "Linf" / "Me2026AT_w0.0625.json").read_text())
    assert row["sam_bench"]["trained_elsewhere"].startswith("Trained elsewhere, not by sam-bench (PGD-10 AT")
    assert row["footnote"].startswith("Trained elsewhere") and row["sam_bench"]["training_cost"] == {}
    rendered = invoke("leaderboard", "render", "--leaderboard-dir", boards)
    assert rendered.exit_code == 0, rendered.output
    page = next(boards.rglob("*.md")).read_text()
    assert "(trained elsewhere)" in page
    rechecked = invoke("recheck", tmp_path / "results.json", "--zoo-dir", zoo, "--attacks", "pgd")
    assert rechecked.exit_code == 0, rechecked.output  # measured again from the imported weights, image by image


def test_an_imported_entry_may_not_claim_a_run_here(tmp_path):
    imported.add_module(
        prn18(),
        {**PRN, "width": 0.125},
        imported.trained_elsewhere("at", "d", "s", "cifar10"),
        "Me2026AT_claims",
        zoo_dir=tmp_path,
    )
    entry = store.find_entry("Me2026AT_claims", tmp_path)
    for forged in ({"training_cost": {"epochs": 100}}, {"added": {**entry["added"], "from_run": "runs/x"}}):
        with pytest.raises(Exception, match="trained elsewhere, yet it states"):
            training_record.check_entry({**entry, **forged}, "zoo entry")


# ------------------------------------------------------------------ bad input: one line each, nothing written


def _saved(tmp_path: Path, state: dict, name="w.pt") -> Path:
    torch.save(state, tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize(
    "edit, words",
    [
        (lambda s: {k: v for k, v in s.items() if k != "linear.weight"}, ["1 missing: linear.weight"]),
        (lambda s: {**s, "head.extra": torch.zeros(1)}, ["1 extra: head.extra"]),
        (lambda s: {**s, "linear.bias": torch.zeros(7)}, ["of another shape: linear.bias (7,)"]),
        (lambda s: {**s, "linear.bias": torch.full((10,), float("nan"))}, ["linear.bias", "NaN or inf"]),
    ],
    ids=["missing", "extra", "mis-shaped", "nan"],
)
def test_weights_that_do_not_fit_are_named(tmp_path, edit, words):
    path = _saved(tmp_path, edit(dict(prn18().state_dict())))
    result = imports(path, tmp_path / "zoo", "--id", "Me2026AT_bad", *OWN, *TOLD)
    one_line_refusal(result, *words)
    nothing_written(tmp_path / "zoo")


class NotWeights:
    pass


def test_a_pickle_that_is_not_weights_only_is_never_unpickled(tmp_path):
    with open(tmp_path / "evil.pt", "wb") as f:
        torch.save({"state_dict": prn18().state_dict(), "note": NotWeights()}, f, pickle_module=pickle)
    one_line_refusal(
        imports(tmp_path / "evil.pt", tmp_path / "zoo", "--id", "Me2026AT_x", *OWN, *TOLD), "not weights only"
    )
    one_line_refusal(
        imports(
            tmp_path / "evil.pt", tmp_path / "zoo", "--robustbench-id", "Standard", "--id", "RobustBench2020Standard_x"
        ),
        "tensors only",
    )
    nothing_written(tmp_path / "zoo")


def test_a_normalization_of_the_wrong_length(tmp_path):
    path = _saved(tmp_path, prn18().state_dict())
    result = imports(
        path,
        tmp_path / "zoo",
        "--id",
        "Me2026AT_x",
        "--arch",
        "preactresnet18",
        "--mean",
        "0.5,0.5",
        "--std",
        "0.2,0.2,0.2",
        *TOLD,
    )
    one_line_refusal(result, "mean has 2 values")
    nothing_written(tmp_path / "zoo")


def test_an_architecture_timm_does_not_know(tmp_path):
    path = _saved(tmp_path, prn18().state_dict())
    result = imports(path, tmp_path / "zoo", "--id", "Me2026AT_x", "--arch", "timm:no_such_net", *CIFAR, *TOLD)
    one_line_refusal(result, "unknown timm model 'no_such_net'")
    nothing_written(tmp_path / "zoo")


def test_an_id_taken_by_the_zoo_or_by_robustbench(tmp_path):
    path = _saved(tmp_path, prn18().state_dict())
    first = imports(path, tmp_path / "zoo", "--id", "Me2026AT_x", *OWN, *TOLD)
    assert first.exit_code == 0, first.output
    before = sorted(p.name for p in (tmp_path / "zoo").rglob("*"))
    other = _saved(tmp_path, prn18(seed=1).state_dict(), "other.pt")
    one_line_refusal(imports(other, tmp_path / "zoo", "--id", "Me2026AT_x", *OWN, *TOLD), "already taken")
    one_line_refusal(
        imports(other, tmp_path / "zoo", "--id", "Wong2020Fast", *OWN, *TOLD),
        "RobustBench's Wong2020Fast",
    )
    assert sorted(p.name for p in (tmp_path / "zoo").rglob("*")) == before


def test_a_robustbench_id_unknown_to_the_installed_robustbench(tmp_path):
    path = _saved(tmp_path, prn18().state_dict())
    result = imports(path, tmp_path / "zoo", "--robustbench-id", "Wong2020Fats", "--id", "Me2026AT_x")
    one_line_refusal(result, "unknown to the installed robustbench", "did you mean Wong2020Fast")
    nothing_written(tmp_path / "zoo")


def test_extra_data_is_what_the_importer_says_and_unknown_where_it_does_not_say(tmp_path):
    zoo = tmp_path / "zoo"
    said = {"Me2026AT_unsaid": [], "Me2026AT_extra": ["--additional-data"], "Me2026AT_plain": ["--no-additional-data"]}
    for seed, (model_id, flag) in enumerate(said.items()):
        path = _saved(tmp_path, prn18(seed=seed).state_dict(), f"{model_id}.pt")
        result = imports(path, zoo, "--id", model_id, *OWN, *TOLD, *flag)
        assert result.exit_code == 0, result.output
        assert "additional data: " + {0: "unknown", 1: "yes", 2: "no"}[seed] in result.output
    found = {m: store.find_entry(m, zoo)["trained_elsewhere"]["additional_data"] for m in said}  # schema-checked
    assert found == {"Me2026AT_unsaid": None, "Me2026AT_extra": True, "Me2026AT_plain": False}
    raw = json.loads(next(zoo.rglob("Me2026AT_unsaid.json")).read_text())
    assert raw["trained_elsewhere"]["additional_data"] is None  # written as unknown, not left out, never false
    committed = store.list_entries()  # the project's entries, schema-checked as they are
    assert committed and all(imported.is_imported(e) or imported.additional_data(e) is False for e in committed)


def test_a_robustbench_import_says_its_extra_data_unless_robustbench_s_model_info_does(tmp_path):
    """robustbench 1.1.1 from PyPI ships no model info: RobustBench's own word is sam-bench's copy of it
    (leaderboard/published, models without additional data); for a model it does not list, the importer says it."""
    from sam_bench.zoo import robustbench_import

    assert robustbench_import.installed_additional_data("cifar10", "Linf", "Standard", {}) is None
    checkpoint = tmp_path / "any.pt"
    robustbench_checkpoint(checkpoint, prn18())  # refused before its tensors are fitted to RobustBench's network
    zoo = tmp_path / "zoo"
    unsaid = imports(checkpoint, zoo, "--robustbench-id", "Standard", "--id", "RobustBench2020Standard_x")
    one_line_refusal(unsaid, "does not say whether Standard was trained with additional data", "--no-additional-data")
    contradicted = imports(checkpoint, zoo, "--robustbench-id", "Wong2020Fast", "--additional-data")
    one_line_refusal(contradicted, "lists Wong2020Fast without additional data", "leave out --additional-data")
    nothing_written(zoo)


def test_robustbench_s_model_info_is_read_where_the_installed_robustbench_ships_it(tmp_path, monkeypatch):
    """A checkout of RobustBench's repository installed (its model_info folder beside the package) says a model's
    extra data; so does a model list entry that carries it."""
    import importlib.util
    from types import SimpleNamespace

    from sam_bench.zoo import robustbench_import

    folder = tmp_path / "model_info" / "cifar10" / "Linf"
    folder.mkdir(parents=True)
    (folder / "Extra2021.json").write_text(json.dumps({"additional_data": True}))
    (folder / "Plain2021.json").write_text(json.dumps({"additional_data": False}))
    package = SimpleNamespace(origin=str(tmp_path / "robustbench" / "__init__.py"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: package if name == "robustbench" else None)
    said = {
        m: robustbench_import.installed_additional_data("cifar10", "Linf", m, {}) for m in ("Extra2021", "Plain2021")
    }
    assert said == {"Extra2021": True, "Plain2021": False}
    assert robustbench_import.installed_additional_data("cifar10", "Linf", "Other2021", {}) is None
    assert robustbench_import.installed_additional_data("cifar10", "Linf", "Other2021", {"additional_data": True})
