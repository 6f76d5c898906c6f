"""torch.compile's kernels are cached apart per CPU instruction set (runtime/compile_cache.py): kernels an
AVX-512 compile left behind are not reused by a run forced to AVX2, unless the user chose the folder."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

SHOW = (
    "from sam_bench.runtime.compile_cache import compiled; compiled(torch.nn.Linear(2, 2)); "
    "print(os.environ['TORCHINDUCTOR_CACHE_DIR'])"
)
# torch.compile itself (its first call imports dynamo and inductor: 6-7 s of a core here) in the first case
# only, which shows that it leaves the folder as chosen; the other cases are about the choice
NO_COMPILE = "torch.compile = lambda model: model; "


def cache_dir_chosen(real_compile=False, **env) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("TORCHINDUCTOR_CACHE_DIR", "ATEN_CPU_CAPABILITY")}
    code = "import os, torch; " + ("" if real_compile else NO_COMPILE) + SHOW
    proc = subprocess.run([sys.executable, "-c", code], env=base | env, capture_output=True, text=True, check=True)
    return proc.stdout.strip()


@pytest.mark.skipif(os.uname().machine not in ("x86_64", "AMD64"), reason="ATen's capabilities are x86's here")
def test_each_capability_compiles_into_its_own_folder_and_a_chosen_one_is_kept(tmp_path):
    avx2 = cache_dir_chosen(real_compile=True, ATEN_CPU_CAPABILITY="avx2")
    assert avx2.endswith("_avx2")
    default = cache_dir_chosen(ATEN_CPU_CAPABILITY="default")
    assert default.endswith("_default") and default != avx2
    assert cache_dir_chosen(TORCHINDUCTOR_CACHE_DIR=str(tmp_path)) == str(tmp_path)
    # inductor's own default, put there by inductor when it first looked (not by the user), is replaced
    from torch._inductor.runtime.cache_dir_utils import default_cache_dir

    assert cache_dir_chosen(ATEN_CPU_CAPABILITY="avx2", TORCHINDUCTOR_CACHE_DIR=default_cache_dir()) == avx2
