"""Every random draw of an evaluation's attack comes from the image's own CPU generator (sam_bench/attacks/draws.py): an
image's draws depend on neither its batch, nor the images beside it, nor the device, so a re-run of any sample of images
starts every image where the recorded run started it. PGD's starts and AutoAttack's APGD starts (handed to pyautoattack
as `x_init` through sam_bench.compat) are tested on subsets in other batches: the same points, bit for bit, where the
model's arithmetic does not depend on its batch; without per-image draws (results recorded before them) they differ,
which is what made a sample's re-run disagree with its file."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sam_bench.attacks import draws
from sam_bench.attacks.autoattack import autoattack
from sam_bench.data import to_float
from sam_bench.evaluation import attack_table
from sam_bench.evaluation.evaluate import evaluate
from sam_bench.evaluation.specs import make_attacks


@pytest.fixture(scope="module")
def images(sample):
    n = 64
    return to_float(sample.x_test[:n]), torch.from_numpy(np.asarray(sample.y_test[:n], np.int64))


class OneImageAtATime(torch.nn.Module):
    """A net run on each image alone, so that no arithmetic depends on the batch: on a CPU a batch of another size
    may run other kernels (a single image's convolution, a matrix product with another row count), which moves an
    adversarial example in its last bits; what the draws decide is then all that can differ."""

    def __init__(self, net: torch.nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.net(image[None]) for image in x])


def _subset(n: int, size: int, seed: int) -> np.ndarray:
    return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def test_new_evaluations_record_their_draws_scheme():
    assert attack_table.DRAWS == draws.SCHEME
    for spec in make_attacks("pgd", "Linf", ["2/255"]) + make_attacks("autoattack", "L2", ["0.5"]):
        assert spec.settings["draws"] == draws.SCHEME and draws.keyed(spec.settings)
    assert not draws.keyed({"seed": 0})  # results recorded before per-image draws


@pytest.mark.parametrize("norm, eps", [("Linf", 8 / 255), ("L2", 0.5)])
def test_an_images_pgd_start_is_its_own_whatever_its_batch(images, norm, eps):
    x, _ = images
    whole = draws.pgd_starts(x, eps, norm, seed=3)
    some = _subset(len(x), 11, 0)
    alone = draws.pgd_starts(x[some], eps, norm, seed=3)
    for restart in (0, 1):
        assert torch.equal(whole(restart)[some], alone(restart))
    assert not torch.equal(whole(0), whole(1))  # each restart its own start
    assert not torch.equal(whole(0), draws.pgd_starts(x, eps, norm, seed=4)(0))  # and each seed
    start = whole(0)
    size = start.abs().flatten(1).amax(1) if norm == "Linf" else start.flatten(1).norm(dim=1)
    assert (size <= eps + 1e-6).all() and (size > 0).all()


def test_an_images_apgd_starts_are_its_own_whatever_its_batch(images):
    from types import SimpleNamespace

    x, _ = images

    def normalize(t):
        return t / t.abs().flatten(1).amax(1).view(-1, 1, 1, 1)

    adversary = SimpleNamespace(norm="Linf", eps=4 / 255, normalize=normalize)
    some = _subset(len(x), 9, 1)
    whole, alone = draws.ApgdStarts(0), draws.ApgdStarts(0)
    for attack in ("apgd-ce", "apgd-t"):
        whole.begin(attack)
        alone.begin(attack)
        first, again = whole(adversary, x), whole(adversary, x)  # an image's second run of the attack draws anew
        assert torch.equal(first[some], alone(adversary, x[some])) and not torch.equal(first, again)
        assert torch.equal(again[some], alone(adversary, x[some]))


@pytest.mark.parametrize("version, attacks", [("custom", ["apgd-ce", "apgd-t"]), ("standard", None)])
def test_autoattack_on_a_subset_in_other_batches_finds_the_same_points(tiny_net, images, version, attacks):
    """With per-image draws a subset of the images, in batches of another size, is attacked from the same starts
    and ends at the same adversarial examples, bit for bit; pyautoattack's own batch-wide draws do not."""
    x, y = images[0][:32], images[1][:32]
    net = OneImageAtATime(tiny_net)
    some = _subset(len(x), 12, 2)
    found = {}
    for keyed in (True, False):
        options = {"eps": 4 / 255, "version": version, "attacks": attacks, "keyed_draws": keyed}
        whole = autoattack(net, x, y, batch_size=16, **options)
        part = autoattack(net, x[some], y[some], batch_size=7, **options)
        found[keyed] = torch.equal(whole.x_adv[some], part.x_adv)
        if keyed:
            assert (whole.fooled_at[some] == part.fooled_at).all()
            assert int((whole.fooled_at >= 0).sum()) == whole.breakdown["clean"]
    assert found == {True: True, False: False}


def test_pgd_evaluated_in_chunks_agrees_with_any_subset_in_other_batches(tiny_net, sample, images):
    """evaluate's PGD (chunks of 32, batches of 16) and the runner on a subset in one batch of 13: every image's
    outcome and adversarial example the same; the recorded settings name the draws."""
    from tqdm import tqdm

    spec = make_attacks("pgd", "Linf", ["4/255"], restarts=2)[0]
    results = evaluate(tiny_net, sample, [spec], n_examples=64, chunk_size=32, batch_size=16, progress=False)
    assert results["evaluations"][-1]["settings"]["draws"] == draws.SCHEME
    x, y = images
    some = _subset(len(x), 13, 3)
    with tqdm(disable=True) as bar:
        whole = attack_table.RUNNERS["pgd"](tiny_net, x, y, spec, batch_size=16, bar=bar).x_adv
        part = attack_table.RUNNERS["pgd"](tiny_net, x[some], y[some], spec, batch_size=13, bar=bar).x_adv
    assert torch.equal(whole[some], part)
    from sam_bench.evaluation import outcomes

    recorded = outcomes.decode(results["evaluations"][-1]["outcomes"])
    with torch.no_grad():
        assert (recorded[some] == (tiny_net(part).argmax(1) == y[some]).numpy()).all()
