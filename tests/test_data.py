import numpy as np
import pytest
import torch

from sam_bench.data import DeviceLoader, augment, draw_augmentation, load_dataset, load_npz, synthetic_dataset
from sam_bench.errors import BadInput


def test_bundled_sample_is_real_balanced_cifar10():
    d = load_dataset("cifar10-sample")
    assert d.x_train.shape == (1500, 32, 32, 3) and d.x_test.shape == (500, 32, 32, 3)
    assert d.x_train.dtype == np.uint8 and d.num_classes == 10 and d.family == "cifar10"
    assert np.bincount(d.y_train).tolist() == [150] * 10
    assert d.x_train.std() > 40  # natural images, not a blank mosaic
    assert d.fingerprint() == load_dataset("cifar10-sample").fingerprint()


def test_npz_cifar100_with_synthetic_arrays(tmp_path):
    s = synthetic_dataset(num_classes=100, n_train=300, n_test=200)
    np.savez(tmp_path / "cifar100.npz", x_train=s.x_train, y_train=s.y_train, x_test=s.x_test, y_test=s.y_test)
    d = load_dataset("cifar100", tmp_path)
    assert d.num_classes == 100 and d.mean == (0.5071, 0.4865, 0.4409)
    assert (d.x_test == s.x_test).all() and (d.y_train == s.y_train).all()
    # the file itself can be passed as well
    assert load_dataset("cifar100", tmp_path / "cifar100.npz").fingerprint() == d.fingerprint()


def test_cifar100_from_torchvision_folder(tmp_path, monkeypatch):
    # torchvision's own folder format, written here; the md5 check against the official release
    # cannot pass for made-up files, so only that check is bypassed.
    import pickle

    from torchvision import datasets

    s = synthetic_dataset(num_classes=100, n_train=100, n_test=50)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for split, x, y in (("train", s.x_train, s.y_train), ("test", s.x_test, s.y_test)):
        with open(folder / split, "wb") as f:
            pickle.dump({"data": x.transpose(0, 3, 1, 2).reshape(len(x), -1), "fine_labels": y.tolist()}, f)
    with open(folder / "meta", "wb") as f:
        pickle.dump({"fine_label_names": [f"c{i}" for i in range(100)]}, f)
    monkeypatch.setattr(datasets.cifar, "check_integrity", lambda *args: True)
    d = load_dataset("cifar100", tmp_path, download=False)
    assert d.num_classes == 100 and (d.x_train == s.x_train).all() and (d.y_test == s.y_test).all()


def test_missing_dataset_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.delenv("SAM_BENCH_DATA", raising=False)
    with pytest.raises(BadInput, match="cifar10.npz .*--data-dir"):
        load_dataset("cifar10", None)
    with pytest.raises(BadInput, match="cifar-100-python"):
        load_dataset("cifar100", tmp_path, download=False)


def test_bad_npz_and_unknown_name(tmp_path):
    np.savez(tmp_path / "x.npz", x_train=np.zeros((2, 32, 32, 3), np.uint8))
    with pytest.raises(BadInput, match=r"no array y_train, x_test, y_test; need .* \(it has x_train\)"):
        load_npz(tmp_path / "x.npz", "cifar10")
    np.savez(
        tmp_path / "y.npz",
        x_train=np.zeros((2, 32, 32, 3), np.float32),
        y_train=np.zeros(2),
        x_test=np.zeros((2, 32, 32, 3), np.uint8),
        y_test=np.zeros(2),
    )
    with pytest.raises(BadInput, match="uint8"):
        load_npz(tmp_path / "y.npz", "cifar10")
    with pytest.raises(BadInput, match="unknown dataset"):
        load_dataset("mnist")


def test_augment_is_crop_of_reflect_padded_image_and_flip():
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    out = augment(x, draw_augmentation(64, torch.Generator().manual_seed(0)))
    assert out.shape == (64, 3, 32, 32) and out.dtype == torch.float32
    padded = torch.nn.functional.pad(x.float(), (4, 4, 4, 4), mode="reflect")
    flips = 0
    for i in range(64):
        candidates = [padded[i, :, dy : dy + 32, dx : dx + 32] for dy in range(9) for dx in range(9)]
        plain = any(torch.equal(out[i], c) for c in candidates)
        flipped = any(torch.equal(out[i], c.flip(2)) for c in candidates)
        assert plain or flipped
        flips += flipped and not plain
    assert 10 < flips < 54  # about half are flipped


def test_loader_is_deterministic_per_epoch_and_in_unit_range():
    d = synthetic_dataset(n_train=100, n_test=30)
    loader = DeviceLoader(d.x_train, d.y_train, 32, "cpu", train=True, seed=3)
    a = [x for x, _ in loader.epoch(1)]
    b = [x for x, _ in loader.epoch(1)]
    c = [x for x, _ in loader.epoch(2)]
    assert len(a) == 3 and all(torch.equal(p, q) for p, q in zip(a, b))
    assert not torch.equal(a[0], c[0])
    assert 0 <= min(x.min() for x in a) and max(x.max() for x in a) <= 1
    test = DeviceLoader(d.x_test, d.y_test, 16, "cpu", train=False)
    ys = torch.cat([y for _, y in test.epoch()])
    assert torch.equal(ys, torch.from_numpy(d.y_test))  # the test split in order, nothing dropped


def test_truncated_corrupted_or_foreign_npz_is_one_clear_error(tmp_path):
    s = synthetic_dataset(n_train=64, n_test=16)
    np.savez_compressed(tmp_path / "good.npz", x_train=s.x_train, y_train=s.y_train, x_test=s.x_test, y_test=s.y_test)
    whole = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "foreign.npz").write_bytes(b"\x80\x04 not an archive" * 100)
    damaged = bytearray(whole)
    damaged[len(whole) // 4 : len(whole) // 4 + 64] = bytes(64)  # inside the first array's data
    (tmp_path / "damaged.npz").write_bytes(bytes(damaged))
    for name, message in (
        ("truncated", "not an .npz archive"),
        ("foreign", "not an .npz archive"),
        ("damaged", "a damaged .npz archive"),
    ):
        with pytest.raises(BadInput, match=message):
            load_npz(tmp_path / f"{name}.npz", "cifar10")


def test_a_missing_data_dir_is_not_created(tmp_path):
    with pytest.raises(BadInput, match="does not exist"):
        load_dataset("cifar10", tmp_path / "typo")
    assert not (tmp_path / "typo").exists()


def test_the_fixed_data_sets_fingerprints_are_their_arrays(tmp_path):
    """data.FINGERPRINTS: the bundled sample's from the sample itself; CIFAR-10's from every committed results file
    evaluated on it and, where the packed data set is beside the checkout, from its arrays."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from sam_bench.data import FINGERPRINTS

    sample = load_dataset("cifar10-sample")
    assert (sample.fingerprint(), len(sample.y_test)) == FINGERPRINTS["cifar10-sample"]
    root = Path(__file__).resolve().parents[1]
    recorded = {
        json.loads(p.read_text())["dataset"]["sha256"]
        for p in root.glob("reproductions/*/results/*.json")
        if json.loads(p.read_text())["dataset"]["name"] == "cifar10"
    }
    assert recorded == {FINGERPRINTS["cifar10"][0]}
    unpack = root.parent / "shared" / "tools" / "cifar10_unpack.py"
    if not unpack.is_file():
        pytest.skip("the packed CIFAR-10 is not beside this checkout")
    npz = tmp_path / "cifar10.npz"
    subprocess.run([sys.executable, str(unpack), str(npz)], check=True, capture_output=True)
    cifar10 = load_dataset("cifar10", str(npz))
    assert (cifar10.fingerprint(), len(cifar10.y_test)) == FINGERPRINTS["cifar10"]


def test_cifar10_not_found_suggests_the_bundled_sample(monkeypatch):
    from sam_bench.data import load_dataset

    monkeypatch.delenv("SAM_BENCH_DATA", raising=False)
    with pytest.raises(BadInput, match="cifar10 not found.*--dataset cifar10-sample"):
        load_dataset("cifar10")
