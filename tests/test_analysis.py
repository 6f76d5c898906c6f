"""`sam-bench analyze`'s measures against what they should be on models whose answer is known, and
the record: schema, cache, resume, one line for bad input."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import sam_bench
from sam_bench.analysis import fourier_heatmap as fourier
from sam_bench.analysis import frequency_reliance as frequency
from sam_bench.analysis import gradients, record, sharpness
from sam_bench.cli import cli
from sam_bench.data import synthetic_dataset

SCHEMA = json.loads((Path(sam_bench.__file__).parent / "schemas" / "analysis.schema.json").read_text())


def validate(path: Path) -> dict:
    data = json.loads(Path(path).read_text())
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(data)
    return data


class Tiny(torch.nn.Module):
    """A small net with BatchNorm (in eval mode its running statistics are constants)."""

    def __init__(self, inputs=6, hidden=4, classes=3):
        super().__init__()
        self.fc1 = torch.nn.Linear(inputs, hidden)
        self.bn = torch.nn.BatchNorm1d(hidden)
        self.fc2 = torch.nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc2(torch.tanh(self.bn(self.fc1(x.flatten(1)))))


def tiny_problem(seed=0):
    torch.manual_seed(seed)
    model = Tiny().double()
    model.bn.running_mean.uniform_(-0.5, 0.5)
    model.bn.running_var.uniform_(0.5, 2)
    x = torch.randn(16, 6, dtype=torch.float64)
    y = torch.randint(0, 3, (16,))
    return model.eval(), x, y


def explicit_hessian(model, x, y):
    names = [n for n, _ in model.named_parameters()]
    shapes = [p.shape for _, p in model.named_parameters()]
    flat = torch.cat([p.detach().flatten() for p in model.parameters()])
    loss = sharpness.loss_function(model, x, y)

    def of_flat(v):
        params, at = {}, 0
        for name, shape in zip(names, shapes):
            params[name] = v[at : at + shape.numel()].view(shape)
            at += shape.numel()
        return loss(params)

    return torch.autograd.functional.hessian(of_flat, flat)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_eigenvalue_matches_the_explicit_hessian(seed):
    model, x, y = tiny_problem(seed)
    eigenvalues = torch.linalg.eigvalsh(explicit_hessian(model, x, y))
    largest = eigenvalues[eigenvalues.abs().argmax()].item()
    found = sharpness.top_eigenvalue(model, x, y, iterations=500, tolerance=1e-10)
    assert found["top_eigenvalue"] == pytest.approx(largest, rel=1e-4)


def test_hessian_vector_products_in_both_modes_agree():
    model, x, y = tiny_problem()
    hvp, w = sharpness.hvp_function(model, x, y)
    v = {k: torch.randn_like(t) for k, t in w.items()}
    flat = torch.cat([v[k].flatten() for k in w])
    expected = explicit_hessian(model, x, y) @ flat
    got = torch.cat([t.flatten() for t in hvp(v).values()])
    assert torch.allclose(got, expected, atol=1e-10)


def test_sam_sharpness_is_the_loss_at_sams_ascent_point():
    model, x, y = tiny_problem()
    found = sharpness.sam_sharpness(model, x, y, rho=0.05, steps=5)
    loss = sharpness.loss_function(model, x, y)
    w = {n: p.detach() for n, p in model.named_parameters()}
    g = torch.func.grad(loss)(w)
    norm = torch.sqrt(sum((t**2).sum() for t in g.values()))
    expected = loss({k: w[k] + 0.05 * g[k] / norm for k in w}) - loss(w)
    assert found["sam_one_step"] == pytest.approx(float(expected), rel=1e-9)
    assert found["loss"] == pytest.approx(float(loss(w)))
    assert found["sam_multi_step"] >= found["sam_one_step"] > 0  # the stronger ascent finds at least as much


def test_sharpness_refuses_training_mode():
    model, x, y = tiny_problem()
    with pytest.raises(ValueError, match="eval mode"):
        sharpness.sam_sharpness(model.train(), x, y, 0.1, 1)


def test_batch_interval_is_a_t_interval():
    found = sharpness.batch_interval([1.0, 2.0, 3.0, 4.0])
    assert found["mean"] == 2.5
    half = 3.182446305284263 * np.std([1, 2, 3, 4], ddof=1) / 2  # t(0.975, 3)
    assert found["low"] == pytest.approx(2.5 - half) and found["high"] == pytest.approx(2.5 + half)


def test_fourier_bases_are_real_unit_images_one_per_conjugate_pair():
    size = 8
    pairs = fourier.frequencies(size)
    assert len(pairs) == (size * size + 4) // 2  # four frequencies are their own partners
    for i, j in pairs:
        u = fourier.basis(i, j, size)
        assert torch.linalg.vector_norm(u).item() == pytest.approx(1.0, abs=1e-6)
        spectrum = torch.fft.fft2(u.double()).abs()
        assert (spectrum > 1e-6).sum() in (1, 2) and spectrum[i % size, j % size] > 1e-6
    grid = fourier.heat_map({f"{i},{j}": (i * 7 + j) % 5 for i, j in pairs}, 5, size)
    assert not np.isnan(grid).any()
    half = size // 2
    for i, j in pairs:  # the map is symmetric about the centre
        a, b = (-i + half) % size - half, (-j + half) % size - half
        assert grid[i + half, j + half] == grid[a + half, b + half]


def test_fourier_errors_count_the_perturbed_images_misclassified():
    class Threshold(torch.nn.Module):  # class 1 when channel 0's top-left pixel is above 0.5
        def forward(self, x):
            return torch.stack([0.5 - x[:, 0, 0, 0], x[:, 0, 0, 0] - 0.5], 1)

    x = torch.full((6, 3, 8, 8), 0.4)
    x[:3, :, 0, 0] = 0.9
    y = torch.tensor([1, 1, 1, 0, 0, 0])
    # Frequency (0, 0) of an 8 x 8 image is the constant 1/8: norm 2 moves every pixel by +-0.25,
    # which turns 0.4 into class 1 (wrong) with a + sign and leaves 0.9 in class 1 either way.
    signs = torch.randint(0, 2, (6, 3, 1, 1), generator=torch.Generator().manual_seed(7)) * 2 - 1
    expected = int((signs[3:, 0] > 0).sum())
    assert fourier.errors_at(Threshold(), x, y, 0, 0, norm=2.0, seed=7, batch_size=4) == expected
    assert fourier.errors_at(Threshold(), x, y, 0, 0, norm=0.0, seed=7, batch_size=4) == 0


def test_low_and_high_pass_split_the_spectrum():
    torch.manual_seed(0)
    x = 0.5 + 0.05 * torch.randn(2, 3, 16, 16)  # small enough that no filtered pixel is clipped
    mean = x.mean((2, 3), keepdim=True).expand_as(x)
    assert torch.allclose(frequency.filtered(x, 100, "low"), x, atol=1e-6)  # every frequency kept
    assert torch.allclose(frequency.filtered(x, 0.5, "low"), mean, atol=1e-6)  # only the constant
    assert torch.allclose(frequency.filtered(x, 100, "high"), mean, atol=1e-6)  # nothing but the constant
    low, high = frequency.filtered(x, 3, "low"), frequency.filtered(x, 3, "high")
    assert torch.allclose(low + high - mean, x, atol=1e-6)  # the two halves make the image
    assert not torch.allclose(low, x, atol=1e-3) and not torch.allclose(high, mean, atol=1e-3)


class GradientIsTheImage(torch.nn.Module):
    """Logit 0 is c ||x - mean||^2 / 2 (gradient: c times the centred image), the others 0; c small
    enough that p(0 | x) stays below 1 in float32 (d log p / dx = (1 - p) * gradient of the logit)."""

    def forward(self, x):
        energy = 0.5e-3 * ((x - x.mean(dim=(2, 3), keepdim=True)) ** 2).flatten(1).sum(1)
        return torch.stack([energy] + [torch.zeros_like(energy)] * 9, 1)


def test_alignment_is_one_for_the_image_and_higher_than_for_a_random_model():
    torch.manual_seed(0)
    data = synthetic_dataset(n_train=8, n_test=16)
    x = torch.from_numpy(data.x_test).permute(0, 3, 1, 2).float() / 255
    y = torch.zeros(len(x), dtype=torch.int64)
    image_model = gradients.alignment(gradients.input_gradients(GradientIsTheImage(), x, y, 5), x)
    assert torch.allclose(image_model, torch.ones_like(image_model), atol=1e-5)
    cos = gradients.cosine(gradients.input_gradients(GradientIsTheImage(), x, y, 5), x)
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-5)
    random_model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, 10))
    random_scores = gradients.alignment(gradients.input_gradients(random_model, x, y, 5), x)
    assert (image_model > random_scores + 0.2).all()


def conv_model(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, stride=4),
        torch.nn.BatchNorm2d(4),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 8 * 8, 10),
    ).eval()


SMALL = dict(
    train_images=12,
    sharpness_batch=4,
    power_iterations=3,
    ascent_steps=2,
    fourier_images=3,
    filter_images=10,
    gradient_images=6,
    grid_images=2,
)


def test_record_validates_is_reused_and_resumes(tmp_path, monkeypatch):
    data = synthetic_dataset(n_train=64, n_test=32)
    settings = record.Settings(**SMALL)
    calls = {"sharpness": 0}
    real = sharpness.sam_sharpness

    def counted(*args, **kwargs):
        calls["sharpness"] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(sharpness, "sam_sharpness", counted)
    real_errors = fourier.errors_at
    seen = {"n": 0}

    def interrupted(*args, **kwargs):
        seen["n"] += 1
        if seen["n"] == 40:
            raise KeyboardInterrupt
        return real_errors(*args, **kwargs)

    monkeypatch.setattr(fourier, "errors_at", interrupted)
    with pytest.raises(KeyboardInterrupt):
        record.analyze(conv_model(), data, settings, tmp_path, "m", progress=False)
    assert calls["sharpness"] == 3  # three batches done before the interruption, and saved
    partial = json.loads((tmp_path / "m.partial.json").read_text())
    assert len(partial["parts"]["fourier"]["wrong"]) == 32  # saved every 32 frequencies

    monkeypatch.setattr(fourier, "errors_at", real_errors)
    first, reused = record.analyze(conv_model(), data, settings, tmp_path, "m", progress=False)
    assert not reused and calls["sharpness"] == 3  # the saved batches were not measured again
    assert not (tmp_path / "m.partial.json").exists()
    validate(tmp_path / "m.json")
    assert (tmp_path / "m_fourier.png").is_file()
    # the heat map's rows are one line each in the file: a record is a third smaller than indented number by number
    text = (tmp_path / "m.json").read_text()
    assert sum(line.strip().startswith("[") and line.rstrip(",").endswith("]") for line in text.splitlines()) >= 32
    assert json.loads(text) == json.loads(json.dumps(first))
    assert len(first["sharpness"]["batches"]) == 3 and len(first["images"]["train_indices"]) == 12
    assert np.array(first["fourier"]["heat_map"]).shape == (32, 32)
    assert 0 < first["gradients"]["random_alignment"] < 1  # noise's spectrum overlaps any image's a little

    # An uninterrupted analysis gives the same numbers.
    fresh, _ = record.analyze(conv_model(), data, settings, tmp_path / "fresh", "m", progress=False)
    assert fresh["sharpness"]["batches"][0]["top_eigenvalue"] == first["sharpness"]["batches"][0]["top_eigenvalue"]
    assert fresh["fourier"]["heat_map"] == first["fourier"]["heat_map"]
    for part in ("clean", "low_pass", "high_pass"):
        assert fresh["frequency"][part] == first["frequency"][part]
    assert fresh["gradients"]["per_image"] == first["gradients"]["per_image"]

    again, reused = record.analyze(conv_model(), data, settings, tmp_path, "m", progress=False)
    assert reused and again == first
    _, reused = record.analyze(conv_model(seed=1), data, settings, tmp_path, "m", progress=False)
    assert not reused  # other weights: measured again
    loaded, arrays = record.load(tmp_path, "m")
    assert arrays["gradient_maps"].shape == (2, 3, 32, 32) and arrays["grid_images"].shape == (2, 32, 32, 3)


def test_cli_defaults_are_the_settings_defaults():
    from sam_bench.cli.analyze import analyze_command

    defaults = record.Settings()
    for option in analyze_command.params:
        name = option.name.replace("-", "_")
        if hasattr(defaults, name) and name not in ("measures", "cutoffs"):
            assert option.default == getattr(defaults, name), name


@pytest.fixture(scope="module")
def zoo_sample():
    return "SamBench2026Standard_PRN18-w0.25_sample"


def test_analyze_command_on_a_zoo_model(tmp_path, zoo_sample):
    args = ["--train-images", "8", "--sharpness-batch", "4", "--power-iterations", "2", "--ascent-steps", "1"]
    args += ["--fourier-images", "2", "--filter-images", "20", "--gradient-images", "8", "--quiet"]
    result = CliRunner().invoke(cli, ["analyze", zoo_sample, "--out", str(tmp_path), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    data = validate(tmp_path / f"{zoo_sample}.json")
    assert data["model"]["zoo_id"] == zoo_sample and data["dataset"]["name"] == "cifar10-sample"
    assert (tmp_path / "input_gradients.png").is_file()
    again = CliRunner().invoke(cli, ["analyze", zoo_sample, "--out", str(tmp_path), *args], catch_exceptions=False)
    assert "(reused)" in again.output and "input gradients of 1 model(s)" in again.output
    # one more model analysed alone into the same folder joins the grid instead of replacing it
    other = "SamBench2026SAM_PRN18-w0.25_rho0.1_sample"
    more = CliRunner().invoke(cli, ["analyze", other, "--out", str(tmp_path), *args], catch_exceptions=False)
    assert more.exit_code == 0 and "input gradients of 2 model(s)" in more.output, more.output


@pytest.mark.parametrize(
    "args, message",
    [
        (["--measures", "sharpness,colour"], "unknown measure 'colour'"),
        (["--cutoffs", "2,x"], "--cutoffs"),
        (["--train-images", "0"], "--train-images must be >= 1"),
        (["--fourier-images", "100000"], "--fourier-images 100000"),
        (["--measures", "gradients", "--gradient-images", "4"], "--gradient-images must be at least 8"),
    ],
)
def test_bad_input_is_one_line(args, message, zoo_sample, tmp_path):
    result = CliRunner().invoke(cli, ["analyze", zoo_sample, "--out", str(tmp_path), *args, "--quiet"])
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("Error: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_measure_not_asked_for_does_not_check_its_images(zoo_sample, tmp_path):
    # the default --filter-images (1,000) is more than the sample's 500 test images: only frequency draws them
    args = [
        "analyze",
        zoo_sample,
        "--out",
        str(tmp_path),
        "--measures",
        "gradients",
        "--gradient-images",
        "8",
        "--quiet",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    refused = CliRunner().invoke(cli, [*args[:4], "--measures", "frequency", "--quiet"])
    assert refused.exit_code == 2 and "--filter-images 1000: cifar10-sample has 500 test images" in refused.stderr


def test_the_gradient_grid_shows_one_model_per_training_configuration():
    """Twenty seeds of one recipe would draw the same row twenty times (megabytes of PNG): the first of each
    configuration is shown; a seed or a runtime setting does not make another, a rho does."""
    from sam_bench.cli.analyze import one_per_configuration

    def analysed(name, **config):
        base = {"method": "sam", "rho": 0.1, "seed": 1, "device": "cpu", "data_dir": "/a"}
        return name, {"gradient_maps": name}, {"model": {"training": {"config": base | config}}}

    rows = one_per_configuration(
        [
            analysed("SAM-0.1-seed1"),
            analysed("SAM-0.1-seed2", seed=2, data_dir="/b"),
            analysed("SAM-0.2-seed1", rho=0.2),
            ("a-checkpoint", {"gradient_maps": 0}, {"model": {}}),
        ]
    )
    assert [name for name, _ in rows] == ["SAM-0.1-seed1", "SAM-0.2-seed1", "a-checkpoint"]


def test_flat_number_lists_keep_the_content_and_leave_other_lists_alone(tmp_path):
    from sam_bench import files

    obj = {"map": [[0.25, -1e-05, 3], [None, 2.5e10, 0]], "names": ["[1, 2]", "a"], "mixed": [1, "b"], "empty": []}
    files.write_json(tmp_path / "r.json", obj, flat_number_lists=True)
    text = (tmp_path / "r.json").read_text()
    assert json.loads(text) == obj
    assert "[0.25, -1e-05, 3]" in text and "[null, 25000000000.0, 0]" in text
    assert '"[1, 2]"' in text and '\n    "b"' in text  # strings and mixed lists as json.dumps indents them
