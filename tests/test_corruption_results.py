"""A corruption evaluation written into the one results schema (eval-results.schema.json), resumed where a killed
one stopped, checked against its own per-image outcomes where it is read, and re-measured exactly."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from corruption_records import same_outcomes

from sam_bench import files
from sam_bench.cli import cli
from sam_bench.corruptions import catalogue
from sam_bench.corruptions.corruption_set import CorruptionSet, load_corruption_set
from sam_bench.errors import SamBenchError
from sam_bench.evaluation import corruption_outcomes, outcomes
from sam_bench.evaluation.chunk_state import ChunkState
from sam_bench.evaluation.corruption_runner import evaluate_corruptions
from sam_bench.evaluation.evaluate import EvaluationStopped
from sam_bench.evaluation.model_ref import load_model_ref
from sam_bench.evaluation.recheck import recheck_file
from sam_bench.evaluation.results_record import Results
from sam_bench.runtime import clock

N = 4


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from sam_bench.training.loop import TrainConfig, train

    out = tmp_path_factory.mktemp("corruption-results") / "c10s_prn18_tiny"
    config = TrainConfig(
        arch="preactresnet18", width=0.125, epochs=1, n_train=128, batch_size=64, dataset="cifar10-sample", device="cpu"
    )
    train(config, out, progress=False)
    return out


def _evaluate(run_dir, out):
    args = ["evaluate", str(run_dir), "--threat-model", "corruptions", "--corruption-set", catalogue.SAMPLE_GENERATED]
    return CliRunner().invoke(cli, [*args, "--n-examples", str(N), "--device", "cpu", "--out", str(out), "--quiet"])


@pytest.fixture(scope="module")
def killed_then_resumed(run_dir, tmp_path_factory):
    """`evaluate --threat-model corruptions` killed after its second chunk (the third set's images raise
    KeyboardInterrupt), then the same command again: (results path, the first output, the second, how many chunks
    the second made)."""
    out = tmp_path_factory.mktemp("killed") / "c.json"
    honest = CorruptionSet.images
    made, killed = [], []

    def killed_at_the_third(self, *args, **kwargs):
        made.append(args)
        if len(made) == 3 and not killed:
            killed.append(True)
            raise KeyboardInterrupt
        return honest(self, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(CorruptionSet, "images", killed_at_the_third)
        first = _evaluate(run_dir, out)
        kept = files.read_json(out.with_name("c.partial.json"))
        assert not out.exists() and len(kept["chunks"]) == 2
        made.clear()
        second = _evaluate(run_dir, out)
    return out, first, second, len(made)


def test_a_killed_evaluation_says_what_is_kept_and_the_same_command_continues(killed_then_resumed):
    out, first, second, made = killed_then_resumed
    assert first.exit_code == 1 and "finished chunks are kept in" in first.output
    assert "run the same command again to continue" in first.output and "Traceback" not in first.output
    assert second.exit_code == 0, second.output
    assert made == 75 - 2  # the two finished chunks are not made again
    assert not out.with_name("c.partial.json").exists()
    entry = Results.read(out).evaluation("corruptions", "corruptions")
    assert entry is not None and entry.chunks == {"size": 500, "count": 75, "resumed": 2, "batch_size": 250}
    assert "mean corruption accuracy" in second.output and "2 of 75 chunks resumed" in second.output


def test_the_resumed_outcomes_are_those_of_one_uninterrupted_pass(killed_then_resumed, run_dir):
    out, *_ = killed_then_resumed
    model, _ = load_model_ref(str(run_dir))
    whole = evaluate_corruptions(model, load_corruption_set(catalogue.SAMPLE_GENERATED), n_examples=N)
    entry = Results.read(out).evaluation("corruptions", "corruptions")
    assert entry is not None and same_outcomes(entry.corruption_outcomes, whole) == []


def test_the_results_file_is_of_the_one_schema_with_its_figures_from_its_outcomes(killed_then_resumed, run_dir):
    out, *_ = killed_then_resumed
    results = Results.read(out)  # the schema and the file's own evidence, as boards and reports read it
    assert results.schema == "sam-bench/eval-results/v1" and results.verified
    assert results.dataset.name == "cifar10-sample" and results.dataset.n_examples == N
    assert results.model.weights_sha256 == load_model_ref(str(run_dir))[1].record["weights_sha256"]
    entry = results.evaluation("corruptions", "corruptions")
    assert entry is not None and entry.norm == "corruptions" and entry.eps is None
    found = entry.corruption_outcomes
    flat = [outcomes.decode(found[c][str(s)]).mean() for c in catalogue.CORRUPTIONS for s in catalogue.SEVERITIES]
    assert entry.robust_acc == pytest.approx(np.mean(flat)) and entry.n_examples == N
    assert entry.breakdown == pytest.approx(corruption_outcomes.summary(found)["families"])
    assert entry.clean_acc == pytest.approx(outcomes.decode(results.clean_outcomes).mean())
    assert entry.corruption_set["generated"] is True and entry.corruption_set["name"] == catalogue.SAMPLE_GENERATED
    assert entry.settings == {"corruption_set": catalogue.SAMPLE_GENERATED, "seed": 0}
    asked = corruption_outcomes.figures(entry)
    assert asked is not None and asked["mean_accuracy"] == entry.robust_acc
    fog3 = outcomes.decode(found["fog"]["3"]).mean()
    assert asked["accuracy"]["fog"]["3"] == pytest.approx(fog3)
    assert asked["per_severity"]["3"] == pytest.approx(np.mean([outcomes.decode(found[c]["3"]).mean() for c in found]))
    assert asked["per_corruption"]["fog"] == pytest.approx(
        np.mean([outcomes.decode(r).mean() for r in found["fog"].values()])
    )


def _forged(path, tmp_path, edit) -> str:
    data = files.read_json(path)
    edit(data["evaluations"][0])
    forged = tmp_path / "forged.json"
    files.write_json(forged, data)
    with pytest.raises(SamBenchError) as refused:
        Results.read(forged)
    assert "\n" not in str(refused.value)
    return str(refused.value)


def test_an_edited_figure_or_outcome_is_refused_in_one_line(killed_then_resumed, tmp_path):
    out, *_ = killed_then_resumed

    def raised(entry):
        entry["robust_acc"] = min(1.0, entry["robust_acc"] + 0.05)

    def family(entry):
        entry["breakdown"]["noise"] = 0.99

    def flipped(entry):
        bits = outcomes.decode(entry["corruption_outcomes"]["fog"]["3"]).copy()
        bits[0] = not bits[0]
        entry["corruption_outcomes"]["fog"]["3"] = outcomes.encode(bits)

    def dropped(entry):
        del entry["corruption_outcomes"]["fog"]["3"]

    assert "mean its per-image outcomes give over the 75" in _forged(out, tmp_path, raised)
    assert "the noise family's accuracy is 0.99" in _forged(out, tmp_path, family)
    assert "mean its per-image outcomes give" in _forged(out, tmp_path, flipped)
    assert "all 15 corruptions at all 5 severities" in _forged(out, tmp_path, dropped)


def _differing(path) -> dict:
    """{evaluation: images that differ} of a recheck of the results file (every image measured again)."""
    return {c["evaluation"]: c["images_differing"] for c in recheck_file(path, progress=False)["evaluations"]}


def test_a_results_file_is_remeasured_exactly(killed_then_resumed, tmp_path):
    out, *_ = killed_then_resumed
    assert _differing(out) == {"clean": 0, f"corruptions on {catalogue.SAMPLE_GENERATED}": 0}
    data = files.read_json(out)
    entry = data["evaluations"][0]  # outcomes forged together with every figure they give: only the weights tell
    bits = outcomes.decode(entry["corruption_outcomes"]["glass_blur"]["5"]).copy()
    bits[3] = not bits[3]
    entry["corruption_outcomes"]["glass_blur"]["5"] = outcomes.encode(bits)
    figures = corruption_outcomes.summary(entry["corruption_outcomes"])
    entry["robust_acc"], entry["breakdown"] = figures["mean_accuracy"], figures["families"]
    forged = tmp_path / "forged.json"
    files.write_json(forged, data)
    assert _differing(forged)[f"corruptions on {catalogue.SAMPLE_GENERATED}"] == 1


def test_a_time_limit_stops_between_chunks_and_a_later_call_continues(run_dir, tmp_path, monkeypatch):
    model, _ = load_model_ref(str(run_dir))
    corruption_set = load_corruption_set(catalogue.SAMPLE_GENERATED)
    now = [0.0]
    honest = CorruptionSet.images

    def thirty_seconds_each(self, *args, **kwargs):  # each chunk's images take 30 s on the injected clock
        now[0] += 30.0
        return honest(self, *args, **kwargs)

    monkeypatch.setattr(clock, "now", lambda: now[0])
    monkeypatch.setattr(CorruptionSet, "images", thirty_seconds_each)
    state = ChunkState(tmp_path / "c.partial.json")
    selection = {"n_examples": 8, "chunk_size": 4, "corruptions": ("fog", "contrast"), "severities": (1, 2)}
    with pytest.raises(EvaluationStopped) as stopped:  # 3 chunks end by 90 s; a 4th would end at 120 s
        evaluate_corruptions(model, corruption_set, state=state, stop_at=100.0, **selection)
    assert (stopped.value.done, stopped.value.total) == (3, 8)
    later = evaluate_corruptions(model, corruption_set, state=ChunkState(tmp_path / "c.partial.json"), **selection)
    whole = evaluate_corruptions(model, corruption_set, **selection)
    assert later["chunks"]["resumed"] == 3 and same_outcomes(later, whole) == []


def test_an_edited_chunk_of_the_state_is_made_again(run_dir, tmp_path):
    model, _ = load_model_ref(str(run_dir))
    corruption_set = load_corruption_set(catalogue.SAMPLE_GENERATED)
    selection = {"n_examples": 8, "chunk_size": 4, "corruptions": ("fog",), "severities": (2,)}
    path = tmp_path / "c.partial.json"
    whole = evaluate_corruptions(model, corruption_set, state=ChunkState(path), **selection)
    kept = files.read_json(path)
    key = next(iter(kept["chunks"]))
    kept["chunks"][key]["correct"] = outcomes.encode(np.ones(3, bool), 0)  # 3 images for a chunk of 4
    files.write_json(path, kept)
    again = evaluate_corruptions(model, corruption_set, state=ChunkState(path), **selection)
    assert again["chunks"]["resumed"] == 1 and same_outcomes(again, whole) == []


def test_the_spot_check_measures_a_sample_of_the_75_again_and_refuses_forged_outcomes(
    killed_then_resumed, run_dir, tmp_path
):
    from sam_bench.evaluation import spot_check

    out, *_ = killed_then_resumed
    verdicts = spot_check.spot_check(out, seed=7)
    assert [v.evaluation for v in verdicts] == ["clean", f"corruptions on {catalogue.SAMPLE_GENERATED}"]
    assert verdicts[1].sampled > 0 and verdicts[1].refusal(str(out)) is None
    # a chunk resumed from an earlier process may have been made on another machine: the rate of other arithmetic
    assert verdicts[1].rule == "other arithmetic" and "chunks resumed from another process" in verdicts[1].why
    data = files.read_json(out)
    data["evaluations"][0]["chunks"]["resumed"] = 0  # said to be one process: held to the exact replay
    entry = data["evaluations"][0]  # one outcome flipped with every figure it gives: only the weights tell
    bits = outcomes.decode(entry["corruption_outcomes"]["snow"]["2"]).copy()
    bits[1] = not bits[1]
    entry["corruption_outcomes"]["snow"]["2"] = outcomes.encode(bits)
    figures = corruption_outcomes.summary(entry["corruption_outcomes"])
    entry["robust_acc"], entry["breakdown"] = figures["mean_accuracy"], figures["families"]
    forged = tmp_path / "forged.json"
    files.write_json(forged, data)
    with pytest.raises(SamBenchError, match="corruptions on cifar10-sample-c-generated: of .* sampled images"):
        spot_check.spot_check(forged, seed=7, every_image=True)


def test_a_file_at_out_that_is_not_this_evaluation_is_never_replaced(run_dir, tmp_path):
    from sam_bench.errors import BadInput
    from sam_bench.evaluation.corruption_runner import evaluate_model

    out = tmp_path / "c.json"
    files.write_json(out, {"notes": "mine"})
    with pytest.raises(BadInput, match="exists and is not a results file; choose another --out"):
        evaluate_model(str(run_dir), out, catalogue.SAMPLE_GENERATED, n_examples=N)
    assert files.read_json(out) == {"notes": "mine"} and sorted(p.name for p in tmp_path.iterdir()) == ["c.json"]


def test_verify_full_measures_every_image_of_the_75_again(killed_then_resumed):
    from sam_bench.evaluation.recheck import recheck_file

    out, *_ = killed_then_resumed
    found = recheck_file(out, progress=False)
    assert found["identical"] is True
    assert [e["evaluation"] for e in found["evaluations"]] == ["clean", f"corruptions on {catalogue.SAMPLE_GENERATED}"]
    assert found["evaluations"][1]["n"] == 75 * N and found["evaluations"][1]["images_differing"] == 0
