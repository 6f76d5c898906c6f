"""Evaluation sized for calls with a time limit, tested on a CPU: a robust model's evaluation advances
chunk by chunk across calls with a tight limit (the timed probe costs a small share of a chunk); AutoAttack
takes smaller chunks on a GPU; the global switches a training sets do not reach an evaluation after it; the
attacks search in torch's default math and every outcome is scored again in true fp32, which decides it."""

import json
import subprocess
import sys

import pytest
import torch
from tiny_training import tiny

from sam_bench.evaluation import evaluate as ev
from sam_bench.evaluation.batching import CPU_CHUNK, chunk_size_for
from sam_bench.evaluation.evaluate import evaluate
from sam_bench.evaluation.model_ref import load_model_ref
from sam_bench.evaluation.runners import AttackOutput
from sam_bench.evaluation.specs import make_attacks
from sam_bench.runtime import math_mode
from sam_bench.training import loop
from sam_bench.training.loop import train


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("window") / "run"
    train(tiny(method="standard", epochs=1), out, progress=False)
    return out


def three_chunks(run_dir, sample) -> tuple:
    """(model, attacks, evaluate's options, the results without a time limit) of a PGD evaluation of 96 images
    in three chunks, each as large as its batch (as on a GPU)."""
    model, info = load_model_ref(str(run_dir))
    specs = make_attacks("pgd", "Linf", ["8/255"], steps=2)
    kwargs = dict(n_examples=96, batch_size=32, chunk_size=32, model_info=info, progress=False)
    return model, specs, kwargs, evaluate(model, sample, specs, **kwargs)


def test_a_slow_evaluation_advances_a_chunk_in_every_tight_stint(run_dir, sample, tmp_path, evaluation_clock):
    """A chunk as large as its batch (as on a GPU) that barely fits a call's time limit: a probe as long as
    the chunk left no room for it, in every call, and the evaluation never moved; a probe on an eighth of it does."""
    model, specs, kwargs, reference = three_chunks(run_dir, sample)
    evaluation_clock.per_pgd_image = 1.0  # a chunk: 32 s; its probe: 4 images, 4 s
    state = tmp_path / "state.json"
    done = []
    for _ in range(3):
        evaluation_clock.new_command()
        try:  # a call with 40 s: the probe and one chunk (36 s) fit, a second chunk does not
            results = evaluate(model, sample, specs, state_path=state, stop_at=evaluation_clock.now + 40, **kwargs)
        except ev.EvaluationStopped as stopped:
            done.append(stopped.done)
    assert done == [1, 2]  # one chunk more in every call, and the third finished
    assert results["evaluations"][0]["chunks"]["resumed"] == 2
    assert results["evaluations"][0]["outcomes"] == reference["evaluations"][0]["outcomes"]


def test_a_chunk_left_waiting_keeps_its_probe_for_the_next_call_on_the_same_device(
    run_dir, sample, tmp_path, evaluation_clock
):
    """On a GPU the timed probe of an AutoAttack chunk costs a good part of the chunk (few images keep a GPU no
    less busy), and a call that cannot afford the chunk has timed it for nothing; the next call takes the
    stored estimate where the probe ran on the same device, and times the chunk again on another. The results
    say what the probes took (their seconds are not in any chunk's)."""
    model, specs, kwargs, reference = three_chunks(run_dir, sample)
    evaluation_clock.per_pgd_image = 1.0  # a chunk: 32 s; its probe: 4 images, 4 s
    state = tmp_path / "state.json"

    def call_with(seconds: float) -> float:
        """A call with `seconds` to spend: the seconds its attacks took."""
        evaluation_clock.new_command()
        started = evaluation_clock.now
        try:
            evaluate(model, sample, specs, state_path=state, stop_at=started + seconds, **kwargs)
        except ev.EvaluationStopped as stopped:
            assert stopped.done == 0
        return evaluation_clock.now - started

    assert call_with(20) == 4  # the probe, then the chunk (32 s) does not fit in the 16 s left
    (probe,) = json.loads(state.read_text())["probes"].values()
    assert probe["images"] == 4 and probe["seconds"] == 4
    assert call_with(20) == 0  # the stored estimate: nothing attacked to time it again
    stored = json.loads(state.read_text())
    (key,) = stored["probes"]
    stored["probes"][key]["where"] = "another device"
    state.write_text(json.dumps(stored))
    assert call_with(20) == 4  # timed again: the stored probe ran elsewhere
    evaluation_clock.new_command()
    started = evaluation_clock.now
    results = evaluate(model, sample, specs, state_path=state, stop_at=started + 100, **kwargs)
    assert evaluation_clock.now - started == 3 * 32  # the three chunks on the stored estimate, no probe before them
    (evaluation,) = results["evaluations"]
    assert evaluation["chunks"]["probe_seconds"] == 4  # the probe this device's estimate came from
    assert evaluation["outcomes"] == reference["evaluations"][0]["outcomes"]  # no probe changes a number


def test_autoattack_takes_smaller_chunks_on_a_gpu():
    cuda = torch.device("cuda")
    assert chunk_size_for(cuda, 10_000, 1, "autoattack") == 1000
    assert chunk_size_for(cuda, 10_000, 1, "pgd") == chunk_size_for(cuda, 10_000) == 2000
    assert chunk_size_for(cuda, 600, 1, "autoattack") == 600
    cpu = torch.device("cpu")  # a CPU's chunks stay as they were: CPU results stay comparable
    assert chunk_size_for(cpu, 10_000, 1, "autoattack") == chunk_size_for(cpu, 10_000, 1, "pgd") == CPU_CHUNK


def test_a_training_puts_back_the_switches_it_sets(monkeypatch, tmp_path):
    """On a GPU training turns cuDNN's autotuner on; an evaluation after it in the same process must start
    from the state it found (here an epoch sets the switches, as a GPU training would)."""
    honest = loop.train_one_epoch

    def epoch_that_sets_switches(*args, **kwargs):
        torch.backends.cudnn.benchmark = True
        return honest(*args, **kwargs)

    monkeypatch.setattr(loop, "train_one_epoch", epoch_that_sets_switches)
    before = (torch.backends.cudnn.benchmark, math_mode.current())
    with math_mode.ieee_fp32():
        inside = math_mode.current()
        train(tiny(method="standard", epochs=1), tmp_path / "run", progress=False)
        assert (torch.backends.cudnn.benchmark, math_mode.current()) == (before[0], inside)
    assert (torch.backends.cudnn.benchmark, math_mode.current()) == before


def test_an_evaluation_runs_without_autotuning_and_restores_it(run_dir, sample):
    seen = []

    def spy(model, x, y, spec, batch_size, bar):
        seen.append(torch.backends.cudnn.benchmark)
        bar.update(len(x))
        return AttackOutput(x)

    specs = make_attacks("pgd", "Linf", ["2/255"], steps=1)
    specs[0].runner = spy
    model, info = load_model_ref(str(run_dir))
    saved = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True  # as a training in the same process leaves it
    try:
        evaluate(model, sample, specs, n_examples=16, model_info=info, progress=False)
        assert seen == [False] and torch.backends.cudnn.benchmark is True
    finally:
        torch.backends.cudnn.benchmark = saved


EVALUATE_RUN = """
import json, sys, torch
from sam_bench.data import load_dataset
from sam_bench.evaluation.evaluate import evaluate
from sam_bench.evaluation.model_ref import load_model_ref
from sam_bench.evaluation.specs import make_attacks
torch.set_num_threads(1)
model, info = load_model_ref(sys.argv[1])
results = evaluate(model, load_dataset("cifar10-sample"), make_attacks("pgd", "Linf", ["2/255"], steps=3),
                   n_examples=64, model_info=info, progress=False)
print(json.dumps([results["clean_outcomes"], results["evaluations"][0]["outcomes"]]))
"""


def test_an_evaluation_after_a_training_equals_one_in_a_fresh_process(tmp_path, sample):
    torch.set_num_threads(1)
    train(tiny(method="sam", epochs=1), tmp_path / "run", progress=False)  # in this process
    model, info = load_model_ref(str(tmp_path / "run"))
    here = evaluate(
        model, sample, make_attacks("pgd", "Linf", ["2/255"], steps=3), n_examples=64, model_info=info, progress=False
    )
    fresh = subprocess.run(
        [sys.executable, "-c", EVALUATE_RUN, str(tmp_path / "run")], capture_output=True, text=True, check=True
    )
    assert json.loads(fresh.stdout) == [here["clean_outcomes"], here["evaluations"][0]["outcomes"]]


class FlipsInTheSearch(torch.nn.Module):
    """A model whose prediction of every image flips to a wrong class while TF32 convolutions are on:
    what a rounding difference between the search's math and the scoring's does to a borderline image."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        logits = self.net(x)
        if math_mode.current()["cudnn_conv"] == "tf32":
            return logits.roll(1, dims=1)
        return logits


@pytest.mark.parametrize("search_math", ["tf32", "ieee"])
def test_the_strict_re_scoring_decides_the_outcome(tiny_net, sample, search_math):
    def claims_every_image_falls(model, x, y, spec, batch_size, bar):
        # the search's own verdict, in the search's math: what the attack reports
        with torch.no_grad():
            reported = model(x).argmax(1) == y
        bar.update(len(x))
        return AttackOutput(x, reported_correct=reported)

    specs = make_attacks("pgd", "Linf", ["2/255"], steps=1)
    specs[0].runner = claims_every_image_falls
    model = FlipsInTheSearch(tiny_net).eval()
    results = evaluate(model, sample, specs, n_examples=64, progress=False, search_math=search_math)
    evaluation = results["evaluations"][0]
    # the images come back unchanged: scored in true fp32 they are exactly as correct as on the clean pass
    assert evaluation["robust_acc"] == evaluation["clean_acc"] == results["clean_acc"] > 0
    assert results["search_math_mode"]["search"] == search_math
    assert results["math_mode"] == {"cudnn_conv": "ieee", "cuda_matmul": "ieee"}
    if search_math == "tf32":  # the search saw other predictions, and its count is not what is recorded
        assert results["search_math_mode"]["cudnn_conv"] == "tf32"
        assert evaluation["attack_reported_acc"] < evaluation["robust_acc"]
        assert any("re-scoring its adversarial examples counts" in w for w in results["warnings"])
    else:
        assert evaluation["attack_reported_acc"] == evaluation["robust_acc"]


def test_a_timed_probe_that_cannot_fit_in_the_time_left_is_not_started(run_dir, sample, tmp_path, evaluation_clock):
    """`--max-minutes 0.1` ran 97 s: the first chunk's timed probe started with no check but "not past the limit
    yet". A probe is estimated before it starts (its images x the attack's forward passes on an image it cannot
    fool x one forward pass's seconds per image, from the clean pass) and does not start where it cannot fit."""
    model, specs, kwargs, _ = three_chunks(run_dir, sample)  # PGD-2: 7 forward passes an image; a probe: 4 images
    evaluation_clock.per_clean_image = 0.25  # the clean pass of 96 images: 24 s; the probe estimated at 4 x 7 x 0.25
    evaluation_clock.per_pgd_image = 1.0
    evaluation_clock.new_command()
    started = evaluation_clock.now
    with pytest.raises(ev.EvaluationStopped) as stopped:
        evaluate(model, sample, specs, state_path=tmp_path / "s.json", stop_at=started + 24 + 6.5, **kwargs)
    assert evaluation_clock.now == started + 24  # the clean pass only: 6.5 s left, the probe needs up to 7
    assert (stopped.value.done, stopped.value.total) == (0, 3)
    # the chunk at the probe's estimated rate (7 s / 4 images x 32 = 56 s) after it: 24 + 7 + 56 s = 1.45 minutes
    assert stopped.value.why == (
        "pgd Linf 8/255 on 32 images, estimated at up to 1.1 minutes (its timed probe first) with 0.1 left"
    )
    assert stopped.value.limit_minutes == 1.5
    evaluation_clock.new_command()
    started = evaluation_clock.now
    with pytest.raises(ev.EvaluationStopped) as stopped:  # 7 s left: the probe (4 s) runs, the chunk does not fit
        evaluate(model, sample, specs, state_path=tmp_path / "s.json", stop_at=started + 24 + 7, **kwargs)
    assert evaluation_clock.now == started + 24 + 4
    assert stopped.value.why == "pgd Linf 8/255 on 32 images, estimated at 0.5 minutes with 0.1 left"
    assert stopped.value.limit_minutes == 1.0  # the clean pass and the chunk (24 + 32 s); the probe is stored


def test_a_limit_too_short_for_the_next_chunk_says_which_limit_lets_it_run(run_dir, tmp_path, evaluation_clock):
    """With a limit shorter than one chunk, `evaluate` stopped at once in every call ("0 of 1 chunks done ... run
    the same command again") and never said what the chunk needs: it says the estimate and the smallest
    --max-minutes that lets the chunk run, and that limit does."""
    from click.testing import CliRunner

    from sam_bench.cli import cli

    evaluation_clock.per_clean_image = 0.25  # 32 images: 8 s
    evaluation_clock.per_pgd_image = 1.0  # the chunk: 32 s; its probe, 4 images: 4 s (estimated at up to 7 s)
    args = ["evaluate", str(run_dir), "--attack", "pgd", "--steps", "2", "--eps", "8/255", "--n-examples", "32"]
    args += ["--chunk-size", "32", "--batch-size", "32", "--dataset", "cifar10-sample", "--quiet"]
    args += ["--out", str(tmp_path / "r.json")]

    def call(max_minutes: str) -> tuple[str, float]:
        evaluation_clock.new_command()
        started = evaluation_clock.now
        r = CliRunner().invoke(cli, [*args, "--max-minutes", max_minutes])
        assert r.exit_code == 0 and "Traceback" not in r.output, r.output
        return r.output, evaluation_clock.now - started

    said, spent = call("0.15")  # past the limit after the clean pass: not even the probe starts
    assert spent == 8
    assert (
        "stopped, time limit reached with 0 of 1 chunks done; the next chunk, pgd Linf 8/255 on 32 images, "
        "estimated at up to 1.1 minutes (its timed probe first) with 0.0 left: --max-minutes 1.2 or more lets it "
        "run; run it again with such a limit to continue" in said
    ), said
    said, spent = call("0.4")  # the probe fits; the chunk after it does not
    assert spent == 8 + 4
    expected = (
        "the next chunk, pgd Linf 8/255 on 32 images, estimated at 0.5 minutes with {left} left: --max-minutes 0.7 "
        "or more lets it run; run it again with such a limit to continue"
    )
    assert expected.format(left=0.2) in said, said
    said, spent = call("0.4")  # again: at once, on the stored probe (16 s left), and saying so again
    assert spent == 8 and expected.format(left=0.3) in said, said
    said, spent = call("0.7")  # the limit it named
    assert spent == 8 + 32 and f"wrote {tmp_path / 'r.json'}" in said, said
