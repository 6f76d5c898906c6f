"""The corruptions runner: accuracy per corruption and severity and the mean over the 75, derived from
per-image outcomes, deterministic to the bit, batched in chunks as the clean pass is."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from corruption_records import same_outcomes

from sam_bench.corruptions import catalogue
from sam_bench.corruptions.corruption_set import load_corruption_set
from sam_bench.data import STATS, to_float
from sam_bench.errors import BadInput
from sam_bench.evaluation import outcomes
from sam_bench.evaluation.corruption_runner import evaluate_corruptions, evaluation_entry
from sam_bench.models import create_model, make_spec

N = 48


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model(make_spec("preactresnet18", 10, *STATS["cifar10"], width=0.125)).eval()


@pytest.fixture(scope="module")
def sample_set():
    return load_corruption_set(catalogue.SAMPLE_GENERATED)


@pytest.fixture(scope="module")
def record(model, sample_set):
    return evaluate_corruptions(model, sample_set, n_examples=N, batch_size=16, chunk_size=32)


def test_every_corruption_and_severity_is_measured_and_the_mean_is_over_75(record, model, sample_set):
    assert set(record["accuracy"]) == set(catalogue.CORRUPTIONS)
    assert all(set(a) == {"1", "2", "3", "4", "5"} for a in record["accuracy"].values())
    flat = [a for by in record["accuracy"].values() for a in by.values()]
    assert record["mean_accuracy"] == pytest.approx(np.mean(flat))
    weather = [record["per_corruption"][c] for c in catalogue.FAMILIES["weather"]]
    assert record["families"]["weather"] == pytest.approx(np.mean(weather))
    # one figure checked against the model itself: fog at severity 3, images classified directly
    x = to_float(sample_set.images("fog", 3, 0, N))
    with torch.no_grad():
        direct = (model(x).argmax(1) == torch.from_numpy(sample_set.labels[:N])).numpy()
    assert np.array_equal(outcomes.decode(record["outcomes"]["fog"]["3"]), direct)
    assert record["accuracy"]["fog"]["3"] == pytest.approx(direct.mean())
    assert record["corruption_set"]["generated"] is True


def test_a_re_measurement_matches_bit_for_bit(record, model, sample_set):
    again = evaluate_corruptions(model, sample_set, n_examples=N, batch_size=16, chunk_size=32)
    assert same_outcomes(record, again) == []
    flipped = {**again, "outcomes": {**again["outcomes"], "fog": dict(again["outcomes"]["fog"])}}
    bits = outcomes.decode(again["outcomes"]["fog"]["3"]).copy()
    bits[5] = not bits[5]
    flipped["outcomes"]["fog"]["3"] = outcomes.encode(bits)
    assert same_outcomes(record, flipped) == [f"fog 3: 1 of {N} images"]


def test_a_selection_gives_no_mean_and_no_results_entry(model, sample_set):
    part = evaluate_corruptions(model, sample_set, n_examples=8, corruptions=("fog", "contrast"), severities=(5,))
    assert part["mean_accuracy"] is None and set(part["families"]) == {"weather", "digital"}
    with pytest.raises(BadInput, match="all 15 corruptions at all 5 severities"):
        evaluation_entry(part, np.ones(8, bool), sample_set.labels[:8], 10)


def test_the_results_entry_says_the_set_is_generated(record, sample_set):
    entry = evaluation_entry(record, np.ones(N, bool), sample_set.labels[:N], 10)
    assert entry["attack"] == "corruptions" and entry["eps"] is None and entry["norm"] == "corruptions"
    assert entry["robust_acc"] == record["mean_accuracy"] and entry["clean_acc"] == 1.0
    assert entry["settings"] == {"corruption_set": "cifar10-sample-c-generated", "seed": 0}
    assert entry["corruption_set"]["name"] == "cifar10-sample-c-generated"
    assert entry["corruption_set"]["generated"] is True


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"corruptions": ("speckle_noise",)}, "unknown corruption"),
        ({"severities": (6,)}, "severity must be one of"),
        ({"n_examples": 501}, "n_examples must be 1..500"),
        ({"batch_size": 0}, "batch size must be a positive integer"),
    ],
)
def test_bad_selections_are_one_line(model, sample_set, kwargs, message):
    with pytest.raises(BadInput, match=message):
        evaluate_corruptions(model, sample_set, **kwargs)


def test_a_generated_set_has_its_own_board_and_is_never_submitted(record):
    generated = record["corruption_set"]
    assert catalogue.board(generated) == "corruptions-generated"
    with pytest.raises(BadInput, match="cannot be submitted to RobustBench"):
        catalogue.check_submittable(generated)
    passed_off = {**generated, "generated": False}  # a record edited to look official keeps its name
    with pytest.raises(BadInput, match="cannot be submitted"):
        catalogue.check_submittable(passed_off)
    official = {"name": catalogue.OFFICIAL, "generated": False}
    assert catalogue.board(official) == "corruptions"
    catalogue.check_submittable(official)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from sam_bench.training.loop import TrainConfig, train

    out = tmp_path_factory.mktemp("corruptions") / "c10s_prn18_tiny"
    config = TrainConfig(
        arch="preactresnet18", width=0.125, epochs=1, n_train=128, batch_size=64, dataset="cifar10-sample", device="cpu"
    )
    train(config, out, progress=False)
    return out


def test_a_selection_is_measured_and_returned_but_makes_no_results_file(run_dir, tmp_path):
    from sam_bench.evaluation.corruption_runner import evaluate_model
    from sam_bench.evaluation.model_ref import load_model_ref

    out = tmp_path / "corruptions.json"
    record = evaluate_model(
        str(run_dir), out, catalogue.SAMPLE_GENERATED, n_examples=8, corruptions="fog,contrast", severities="5"
    )
    assert record["model"]["weights_sha256"] == load_model_ref(str(run_dir))[1].record["weights_sha256"]
    assert set(record["accuracy"]) == {"fog", "contrast"} and record["mean_accuracy"] is None
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"eps": "8/255"}, "corruptions take no eps"),
        ({"severities": "0"}, "severity must be one of"),
        ({"corruptions": "spatter"}, "unknown corruption 'spatter'"),
        ({"set_name": "cifar10-c"}, "needs the folder that holds CIFAR-10-C"),
    ],
)
def test_bad_input_writes_nothing(run_dir, tmp_path, kwargs, message):
    from sam_bench.evaluation.corruption_runner import evaluate_model

    out = tmp_path / "corruptions.json"
    with pytest.raises(BadInput, match=message):
        evaluate_model(str(run_dir), out, **{"set_name": catalogue.SAMPLE_GENERATED, **kwargs})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--threat-model", "corruptions", "--eps", "8/255"], "corruptions take no eps"),
        (["--threat-model", "corruptions", "--attack", "pgd"], "runs --attack corruptions, not --attack pgd"),
        (["--norm", "Linf", "--corruption-set", "cifar10-c"], "--corruption-set applies to --attack corruptions"),
    ],
)
def test_evaluate_refuses_a_budget_of_another_threat_model_in_one_line(run_dir, tmp_path, extra, message):
    from click.testing import CliRunner

    from sam_bench.cli import cli

    done = CliRunner().invoke(cli, ["evaluate", str(run_dir), "--out", str(tmp_path / "c.json"), *extra])
    assert done.exit_code != 0 and "Traceback" not in done.output
    assert message in done.output and list(tmp_path.iterdir()) == []
