"""A network of its user's own code enters the zoo as an importable class and its JSON arguments, checked by
rebuilding it; it loads again (sam-bench and RobustBench) only from a module its user named, so that an entry,
which anyone can edit, never makes sam-bench import and run code."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import sam_bench
from sam_bench.errors import BadInput
from sam_bench.models import create_model, own_class
from sam_bench.zoo import imported

MEAN, STD = [0.4914, 0.4822, 0.4465], [0.2471, 0.2435, 0.2616]
MODULE = "sam_bench_test_nets"  # a module of "the user's own code", written for each test
NETS = """
import torch.nn as nn


class SmallCNN(nn.Module):
    def __init__(self, width=8, num_classes=10, act="relu"):
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, 2, 1)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.conv(x).relu().mean((2, 3)))


class Other(SmallCNN):
    pass
"""


@pytest.fixture
def nets(tmp_path, monkeypatch):
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / f"{MODULE}.py").write_text(NETS)
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    monkeypatch.setattr(own_class, "_TRUSTED", set())
    monkeypatch.delenv(own_class.TRUSTED_ENV, raising=False)
    sys.modules.pop(MODULE, None)
    import importlib

    yield importlib.import_module(MODULE)
    sys.modules.pop(MODULE, None)


def told():
    return imported.trained_elsewhere("standard", "SGD, 3 epochs", "https://example.org/mine", "cifar10")


def test_a_module_of_your_own_enters_once_and_loads_the_same_function(nets, tmp_path):
    torch.manual_seed(0)
    net = nets.SmallCNN(width=8).eval()
    arch = imported.architecture_spec(nets.SmallCNN, MEAN, STD, kwargs={"width": 8})
    assert arch["arch"] == f"class:{MODULE}:SmallCNN" and arch["kwargs"] == {"width": 8}
    entry = sam_bench.zoo.add_module(net, arch, told(), "Me2026Standard_smallcnn", zoo_dir=tmp_path / "zoo")
    stored = json.loads((tmp_path / "zoo/cifar10/Linf/Me2026Standard_smallcnn.json").read_text())
    assert stored["arch"] == arch and entry["architecture"] == f"SmallCNN ({MODULE}, width=8)"
    model = sam_bench.load_model("Me2026Standard_smallcnn", zoo_dir=tmp_path / "zoo")
    x = torch.rand(4, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), net((x - model.normalize.mean) / model.normalize.std))


def test_it_is_rebuilt_and_compared_before_it_is_kept(nets, tmp_path):
    net = nets.SmallCNN(width=8)
    wrong = imported.architecture_spec(nets.SmallCNN, MEAN, STD, kwargs={"width": 16})
    with pytest.raises(BadInput, match=r"do not fit class:.*SmallCNN .*of another shape: net\.conv\.weight"):
        sam_bench.zoo.add_module(net, wrong, told(), "Me2026Standard_smallcnn", zoo_dir=tmp_path / "zoo")
    other = imported.architecture_spec(nets.Other, MEAN, STD, kwargs={"width": 8})
    with pytest.raises(BadInput, match="give the class it is an instance of"):
        sam_bench.zoo.add_module(net, other, told(), "Me2026Standard_smallcnn", zoo_dir=tmp_path / "zoo")
    assert not (tmp_path / "zoo").exists() or not list((tmp_path / "zoo").rglob("*.json"))


def test_what_no_later_program_could_rebuild_is_refused(nets):
    class Local(torch.nn.Module):
        pass

    Main = type("Main", (torch.nn.Module,), {"__module__": "__main__"})
    for cls, words in ((Local, "inside a function"), (Main, "__main__"), (dict, "not a network class")):
        with pytest.raises(BadInput, match=words):
            imported.architecture_spec(cls, MEAN, STD)
    for kwargs, words in (
        ({"width": (8,)}, "does not survive JSON"),
        ({"width": torch.tensor(8)}, "not JSON"),
        ({"weights": "x"}, "'weights' is not an argument"),
        ({"act": "../x.pt"}, "not a plain name"),
    ):
        with pytest.raises(BadInput, match=words):
            imported.architecture_spec(nets.SmallCNN, MEAN, STD, kwargs=kwargs)


def test_an_entry_imports_only_a_module_its_user_named(nets, monkeypatch):
    spec = {"arch": "class:antigravity:Fly", "num_classes": 10, "mean": MEAN, "std": STD, "width": 1.0}
    with pytest.raises(BadInput, match="SAM_BENCH_MODULES=antigravity"):
        create_model(spec)
    assert "antigravity" not in sys.modules
    monkeypatch.setenv(own_class.TRUSTED_ENV, f"other,{MODULE}")
    built = create_model({**spec, "arch": f"class:{MODULE}:SmallCNN", "kwargs": {"width": 4}})
    assert built.net.conv.out_channels == 4


def test_another_process_loads_it_with_sam_bench_and_robustbench_once_its_module_is_named(nets, tmp_path):
    torch.manual_seed(0)
    net = nets.SmallCNN(width=8).eval()
    arch = imported.architecture_spec(nets.SmallCNN, MEAN, STD, kwargs={"width": 8})
    sam_bench.zoo.add_module(net, arch, told(), "Me2026Standard_smallcnn", zoo_dir=tmp_path / "zoo")
    script = textwrap.dedent(
        f"""
        import sam_bench, sys, torch
        from sam_bench.errors import BadInput
        try:
            sam_bench.load_model("Me2026Standard_smallcnn", zoo_dir={str(tmp_path / "zoo")!r})
        except BadInput as err:
            print("refused:", err)
        else:
            print("loaded without being named")
        from sam_bench.models import own_class
        own_class.trust({MODULE!r})
        from robustbench.utils import load_model
        model = load_model("Me2026Standard_smallcnn", model_dir={str(tmp_path / "rb")!r}, dataset="cifar10",
                           threat_model="Linf")
        print("robustbench:", type(model.net).__name__)
        """
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path / "code"), *sys.path]),
        "SAM_BENCH_ZOO": str(tmp_path / "zoo"),
    }
    env.pop(own_class.TRUSTED_ENV, None)
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("refused: zoo entry Me2026Standard_smallcnn: class:") and "SAM_BENCH_MODULES" in lines[0]
    assert lines[1] == "robustbench: SmallCNN"
