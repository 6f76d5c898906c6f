"""A zoo entry is data, never code: no constructor argument from an entry, a run, a recipe or a command line makes
timm (or anything else) load a file, fetch a url or run code; weights come only from the entry's own checked file.

Tried as an attacker would: a pickle that writes a marker file when it is unpickled, named by every argument timm's
`create_model` and `build_model_with_cfg` take (read from the installed timm's signatures here, so that a new
timm's new loader argument is tried too), through `create_model`, `zoo import`, an edited copy of the project's
committed convnext entry loaded by `sam_bench.load_model`, `evaluate` and RobustBench's `load_model`."""

from __future__ import annotations

import dataclasses
import inspect
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import sam_bench
from sam_bench.cli import cli
from sam_bench.errors import BadInput
from sam_bench.models import create_model, make_spec

CONVNEXT = "SamBench2026SAM_convnext-atto-dims163264128_rho0.1"  # a committed entry with timm arguments
REFUSED = "is not an argument timm's convnext_atto takes"


class _Marks:
    """Unpickled, it opens (and so creates) the marker file: the proof that code of the file ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.fixture
def evil(tmp_path) -> tuple[Path, Path]:
    import torch

    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pt"
    torch.save({"weight": _Marks(marker)}, path)
    return path, marker


def timm_loader_arguments(evil_file: Path) -> dict[str, object]:
    """Every argument timm's create_model and build_model_with_cfg take besides the model's own, each with a value
    that would load the evil file (or fetch from an url) where it can, and the keys build_model_with_cfg pops."""
    import timm
    from timm.models._builder import build_model_with_cfg
    from timm.models._pretrained import PretrainedCfg

    # a PretrainedCfg's fields that say where weights come from (timm's _resolve_pretrained_source reads them)
    located = {f.name for f in dataclasses.fields(PretrainedCfg)} & {"url", "file", "state_dict", "hf_hub_id"}
    assert {"file", "url"} <= located
    cfg = {"file": str(evil_file), "url": f"file://{evil_file}", "hf_hub_id": "attacker/weights"}
    names = set()
    for function in (timm.create_model, build_model_with_cfg):
        names |= {p.name for p in inspect.signature(function).parameters.values() if p.kind is not p.VAR_KEYWORD}
    names -= {"model_name", "model_cls", "variant"}  # the model itself, given by the spec's name
    names |= {"pruned", "features_only", "out_indices", "feature_cls"}  # popped from kwargs by build_model_with_cfg
    values = {name: str(evil_file) for name in names}
    values |= {"pretrained": True, "pretrained_strict": False, "pretrained_cfg": cfg, "pretrained_cfg_overlay": cfg}
    assert {"checkpoint_path", "pretrained", "pretrained_cfg", "pretrained_cfg_overlay", "pretrained_strict"} <= set(
        values
    )
    return values


def convnext_spec(**kwargs) -> dict:
    spec = make_spec("timm:convnext_atto", 10, [0.5] * 3, [0.25] * 3, 1.0, {"dims": [16, 32, 64, 128]})
    spec["kwargs"].update(kwargs)
    return spec


def test_every_argument_timm_passes_to_a_loader_is_refused_before_anything_is_built(evil):
    path, marker = evil
    for name, value in timm_loader_arguments(path).items():
        with pytest.raises(BadInput, match=REFUSED):
            create_model(convnext_spec(**{name: value}))
        assert not marker.exists(), f"{name}: the file was unpickled"
    with pytest.raises(BadInput, match=REFUSED):  # the command line refuses them as it reads them
        make_spec("timm:convnext_atto", 10, [0.5] * 3, [0.25] * 3, 1.0, {"checkpoint_path": str(path)})


def test_the_model_s_own_arguments_build_it_and_their_values_are_plain_data(tmp_path):
    net = create_model(convnext_spec(drop_path_rate=0.1, ls_init_value=None, conv_mlp=False, stem_type="patch"))
    assert net.net.stages[3].blocks[0].conv_dw.in_channels == 128
    for value in (str(tmp_path / "x"), "x.pt", "https://example.org/w", "..", "a:b", float("nan"), {"file": "/x"}):
        with pytest.raises(BadInput, match=r"stem_type\S* ?=.* is not (a plain name|a finite number)"):
            create_model(convnext_spec(stem_type=value))


def test_a_timm_name_is_bare_no_hub_source_no_pretrained_tag():
    for name in ("hf-hub:timm/convnext_atto.d2_in1k", "convnext_atto.d2_in1k"):
        with pytest.raises(BadInput, match="unknown timm model"):
            create_model(make_spec(f"timm:{name}", 10, [0.5] * 3, [0.25] * 3))


def test_an_architecture_without_constructor_arguments_takes_none():
    spec = make_spec("preactresnet18", 10, [0.5] * 3, [0.25] * 3, 0.125)
    with pytest.raises(BadInput, match="takes no constructor arguments"):
        create_model({**spec, "kwargs": {"depth": 4}})  # an edited entry: the arguments would be silently ignored


@pytest.fixture
def edited_zoo(tmp_path, evil) -> Path:
    """A copy of the committed convnext entry (its weights from the checkout's history) whose arguments name the
    evil file, as an edit of any entry could."""
    from sam_bench.zoo import store

    entry = store.find_entry(CONVNEXT)
    weights, _ = store.weights_file(entry)
    folder = tmp_path / "zoo" / "cifar10" / "Linf"
    folder.mkdir(parents=True)
    shutil.copy(weights, folder / f"{CONVNEXT}.safetensors")
    data = entry.to_json()
    data["arch"]["kwargs"]["checkpoint_path"] = str(evil[0])
    (folder / f"{CONVNEXT}.json").write_text(json.dumps(data, indent=2))
    return tmp_path / "zoo"


def test_an_edited_entry_runs_no_code_through_load_model_evaluate_verify_or_robustbench(edited_zoo, evil, tmp_path):
    from robustbench.utils import load_model as robustbench_load_model

    from sam_bench.zoo import store

    _, marker = evil
    with pytest.raises(BadInput, match=f"zoo entry {CONVNEXT}: timm:convnext_atto: 'checkpoint_path'"):
        sam_bench.load_model(CONVNEXT, zoo_dir=edited_zoo)
    evaluate = ["evaluate", CONVNEXT, "--zoo-dir", edited_zoo, "--attack", "clean", "--n-examples", "8", "--quiet"]
    result = CliRunner().invoke(cli, [*map(str, evaluate), "--out", str(tmp_path / "e.json")])
    assert result.exit_code == 2 and "'checkpoint_path' is not an argument" in result.output, result.output
    assert "Traceback" not in result.output
    [(_, ok, said)] = store.verify(CONVNEXT, zoo_dir=edited_zoo)
    assert not ok and "'checkpoint_path'" in said
    assert store.register_with_robustbench(edited_zoo) == [CONVNEXT]
    with pytest.raises(BadInput, match="'checkpoint_path'"):
        robustbench_load_model(CONVNEXT, model_dir=str(tmp_path / "rb"), dataset="cifar10", threat_model="Linf")
    assert not marker.exists()


def test_zoo_import_with_a_loader_argument_is_one_line(tmp_path, evil):
    import torch

    weights = tmp_path / "w.pt"
    torch.save(create_model(convnext_spec()).net.state_dict(), weights)
    args = ["zoo", "import", weights, "--id", "Me2026SAM_convnext", "--arch", "timm:convnext_atto"]
    args += ["--arch-kwargs", f"dims=[16,32,64,128],checkpoint_path={tmp_path / 'missing.pt'}"]
    args += ["--mean", "0.5,0.5,0.5", "--std", "0.25,0.25,0.25", "--method", "sam", "--description", "d"]
    args += ["--source", "https://example.org", "--data", "cifar10", "--zoo-dir", tmp_path / "zoo"]
    result = CliRunner().invoke(cli, list(map(str, args)))
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert [line for line in result.output.splitlines() if line.startswith("Error:")] == [
        "Error: timm:convnext_atto: 'checkpoint_path' is not an argument timm's convnext_atto takes (a model is "
        "built from its architecture's own arguments; its weights come only from its zoo entry's checked file)"
    ]
    assert not (tmp_path / "zoo").exists() or not list((tmp_path / "zoo").rglob("*.json"))


def test_a_pickle_in_robustbench_s_model_dir_is_never_unpickled(tmp_path, evil, monkeypatch):
    """RobustBench's load_model reads <model_dir>/<dataset>/<threat model>/<id>.pt with torch.load: for a zoo id the
    file is first read with weights_only=True, so that no torch default or environment variable lets it run code."""
    import shutil as sh

    from robustbench.utils import load_model as robustbench_load_model

    from sam_bench.errors import SamBenchError
    from sam_bench.zoo import store

    path, marker = evil
    entry = store.find_entry(CONVNEXT)
    folder = tmp_path / "zoo" / "cifar10" / "Linf"
    folder.mkdir(parents=True)
    sh.copy(store.weights_file(entry)[0], folder / f"{CONVNEXT}.safetensors")
    (folder / f"{CONVNEXT}.json").write_text(json.dumps(entry.to_json(), indent=2))
    assert CONVNEXT in store.register_with_robustbench(tmp_path / "zoo")
    model_dir = tmp_path / "rb"
    (model_dir / "cifar10" / "Linf").mkdir(parents=True)
    sh.copy(path, model_dir / "cifar10" / "Linf" / f"{CONVNEXT}.pt")
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")  # torch's own default turned off
    with pytest.raises(SamBenchError, match="is not a plain state dict of tensors"):
        robustbench_load_model(CONVNEXT, model_dir=str(model_dir), dataset="cifar10", threat_model="Linf")
    assert not marker.exists()
    store.register_with_robustbench()


def test_a_robustbench_architecture_names_robustbench_s_networks_not_a_zoo_entry(tmp_path):
    """An entry edited to be built as robustbench:cifar10/Linf/<a zoo id> (RobustBench lists zoo ids through
    sam-bench's bridge) would build itself without end."""
    from sam_bench.zoo import store

    assert CONVNEXT in store.register_with_robustbench()
    spec = make_spec(f"robustbench:cifar10/Linf/{CONVNEXT}", 10, [0.0] * 3, [1.0] * 3)
    with pytest.raises(BadInput, match="is a sam-bench zoo entry that RobustBench lists through sam-bench"):
        create_model(spec)
