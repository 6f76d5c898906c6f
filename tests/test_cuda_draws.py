"""torch's CUDA draws computed on the CPU (sam_bench/evaluation/cuda_draws.py): Philox4x32-10 against Random123's
known answers, the kernel's layout of words over elements and its offset, and the draws themselves against what
the H200 drew: the committed full-scale ST file's PGD at L2 128/255, re-run here from the replayed starts, agrees
with its record where fresh starts do not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from sam_bench.evaluation import cuda_draws, outcomes
from sam_bench.evaluation.cuda_draws import CudaGenerator, philox

ROOT = Path(__file__).resolve().parents[1]
H200 = "NVIDIA H200"

# Random123's kat_vectors, philox4x32 10: counter, key -> output
KNOWN_ANSWERS = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]


@pytest.mark.parametrize("counter, key, expected", KNOWN_ANSWERS)
def test_philox_gives_random123s_known_answers(counter, key, expected):
    assert tuple(int(w[0]) for w in philox([np.array([c]) for c in counter], key)) == expected


def test_a_small_kernel_gives_element_i_the_first_word_of_thread_i_and_moves_the_offset_by_one_call():
    """Fewer elements than one grid's threads: thread i draws once, for element i, from counter (offset/4, 0, i, 0)
    under the seed's key; the generator's offset then moves on by one call's 4 words."""
    generator = CudaGenerator(seed=7, gpu=H200)
    generator.offset = 8
    values = generator.uniform(1000, 0.0, 1.0, np.arange(1000))
    words = philox([np.full(1000, 2), np.zeros(1000), np.arange(1000), np.zeros(1000)], (7, 0))[0]
    expected = words.astype(np.float32) * np.float32(2.0**-32) + np.float32(2.0**-33)
    np.testing.assert_array_equal(values, np.where(expected == 1, 0, expected).astype(np.float32))
    assert generator.offset == 12


def test_a_large_kernel_strides_over_the_gpus_grid_and_moves_the_offset_by_every_call_a_thread_makes():
    """More elements than the H200's 132 x 8 blocks of 256 threads: element li takes word li // threads % 4 of
    thread li % threads's call li // (4 threads); 5.8 million elements take 6 calls a thread, 24 words of offset."""
    threads = 132 * 8 * 256
    generator = CudaGenerator(seed=0, gpu=H200)
    li = np.array([0, threads - 1, threads + 5, 3 * threads + 2, 4 * threads + 9, 5_799_935])
    got = generator.uniform(5_800_000, -1.0, 1.0, li)
    call, within = np.divmod(li, 4 * threads)
    word, thread = np.divmod(within, threads)
    words = np.stack(philox([call, 0 * call, thread, 0 * call], (0, 0)))[word, np.arange(len(li))]
    unit = words.astype(np.float32) * np.float32(2.0**-32) + np.float32(2.0**-33)
    np.testing.assert_allclose(got, unit * 2 - 1, atol=1e-7)
    assert generator.offset == 24


def test_uniform_and_normal_draws_have_their_distributions():
    generator = CudaGenerator(seed=3, gpu=H200)
    u = generator.uniform(200_000, -0.5, 0.5, np.arange(200_000))
    n = generator.normal(200_000, np.arange(200_000))
    assert -0.5 <= u.min() and u.max() < 0.5 and abs(u.mean()) < 0.005
    assert abs(n.mean()) < 0.01 and abs(n.std() - 1) < 0.01


def test_only_a_known_gpus_files_are_replayable():
    assert cuda_draws.gpu_of({"device": "cuda", "device_name": H200}) == H200
    assert cuda_draws.gpu_of({"device": "cuda", "device_name": "NVIDIA A100-SXM4-40GB"}) is None
    assert cuda_draws.gpu_of({"device": "cpu", "device_name": H200}) is None


def test_the_h200s_pgd_starts_replayed_here_reproduce_its_record_where_fresh_starts_do_not(tmp_path):
    """The full-scale ST file's PGD at L2 128/255 on the first 24 images of its first chunk that it records robust:
    from the starts replayed as the H200 drew them, every one (at most one, for other arithmetic) is robust here too;
    from fresh starts, several are fooled: the replay is the recorded run's."""
    unpack = ROOT.parent / "shared" / "tools" / "cifar10_unpack.py"
    if not unpack.is_file():
        pytest.skip("the packed CIFAR-10 is not beside this checkout")
    from sam_bench.attacks.pgd import pgd, random_perturbation
    from sam_bench.data import to_float
    from sam_bench.evaluation.pgd_replay import replayed_starts
    from sam_bench.evaluation.recheck import measured_data, named_weights
    from sam_bench.evaluation.results_record import Results

    npz = tmp_path / "cifar10.npz"
    subprocess.run([sys.executable, str(unpack), str(npz)], check=True, capture_output=True)
    path = ROOT / "reproductions" / "paper-cifar10-full" / "results" / "ST-2f379c4eaf.json"
    results = Results.read(path)
    net, _ = named_weights(path, results, None, None)
    data = measured_data(path, results, str(npz))
    ev = next(e for e in results.evaluations if e.attack == "pgd" and e.norm == "L2" and e.eps == "128/255")
    clean, recorded = outcomes.decode(results.clean_outcomes), outcomes.decode(ev.outcomes)
    wanted = np.flatnonzero(clean[:2000] & recorded[:2000])[:24]
    gpu = cuda_draws.gpu_of(results.environment)
    assert gpu == H200
    (start,) = replayed_starts(ev, clean, wanted, (3, 32, 32), gpu)
    x, y = to_float(data.x_test[wanted]), torch.from_numpy(data.y_test[wanted]).long()
    eps, s = float(ev.eps_value), ev.params
    torch.set_num_threads(1)

    def fooled(first: torch.Tensor) -> int:
        adv = pgd(net.eval(), x, y, eps, "L2", steps=s.steps, step_size=s.step_size, starts=lambda r: first)
        with torch.no_grad():
            return int((net(adv).argmax(1) != y).sum())

    fresh = random_perturbation(torch.empty_like(x), eps, "L2", torch.Generator().manual_seed(0))
    assert fooled(start) <= 1
    assert fooled(fresh) >= 3
