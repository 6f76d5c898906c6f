import importlib
import os
import subprocess
import sys

from sam_bench import compat


def test_ecosystem_imports_after_install():
    compat.install()
    torchvision = importlib.import_module("torchvision")
    timm = importlib.import_module("timm")
    from robustbench.eval import benchmark  # needs `autoattack` and `autoattack.state`

    assert torchvision.__version__ and timm.__version__ and callable(benchmark)


def test_autoattack_shim_has_upstream_signature():
    compat.install()
    import autoattack
    import torch

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 3)).eval()
    adversary = autoattack.AutoAttack(
        model, norm="Linf", eps=0.1, version="custom", attacks_to_run=["apgd-ce"], device="cpu", verbose=False
    )
    adversary.apgd.n_iter = 5
    x, y = torch.rand(8, 3, 4, 4), torch.arange(8) % 3
    x_adv = adversary.run_standard_evaluation(x, y, bs=4)  # upstream: `bs=`, returns x_adv only
    assert isinstance(x_adv, torch.Tensor) and x_adv.shape == x.shape
    assert (x_adv - x).abs().max() <= 0.1 + 1e-6
    x_adv2, y_adv = adversary.run_standard_evaluation(x, y, bs=4, return_labels=True)
    assert y_adv.shape == y.shape
    assert adversary.attacks_to_run == ["apgd-ce"]  # attributes pass through to pyautoattack


def test_this_environment_needs_both_shims():
    # CUDA torchvision wheel on CPU torch, and no upstream autoattack: both shims must be on here.
    assert compat.install() == {"torchvision", "autoattack"}


def test_shims_stay_off_where_the_real_packages_work(tmp_path):
    # Stand-ins for a working torchvision and an installed upstream autoattack, first on the path.
    (tmp_path / "torchvision").mkdir()
    (tmp_path / "torchvision" / "__init__.py").write_text("__version__ = 'native'\n")
    (tmp_path / "autoattack").mkdir()
    (tmp_path / "autoattack" / "__init__.py").write_text("class AutoAttack: pass\n")
    code = "import sam_bench.compat as c, autoattack; print(sorted(c.install()), autoattack.__file__)"
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    assert out.startswith("[] ") and str(tmp_path) in out


def test_torchvision_shim_is_a_noop_when_already_imported():
    compat.install()
    before = set(compat.ACTIVE)
    assert compat.install() == before


def _fresh(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_sam_bench_first_makes_torchvision_timm_and_robustbench_import():
    # docs/install.md: in the README's CPU environment sam_bench comes first in a script of one's own
    done = _fresh("import sam_bench, torchvision, timm, robustbench; from robustbench.eval import benchmark; print(1)")
    assert done.returncode == 0 and done.stdout.strip() == "1", done.stderr[-2000:]


def test_importing_torchvision_or_robustbench_first_fails_exactly_where_docs_install_says():
    # Where torchvision's own operators cannot load with this torch (the README's CPU environment), importing
    # it, timm or robustbench before sam_bench fails with the message docs/install.md quotes; elsewhere it works.
    needed = "torchvision" in compat.install()
    for module in ("torchvision", "timm", "robustbench"):
        done = _fresh(f"import {module}")
        if needed:
            assert done.returncode != 0 and "operator torchvision::nms does not exist" in done.stderr, module
        else:
            assert done.returncode == 0, done.stderr[-2000:]
