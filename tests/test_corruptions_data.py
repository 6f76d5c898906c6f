"""CIFAR-10-C data: the catalogue, the generator (deterministic, Hendrycks and Dietterich's parameters), the
official files in RobustBench's layout and what is refused there."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from sam_bench.corruptions import catalogue, generate, official
from sam_bench.corruptions.corruption_set import load_corruption_set
from sam_bench.data import load_dataset
from sam_bench.errors import BadInput


@pytest.fixture(scope="module")
def sample():
    return load_dataset("cifar10-sample")


def test_catalogue_is_robustbenchs_fifteen_in_four_families():
    assert len(catalogue.CORRUPTIONS) == 15
    members = [c for family in catalogue.FAMILIES.values() for c in family]
    assert sorted(members) == sorted(catalogue.CORRUPTIONS)
    assert catalogue.parse_selection("fog,contrast", "1,5") == (("fog", "contrast"), (1, 5))


@pytest.mark.parametrize("bad", ["speckle_noise", "Fog", ""])
def test_unknown_corruption_is_one_line(bad):
    with pytest.raises(BadInput, match="unknown corruption"):
        catalogue.parse_selection(bad or ",", None)


@pytest.mark.parametrize("bad", [0, 6, "2.5", True, "x", -1])
def test_unknown_severity_is_one_line(bad):
    with pytest.raises(BadInput, match="severity must be one of 1, 2, 3, 4, 5"):
        catalogue.check_severity(bad)


def test_unknown_set_is_one_line():
    with pytest.raises(BadInput, match="unknown corruption set"):
        load_corruption_set("cifar10-c-made-up")


@pytest.mark.parametrize("corruption", catalogue.CORRUPTIONS)
def test_every_corruption_is_deterministic_whatever_the_slicing_and_stronger_at_5(sample, corruption):
    x = sample.x_test[:40]
    once = generate.corrupt(x, corruption, 3, seed=1)
    assert once.dtype == np.uint8 and once.shape == x.shape
    assert np.array_equal(once, generate.corrupt(x, corruption, 3, seed=1))
    # images 10..39 alone, as a later chunk: the same pixels as in the whole
    assert np.array_equal(once[10:], generate.corrupt(x[10:], corruption, 3, seed=1, start=10))
    assert not np.array_equal(once, x)
    if corruption not in ("elastic_transform",):  # theirs: the largest affine warp is at severity 1
        mild = np.abs(generate.corrupt(x, corruption, 1).astype(int) - x).mean()
        strong = np.abs(generate.corrupt(x, corruption, 5).astype(int) - x).mean()
        assert strong > mild


def test_draws_follow_the_seed_and_the_image_index(sample):
    x = sample.x_test[:20]
    a = generate.corrupt(x, "gaussian_noise", 2, seed=0)
    assert not np.array_equal(a, generate.corrupt(x, "gaussian_noise", 2, seed=1))
    assert not np.array_equal(a[:10], generate.corrupt(x[:10], "gaussian_noise", 2, seed=0, start=10))


def test_parameters_are_theirs(sample):
    x = sample.x_test[:200]
    f = x.astype(np.float64) / 255
    # contrast: (x - per-channel mean) * c + mean, truncated to uint8
    means = f.mean(axis=(1, 2), keepdims=True)
    expected = (np.clip((f - means) * 0.15 + means, 0, 1) * 255).astype(np.uint8)
    assert np.array_equal(generate.corrupt(x, "contrast", 5), expected)
    # gaussian noise: sd 0.10 at severity 5 (where no pixel is clipped)
    noise = generate.corrupt(x, "gaussian_noise", 5).astype(float) / 255 - f
    inside = (f > 0.4) & (f < 0.6)
    assert abs(noise[inside].std() - 0.10) < 0.005
    # impulse noise: 7% of values at 0 or 255 (the rest keep theirs)
    changed = generate.corrupt(x, "impulse_noise", 5) != x
    assert 0.06 < changed.mean() < 0.075
    # brightness: HSV value + 0.3 keeps hue and saturation: a grey pixel stays grey
    grey = np.full((1, 32, 32, 3), 100, np.uint8)
    assert np.all(generate.corrupt(grey, "brightness", 5) == int((100 / 255 + 0.3) * 255))


def test_sample_set_records_that_it_is_generated(sample):
    s = load_corruption_set(catalogue.SAMPLE_GENERATED)
    assert len(s) == 500 and np.array_equal(s.labels, sample.y_test)
    record = s.describe()
    assert record["generated"] is True and record["generator"] == generate.GENERATOR and record["seed"] == 0
    assert record["clean_sha256"] == sample.fingerprint()
    assert np.array_equal(s.images("fog", 2, 100, 110), s.images("fog", 2)[100:110])


def _npz(tmp_path, sample, n=8):
    path = tmp_path / "cifar10.npz"
    np.savez(
        path, x_train=sample.x_train[:8], y_train=sample.y_train[:8], x_test=sample.x_test[:n], y_test=sample.y_test[:n]
    )
    return path


def _as_published(folder, monkeypatch):
    """The files in `folder` taken for the released ones: their md5 put in place of the published (the released
    CIFAR-10-C is 2.7 GB, and these tests are of the checks after the fingerprints)."""
    md5 = {path.stem: hashlib.md5(path.read_bytes()).hexdigest() for path in folder.glob("*.npy")}
    monkeypatch.setattr(official, "PUBLISHED_MD5", md5)


def _official(tmp_path, sample, n=8, shape=None, labels=None, monkeypatch=None):
    folder = tmp_path / "rb" / official.FOLDER
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for c in catalogue.CORRUPTIONS:
        np.save(folder / f"{c}.npy", rng.integers(0, 256, size=shape or (5 * n, 32, 32, 3), dtype=np.uint8))
    np.save(folder / "labels.npy", np.tile(sample.y_test[:n], 5).astype(np.uint8) if labels is None else labels)
    if monkeypatch is not None:
        _as_published(folder, monkeypatch)
    return folder.parent


def test_official_files_are_read_in_robustbenchs_layout(tmp_path, sample, monkeypatch):
    npz, rb = _npz(tmp_path, sample), _official(tmp_path, sample, monkeypatch=monkeypatch)
    s = load_corruption_set(catalogue.OFFICIAL, npz, rb)
    assert not s.generated and len(s) == 8
    written = np.load(rb / official.FOLDER / "fog.npy")
    assert np.array_equal(s.images("fog", 3), written[16:24])
    assert s.describe()["files_sha256"]["fog"] == official.file_sha256(rb / official.FOLDER, "fog")


def test_official_file_of_the_wrong_shape_is_refused(tmp_path, sample, monkeypatch):
    s = load_corruption_set(
        catalogue.OFFICIAL,
        _npz(tmp_path, sample),
        _official(tmp_path, sample, shape=(40, 32, 32, 1), monkeypatch=monkeypatch),
    )
    with pytest.raises(BadInput, match=r"fog\.npy: uint8 \(40, 32, 32, 1\), expected uint8 \(40, 32, 32, 3\)"):
        s.images("fog", 1)


def test_official_labels_that_are_not_the_test_labels_are_refused(tmp_path, sample, monkeypatch):
    labels = np.tile(sample.y_test[:8], 5).astype(np.uint8)
    labels[20] = (labels[20] + 1) % 10
    with pytest.raises(BadInput, match="severity 3's labels are not the CIFAR-10 test labels"):
        load_corruption_set(
            catalogue.OFFICIAL,
            _npz(tmp_path, sample),
            _official(tmp_path, sample, labels=labels, monkeypatch=monkeypatch),
        )
    (tmp_path / "short").mkdir()
    short = _official(tmp_path / "short", sample, labels=labels[:39], monkeypatch=monkeypatch)
    with pytest.raises(BadInput, match="labels.npy: shape"):
        load_corruption_set(catalogue.OFFICIAL, _npz(tmp_path / "short", sample), short)


def test_missing_official_files_name_the_layout(tmp_path, sample):
    with pytest.raises(BadInput, match="CIFAR-10-C in RobustBench's layout"):
        load_corruption_set(catalogue.OFFICIAL, _npz(tmp_path, sample), tmp_path / "nowhere")
    with pytest.raises(BadInput, match="needs the folder that holds CIFAR-10-C"):
        load_corruption_set(catalogue.OFFICIAL, _npz(tmp_path, sample))


def test_a_generated_set_cannot_pass_as_official(tmp_path, sample, monkeypatch):
    npz = _npz(tmp_path, sample)
    generated = load_corruption_set(catalogue.GENERATED, npz)
    folder = generated.write_layout(tmp_path / "rb")
    assert (folder / official.MARKER).is_file() and np.load(folder / "fog.npy").shape == (40, 32, 32, 3)
    with pytest.raises(BadInput, match="holds a generated set"):
        load_corruption_set(catalogue.OFFICIAL, npz, tmp_path / "rb")
    (folder / official.MARKER).unlink()  # the marker removed: its files are not the released ones
    with pytest.raises(BadInput, match=r"labels\.npy: not the released CIFAR-10-C file \(md5"):
        load_corruption_set(catalogue.OFFICIAL, npz, tmp_path / "rb")
    _as_published(folder, monkeypatch)  # and were they published, the images themselves give it away
    s = load_corruption_set(catalogue.OFFICIAL, npz, tmp_path / "rb")
    with pytest.raises(BadInput, match="sam-bench's generated ones"):
        s.images("glass_blur", 2)
    with pytest.raises(BadInput, match="read only as cifar10-c"):
        load_corruption_set(catalogue.GENERATED, npz, tmp_path / "rb")


def test_a_stand_in_of_clean_images_is_not_the_official_set(tmp_path, sample, monkeypatch):
    """Clean test images saved under the corruptions' names ranked on the official board as CIFAR-10-C (corrupted
    accuracy = clean accuracy): every file is held to the md5 published for the released one before it is used."""
    npz = _npz(tmp_path, sample)
    folder = tmp_path / "rb" / official.FOLDER
    folder.mkdir(parents=True)
    for c in catalogue.CORRUPTIONS:
        np.save(folder / f"{c}.npy", np.concatenate([sample.x_test[:8]] * 5))
    np.save(folder / "labels.npy", np.tile(sample.y_test[:8], 5).astype(np.uint8))
    with pytest.raises(BadInput, match=r"labels\.npy: not the released CIFAR-10-C file \(md5 [0-9a-f]{32}, the publ"):
        load_corruption_set(catalogue.OFFICIAL, npz, tmp_path / "rb")
    labels_md5 = hashlib.md5((folder / "labels.npy").read_bytes()).hexdigest()
    monkeypatch.setitem(official.PUBLISHED_MD5, "labels", labels_md5)  # were the labels the released ones
    s = load_corruption_set(catalogue.OFFICIAL, npz, tmp_path / "rb")
    with pytest.raises(BadInput, match=r"fog\.npy: not the released CIFAR-10-C file"):  # the images are not
        s.images("fog", 1)


def test_every_file_read_has_its_published_fingerprint():
    assert set(official.PUBLISHED_MD5) == {*catalogue.CORRUPTIONS, "labels"}
    assert all(len(md5) == 32 and int(md5, 16) >= 0 for md5 in official.PUBLISHED_MD5.values())
