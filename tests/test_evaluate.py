"""sam_bench.evaluation.evaluate as a library: models of every kind, the results record, resume, bad input."""

import json
import shutil
from pathlib import Path

import pytest
import torch

import sam_bench
from sam_bench.data import load_dataset
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import evaluate as ev
from sam_bench.evaluation import results_file
from sam_bench.evaluation.evaluate import evaluate, robustbench_entry
from sam_bench.evaluation.model_ref import default_output, load_model_ref, weights_sha256
from sam_bench.evaluation.specs import AttackSpec, make_attacks
from sam_bench.training.loop import TrainConfig, train

SCHEMA = json.loads((Path(sam_bench.__file__).parent / "schemas" / "eval-results.schema.json").read_text())


def validate(results: dict) -> None:
    jsonschema = pytest.importorskip("jsonschema")  # a test dependency only
    jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker()).validate(results)
    json.dumps(results, allow_nan=False)  # plain JSON: no NaN or infinities
    results_file.check(results, "results")  # and what a leaderboard or report checks it against


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("evaluate") / "c10s_prn18_tiny"
    train(
        TrainConfig(
            arch="preactresnet18",
            width=0.125,
            epochs=1,
            n_train=256,
            batch_size=64,
            dataset="cifar10-sample",
            device="cpu",
        ),
        out,
        progress=False,
    )
    return out


@pytest.fixture(scope="module")
def sample():
    return load_dataset("cifar10-sample")


def dying_runner(chunk: int, calls: list, armed: list | None = None):
    """PGD's runner that counts its calls in `calls` and is interrupted (as by Ctrl-C) on call `chunk`,
    while `armed[0]` (always, without `armed`)."""

    def runner(*args, **kw):
        calls.append(1)
        if (armed is None or armed[0]) and len(calls) == chunk:
            raise KeyboardInterrupt
        return ev.RUNNERS["pgd"](*args, **kw)

    return runner


def test_schema_is_valid_json_schema():
    jsonschema = pytest.importorskip("jsonschema")
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.fixture
def short_apgd(monkeypatch):
    """APGD with 10 instead of 100 iterations: this file checks records, not attack strength."""
    import pyautoattack.autoattack as module

    apgd = module.APGDAttack
    monkeypatch.setattr(module, "APGDAttack", lambda *args, **kwargs: apgd(*args, **{**kwargs, "n_iter": 10}))


def test_results_of_a_run(run_dir, sample, short_apgd):
    model, info = load_model_ref(str(run_dir))
    meta = json.loads((run_dir / "metadata.json").read_text())
    assert info.dataset_name == "cifar10-sample"
    specs = (
        make_attacks("clean")
        + make_attacks("pgd", "Linf", ["0", "2/255"])
        + make_attacks("autoattack", "Linf", ["2/255"], version="custom", attacks=["apgd-ce"])
    )
    results = evaluate(model, sample, specs, n_examples=24, batch_size=24, model_info=info, progress=False)
    validate(results)
    assert results["model"]["kind"] == "run" and results["model"]["weights_sha256"] == meta["weights_sha256"]
    assert results["model"]["training"]["config"] == meta["config"]
    assert results["dataset"] == {
        "name": "cifar10-sample",
        "family": "cifar10",
        "split": "test",
        "n_examples": 24,
        "n_test_total": 500,
        "sha256": meta["dataset"]["sha256"],
    }
    clean, zero, pgd, aa = results["evaluations"]
    expected_clean = (
        (
            model(torch.from_numpy(sample.x_test[:24]).permute(0, 3, 1, 2).float() / 255).argmax(1)
            == torch.from_numpy(sample.y_test[:24])
        )
        .float()
        .mean()
        .item()
    )
    assert results["clean_acc"] == pytest.approx(expected_clean)
    assert clean["robust_acc"] == zero["robust_acc"] == results["clean_acc"]
    assert pgd["settings"]["step_size"] == pytest.approx(2 / 255 / 4)
    assert aa["breakdown"] == {"clean": results["clean_acc"], "apgd-ce": aa["robust_acc"]}
    assert results["robustbench"] is None  # not AutoAttack standard at 8/255
    # per-class accuracies average back to the whole (weighted by class counts)
    counts = torch.bincount(torch.from_numpy(sample.y_test[:24]), minlength=10)
    total = sum(a * int(c) for a, c in zip(pgd["per_class_robust_acc"], counts) if a is not None)
    assert total / 24 == pytest.approx(pgd["robust_acc"])
    assert [a is None for a in pgd["per_class_robust_acc"]] == [int(c) == 0 for c in counts]
    assert results["environment"]["torch_version"] == torch.__version__
    assert all(e["cpu_seconds"] > 0 for e in (pgd, aa))  # each attack's CPU time, beside its wall time


def test_an_attack_on_its_own_first_images(run_dir, sample, short_apgd, tmp_path):
    """AutoAttack on the first 10 of PGD's 24 images (a recipe's `autoattack: {n_examples: ...}`): its
    record covers exactly those images, the same ones as a whole evaluation of the first 10."""
    model, info = load_model_ref(str(run_dir))
    aa = make_attacks("autoattack", "Linf", ["2/255"], version="custom", attacks=["apgd-ce"])[0]
    aa.n_examples = 10
    specs = make_attacks("pgd", "Linf", ["2/255"]) + [aa]
    results = evaluate(
        model,
        sample,
        specs,
        n_examples=24,
        batch_size=8,
        chunk_size=8,
        model_info=info,
        progress=False,
        state_path=tmp_path / "state.json",
    )
    validate(results)
    pgd, attacked = results["evaluations"]
    assert (pgd["n_examples"], attacked["n_examples"]) == (24, 10)
    assert attacked["chunks"]["count"] == 2  # chunks of 8: 0-8 and 8-10
    alone = evaluate(
        model,
        sample,
        make_attacks("autoattack", "Linf", ["2/255"], version="custom", attacks=["apgd-ce"]),
        n_examples=10,
        batch_size=8,
        chunk_size=8,
        model_info=info,
        progress=False,
    )["evaluations"][0]
    for key in ("clean_acc", "robust_acc", "outcomes", "per_class_robust_acc"):
        assert attacked[key] == alone[key], key
    for bad in (0, 25, 2.5):
        aa.n_examples = bad
        with pytest.raises(BadInput, match="n_examples must be a whole number from 1 to the evaluation's 24"):
            evaluate(model, sample, specs, n_examples=24, model_info=info, progress=False)


def test_no_attack_is_the_clean_pass_alone(run_dir, sample):
    """With no attack an evaluation is its clean pass: a valid results record with no evaluations and no
    RobustBench block, whose clean outcomes are those the same images give beside an attack."""
    model, info = load_model_ref(str(run_dir))
    alone = evaluate(model, sample, [], n_examples=16, batch_size=8, model_info=info, progress=False)
    validate(alone)
    assert alone["evaluations"] == [] and alone["robustbench"] is None
    attacked = evaluate(
        model,
        sample,
        make_attacks("pgd", "Linf", ["1/255"]),
        n_examples=16,
        batch_size=8,
        model_info=info,
        progress=False,
    )
    for key in ("clean_acc", "clean_outcomes", "clean_prediction_counts"):
        assert alone[key] == attacked[key], key


def test_checkpoint_and_zoo_models(run_dir, sample, tmp_path):
    from sam_bench.zoo import store as zoo

    _, from_run = load_model_ref(str(run_dir))
    model, from_file = load_model_ref(str(run_dir / "model.safetensors"))
    assert from_file.record["kind"] == "checkpoint"
    assert from_file.record["weights_sha256"] == from_run.record["weights_sha256"]
    entry = zoo.add(run_dir, zoo_dir=tmp_path / "zoo", precision="fp32")
    zoo_model, from_zoo = load_model_ref(entry["id"], zoo_dir=tmp_path / "zoo")
    assert from_zoo.record["kind"] == "zoo" and from_zoo.record["zoo_id"] == entry["id"]
    assert from_zoo.record["weights_sha256"] == entry["weights_sha256"]
    assert from_zoo.dataset_name == "cifar10-sample" and not zoo_model.training
    # a zoo file passed as a path: its <ModelId>.json is the metadata
    stored = next((tmp_path / "zoo").glob("*/*/*.safetensors"))
    _, from_zoo_file = load_model_ref(str(stored))
    assert from_zoo_file.record["kind"] == "checkpoint"
    assert from_zoo_file.record["weights_sha256"] == entry["weights_sha256"]
    assert from_zoo_file.record["training"]["config"] == from_run.record["training"]["config"]


def test_tampered_or_unknown_models_are_refused(run_dir, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    meta = json.loads((copy / "metadata.json").read_text())
    meta["weights_sha256"] = "0" * 64
    (copy / "metadata.json").write_text(json.dumps(meta))
    for ref in (copy, copy / "model.safetensors"):
        with pytest.raises(SamBenchError, match="sha256 does not match"):
            load_model_ref(str(ref))
    lone = tmp_path / "lone" / "weights.safetensors"
    lone.parent.mkdir()
    shutil.copy(run_dir / "model.safetensors", lone)
    with pytest.raises(BadInput, match="metadata.json"):
        load_model_ref(str(lone))
    with pytest.raises(BadInput, match="no such checkpoint"):
        load_model_ref(str(tmp_path / "missing.safetensors"))
    with pytest.raises(SamBenchError, match="NoSuchModel2020X"):
        load_model_ref("NoSuchModel2020X", zoo_dir=tmp_path / "empty_zoo")


def test_bad_arguments(run_dir, sample):
    model, info = load_model_ref(str(run_dir))
    specs = make_attacks("clean")
    for n in (0, -1, 501):
        with pytest.raises(BadInput, match="--n-examples must be between 1 and 500"):
            evaluate(model, sample, specs, n_examples=n, progress=False)
    with pytest.raises(BadInput, match="100 classes"):
        evaluate(model, load_dataset("synthetic100"), specs, n_examples=4, progress=False)
    with pytest.raises(BadInput, match="precision"):
        evaluate(model, sample, specs, n_examples=4, precision="fp16", progress=False)


def test_make_attacks_defaults_and_validation():
    assert [s.eps for s in make_attacks("pgd", "Linf")] == [pytest.approx(8 / 255)]
    assert [s.eps for s in make_attacks("autoattack", "L2")] == [0.5]
    assert [s.eps for s in make_attacks("pgd", "Linf", ["1/255", "0.00392156862745098", "2/255"])] == [
        pytest.approx(1 / 255),
        pytest.approx(2 / 255),
    ]  # repeats dropped
    fixed = make_attacks("pgd", "L2", ["16/255", "32/255"], step_size="2/255", steps=5, restarts=2)
    assert [s.settings["step_size"] for s in fixed] == [pytest.approx(2 / 255)] * 2
    assert fixed[0].settings["steps"] == 5 and fixed[0].settings["restarts"] == 2
    assert make_attacks("autoattack", "Linf", ["8/255"], version="plus")[0].settings["attacks"][-1] == "fab-t"
    bad = [
        dict(attack="fgsm"),
        dict(attack="pgd", norm="L1"),
        dict(attack="pgd", eps=["abc"]),
        dict(attack="pgd", eps=["-1/255"]),
        dict(attack="pgd", steps=0),
        dict(attack="pgd", step_size="0"),
        dict(attack="autoattack", version="fast"),
        dict(attack="autoattack", version="custom"),
        dict(attack="autoattack", attacks=["apgd-ce"]),
        dict(attack="autoattack", version="custom", attacks=["apgd-xx"]),
    ]
    for kwargs in bad:
        with pytest.raises(BadInput):
            make_attacks(**kwargs)


def test_robustbench_fields_only_at_the_leaderboard_budget():
    def entry(attack="autoattack", norm="Linf", eps="8/255", version="standard"):
        return {
            "attack": attack,
            "norm": norm,
            "eps": eps,
            "settings": {"version": version},
            "clean_acc": 0.91234,
            "robust_acc": 0.45666,
            "n_examples": 10000,
        }

    assert robustbench_entry([entry()], 10000) == {
        "threat_model": "Linf",
        "eps": "8/255",
        "clean_acc": "91.23",
        "autoattack_acc": "45.67",
        "n_examples": 10000,
        "full_test_set": True,
    }
    assert robustbench_entry([entry(norm="L2", eps="0.5")], 20000)["full_test_set"] is False
    for other in (entry(eps="4/255"), entry(version="plus"), entry(attack="pgd"), entry(norm="L2")):
        assert robustbench_entry([other], 10000) is None


def test_interrupted_evaluation_resumes_where_it_stopped(run_dir, sample, tmp_path):
    model, info = load_model_ref(str(run_dir))
    specs = make_attacks("pgd", "Linf", ["4/255"], steps=3)
    kwargs = dict(n_examples=48, batch_size=16, chunk_size=16, model_info=info, progress=False)
    reference = evaluate(model, sample, specs, **kwargs)

    calls, armed = [], [True]
    dies_on_second_chunk = dying_runner(2, calls, armed)

    state = tmp_path / "state.json"
    interrupted = [AttackSpec(s.attack, s.norm, s.eps, s.settings, runner=dies_on_second_chunk) for s in specs]
    with pytest.raises(KeyboardInterrupt):
        evaluate(model, sample, interrupted, state_path=state, **kwargs)
    assert len(json.loads(state.read_text())["chunks"]) == 1

    calls.clear()
    armed[0] = False
    resumed = evaluate(model, sample, interrupted, state_path=state, **kwargs)
    assert len(calls) == 2  # only the two chunks that were not finished
    for key in ("clean_acc", "robust_acc", "per_class_robust_acc", "max_perturbation"):
        assert resumed["evaluations"][0][key] == reference["evaluations"][0][key]
    assert resumed["evaluations"][0]["chunks"] == {"size": 16, "count": 3, "resumed": 1, "batch_size": 16}
    # other settings never reuse these chunks
    calls.clear()
    armed[0] = True
    other = [
        AttackSpec(s.attack, s.norm, s.eps, {**s.settings, "steps": 4}, runner=dies_on_second_chunk) for s in specs
    ]
    with pytest.raises(KeyboardInterrupt):
        evaluate(model, sample, other, state_path=state, **kwargs)
    assert len(calls) == 2


def test_an_edited_partial_state_is_not_believed(run_dir, sample, tmp_path):
    """A chunk's robust count set to its clean count in the state file after an interruption
    changes nothing: the counts come from the chunks' per-image outcomes, and a chunk whose stored counts
    disagree with them is attacked again, the results saying so."""
    model, info = load_model_ref(str(run_dir))
    specs = make_attacks("pgd", "Linf", ["8/255"], steps=3)
    kwargs = dict(n_examples=48, batch_size=16, chunk_size=16, model_info=info, progress=False)
    reference = evaluate(model, sample, specs, **kwargs)
    assert reference["evaluations"][0]["robust_acc"] < reference["evaluations"][0]["clean_acc"]

    calls = []
    dies_on_third_chunk = dying_runner(3, calls)

    state = tmp_path / "results.json.partial"
    interrupted = [AttackSpec(s.attack, s.norm, s.eps, s.settings, runner=dies_on_third_chunk) for s in specs]
    with pytest.raises(KeyboardInterrupt):
        evaluate(model, sample, interrupted, state_path=state, **kwargs)
    stored = json.loads(state.read_text())
    edited = [c for c in stored["chunks"].values() if c["robust_correct"] < c["clean_correct"]]
    assert edited, "a chunk with an image the attack fooled, to edit"
    for chunk in edited:
        chunk["robust_correct"] = chunk["clean_correct"]  # the hand edit: every clean image "robust"
    state.write_text(json.dumps(stored))

    with pytest.warns(UserWarning, match="attacked again"):
        resumed = evaluate(model, sample, specs, state_path=state, **kwargs)
    for key in ("clean_acc", "robust_acc", "per_class_robust_acc", "outcomes"):
        assert resumed["evaluations"][0][key] == reference["evaluations"][0][key]
    assert any("an edited or damaged state file" in w for w in resumed["warnings"])


def test_bf16_is_flagged(run_dir, sample):
    model, info = load_model_ref(str(run_dir))
    with pytest.warns(UserWarning, match="bf16"):
        results = evaluate(
            model,
            sample,
            make_attacks("pgd", "Linf", ["2/255"], steps=2),
            n_examples=16,
            batch_size=16,
            precision="bf16",
            model_info=info,
            progress=False,
        )
    validate(results)
    assert results["precision"] == "bf16" and any("weaken" in w for w in results["warnings"])


def test_in_memory_model_gets_an_identity(run_dir, sample):
    model, _ = load_model_ref(str(run_dir))
    first = evaluate(model, sample, make_attacks("clean"), n_examples=8, progress=False)
    validate(first)
    assert first["model"]["kind"] == "module"
    assert first["model"]["weights_sha256"] == weights_sha256(model)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    assert weights_sha256(model) != first["model"]["weights_sha256"]


def test_default_output_names():
    expected = Path("results/c10_prn18_sam_0.1_pgd_Linf.json")
    assert default_output("runs/c10_prn18_sam_0.1/", "pgd", "Linf") == expected
    assert default_output("runs/x/model.safetensors", "autoattack", "L2", "out") == Path("out/x_autoattack_L2.json")
    assert default_output("SamBench2024SAM_rho0.1", "clean", None).name == "SamBench2024SAM_rho0.1_clean_none.json"


def test_a_time_limit_stops_between_chunks_and_the_next_call_continues(run_dir, sample, tmp_path, evaluation_clock):
    model, info = load_model_ref(str(run_dir))
    specs = make_attacks("pgd", "Linf", ["4/255"], steps=3)
    kwargs = dict(n_examples=48, batch_size=16, chunk_size=16, model_info=info, progress=False)
    reference = evaluate(model, sample, specs, **kwargs)

    evaluation_clock.per_pgd_image = 3.75  # a 16-image chunk of PGD takes "a minute" on evaluate's clock
    state = tmp_path / "state.json"
    # 3 minutes: the timed probe (2 of the chunk's 16 images) ends at 7.5 s, the first chunk at 67.5, the
    # second at 127.5; the third would end at 187.5 and does not start.
    with pytest.raises(ev.EvaluationStopped) as stopped:
        evaluate(model, sample, specs, state_path=state, stop_at=evaluation_clock.now + 180, **kwargs)
    assert (stopped.value.done, stopped.value.total) == (2, 3)
    assert len(json.loads(state.read_text())["chunks"]) == 2

    resumed = evaluate(model, sample, specs, state_path=state, stop_at=evaluation_clock.now + 190, **kwargs)
    assert resumed["evaluations"][0]["chunks"]["resumed"] == 2
    for key in ("clean_acc", "robust_acc", "per_class_robust_acc", "max_perturbation"):
        assert resumed["evaluations"][0][key] == reference["evaluations"][0][key]


@pytest.mark.parametrize(
    "seconds_left, done",
    [
        # The limit means "finished by": after the probe (7.5 s) and a one-minute chunk, 59 s left are not
        # enough for the next.
        (126, 1),
        # No rate is known for an attack's first chunk in a call: the timed probe says the chunk (here
        # "a minute") would end after the limit, so it does not start, and nothing is saved as done.
        (60, 0),
    ],
)
def test_a_chunk_expected_to_overrun_the_limit_does_not_start(
    run_dir, sample, tmp_path, evaluation_clock, seconds_left, done
):
    model, info = load_model_ref(str(run_dir))
    specs = make_attacks("pgd", "Linf", ["4/255"], steps=1)
    evaluation_clock.per_pgd_image = 3.75  # a 16-image chunk: a minute
    state = tmp_path / "s.json"
    with pytest.raises(ev.EvaluationStopped) as stopped:
        evaluate(
            model,
            sample,
            specs,
            n_examples=32,
            batch_size=16,
            chunk_size=16,
            model_info=info,
            progress=False,
            state_path=state,
            stop_at=evaluation_clock.now + seconds_left,
        )
    assert (stopped.value.done, stopped.value.total) == (done, 2)
    saved = json.loads(state.read_text())["chunks"] if state.exists() else {}
    assert len(saved) == done


def test_a_time_limit_bounds_the_clean_pass(run_dir, sample, tmp_path, evaluation_clock, monkeypatch):
    """`--max-minutes 0.05` ran a clean pass of 10,000 images for 14-26 s: the clean pass is chunked and bounded as
    the attacks are. Here every image classified costs 0.1 s on evaluate's clock, 50 images a chunk: with 12 s
    left, the timed batch (16 images, 1.6 s) and two chunks (10 s) fit, a third would end at 16.6 s."""
    honest_predict = ev.predict

    def timed_predict(model, x, *args, **kwargs):
        evaluation_clock.now += 0.1 * len(x)
        return honest_predict(model, x, *args, **kwargs)

    monkeypatch.setattr(ev, "predict", timed_predict)
    model, info = load_model_ref(str(run_dir))
    specs = make_attacks("pgd", "Linf", ["4/255"], steps=1)
    started = evaluation_clock.now
    with pytest.raises(ev.EvaluationStopped) as stopped:
        evaluate(
            model, sample, specs, n_examples=500, batch_size=16, chunk_size=50, model_info=info, progress=False,
            state_path=tmp_path / "s.json", stop_at=started + 12,
        )  # fmt: skip
    assert evaluation_clock.now <= started + 12
    assert "the clean pass on 400 images" in stopped.value.why


def test_past_the_limit_not_even_an_attacks_timed_probe_starts(run_dir, sample, tmp_path, evaluation_clock):
    """A grid goes on past a cell whose chunk did not fit (Reproduction.run): a cell reached at the limit must
    not spend time after it on the probe that sizes its first chunk."""
    model, info = load_model_ref(str(run_dir))
    specs = make_attacks("pgd", "Linf", ["4/255"], steps=1)
    evaluation_clock.per_pgd_image = 3.75
    started = evaluation_clock.now
    with pytest.raises(ev.EvaluationStopped) as stopped:
        evaluate(
            model, sample, specs, n_examples=32, batch_size=16, chunk_size=16, model_info=info, progress=False,
            state_path=tmp_path / "s.json", stop_at=started - 1,
        )  # fmt: skip
    assert (stopped.value.done, stopped.value.total) == (0, 2)
    assert evaluation_clock.now == started  # no PGD ran: the probe would have moved the clock on 7.5 s
