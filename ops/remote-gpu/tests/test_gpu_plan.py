"""gpu_plan.py: the GPU windows' plan in numbers. The plan in WINDOWS.md and the sentence in README.md beside
it are the command's output, never typed; every window's calls fit in its 15 minutes,
each stint sized as the relay sizes it; the work is done in the queue's order."""

from __future__ import annotations

import json
import math
import re
import statistics
from collections import Counter
from pathlib import Path

import pytest

from sam_bench.bench import marked_block
from sam_bench.bench.probe import read
from sam_bench.bench.probe_choice import choose

ROOT = Path(__file__).resolve().parents[3]
OPS = ROOT / "ops" / "remote-gpu"

import gpu_attack_minutes  # noqa: E402
import gpu_costs  # noqa: E402
import gpu_lanes  # noqa: E402
import gpu_plan  # noqa: E402
import gpu_schedule  # noqa: E402
import gpu_state  # noqa: E402
import gpu_window  # noqa: E402


def test_the_docs_hold_the_commands_output():
    # as `python ops/remote-gpu/gpu_plan.py --write` renders them: at the committed probe's measurements
    rendered = gpu_plan.rendered_from(
        str(gpu_plan.DOCS_PROBE.relative_to(gpu_plan.ROOT)),
        state=str(gpu_plan.DOCS_STATE.relative_to(gpu_plan.ROOT)),
        also_at=gpu_plan.DOCS_ALSO_AT,
        arrangement_probe=gpu_plan.docs_arrangement(),
    )
    for path, (start, end, which) in gpu_plan.MARKERS.items():
        assert marked_block.between(path, start, end) == rendered[which].strip(), (
            f"{path} is not ops/remote-gpu/gpu_plan.py's output: run python ops/remote-gpu/gpu_plan.py --write"
        )


def test_the_estimated_step_follows_its_derivation():
    # the review's ST: about 2.7 ms a step (209 launches, 2.2 ms of GPU work); AT's launches grow per attack step
    assert gpu_costs.step_ms("standard", None) == pytest.approx(2.7)
    assert gpu_costs.step_ms("sam", None) == pytest.approx(624 * 0.010 + 0.5)
    assert gpu_costs.step_ms("at", 10) == pytest.approx((209 + 1710) * 0.010 + 0.5)
    assert gpu_costs.step_ms("at", 5) < gpu_costs.step_ms("at", 10)


@pytest.mark.parametrize("windows", [1, 2, 4, None])
def test_every_window_fits_and_the_queue_goes_in_order(windows):
    models = gpu_costs.model_costs(["ST", "SAM-0.1", "AT-Linf-8", "SAM-0.4"])
    result = gpu_schedule.plan(models, windows)
    finished_before: list[str] = []
    for calls, finished in result:
        assert sum(c.minutes for c in calls) <= gpu_window.WINDOW + 1e-9
        stints = [c for c in calls if c.what.startswith("`start`")]
        assert len(stints) == 1  # one stint in the background takes what the data (and tests) leave
        left = gpu_window.WINDOW - sum(c.minutes for c in calls if c is not stints[0])
        assert stints[0].minutes == pytest.approx(
            2 * gpu_window.GAP
            + gpu_window.background_minutes(left)
            + gpu_window.PACK
            + (gpu_window.BATCHES - 1) * gpu_window.SEND
        )
        assert finished[: len(finished_before)] == finished_before  # nothing undone, in order
        assert finished == ["ST", "SAM-0.1", "AT-Linf-8", "SAM-0.4"][: len(finished)]
        finished_before = finished
    total = sum(m.train + m.evaluate for m in gpu_costs.model_costs(["ST", "SAM-0.1", "AT-Linf-8", "SAM-0.4"]))
    done = sum(m.done_train + m.done_evaluate for m in models)
    assert done <= total + 1e-9
    if windows is None:  # as many windows as the four take, and not one more
        assert all(m.finished for m in models) and len(result[-2][1]) < 4
        assert len(result) == len(gpu_schedule.plan(gpu_costs.model_costs(["ST", "SAM-0.1", "AT-Linf-8", "SAM-0.4"])))


def test_a_window_of_other_minutes_fits_its_calls_and_a_longer_one_never_finishes_later(capsys):
    queue = ["ST", "SAM-0.1", "AT-Linf-8", "SAM-0.4"]
    needed = {}
    for window in (gpu_window.WINDOW, 22.5, 30.0):
        result = gpu_schedule.plan(gpu_costs.model_costs(queue), None, window)
        for calls, _ in result:
            assert sum(c.minutes for c in calls) <= window + 1e-9
            assert sum(1 for c in calls if c.stint) == 1
        needed[window] = {name: next(i for i, (_, f) in enumerate(result, 1) if name in f) for name in queue}
    for name in queue:
        assert needed[30.0][name] <= needed[22.5][name] <= needed[gpu_window.WINDOW][name]
    assert needed[30.0]["AT-Linf-8"] < needed[gpu_window.WINDOW]["AT-Linf-8"]  # the longer window does more
    # the docs' sentence beside today's plan is that longer window's count, not a second plan's text
    _, summary = gpu_plan.rendered_from("none", queue, also_at=30.0)
    counts = ", ".join(f"{name} after {needed[30.0][name]}" for name in queue[:-1])
    assert summary.endswith(f"finish {counts} and SAM-0.4 after {needed[30.0]['SAM-0.4']}.")
    # a window its data calls fill leaves no stint: one line, not forty empty windows
    with pytest.raises(SystemExit, match="a 3-minute window leaves no time for a stint"):
        gpu_plan.main(["--probe", "none", "--state", "none", "--window", "3"])
    with pytest.raises(SystemExit):
        gpu_plan.main(["--window", "0"])
    assert "--window must be a number of minutes above 0" in capsys.readouterr().err


def test_an_unknown_run_is_refused():
    with pytest.raises(SystemExit, match="has no run 'ST-9'"):
        gpu_costs.model_costs(["ST-9"])
    with pytest.raises(SystemExit, match="has no run 'ST seed 7'; it has ST, SAM-0.1, SAM-0.4, ST seed 1, "):
        gpu_costs.model_costs(["ST seed 7"])


PROBE = ROOT / "tests" / "probes" / "synthetic-h100.probe.json"


def test_a_probe_replaces_the_eager_estimates_it_measured(tmp_path, capsys):
    """tests/probes/synthetic-h100.probe.json (synthetic numbers, no machine's): ST 2.0 ms, SAM 4.1 ms and
    PGD-10 AT 16.0 ms per eager step; AT-Linf-2 (5 attack steps, 6 passes) was not timed: its estimate is scaled
    as PGD-10 AT's (11 passes, nearer than SAM's 2) was, and ASAM's as SAM's."""
    measured, device = gpu_costs.probe_steps(PROBE)
    assert measured == {
        ("standard", None): pytest.approx(2.0),
        ("sam", None): pytest.approx(4.1),
        ("at", 10): pytest.approx(16.0),
    }
    assert "synthetic" in device
    names = ["ST", "SAM-0.1", "AT-Linf-8", "AT-Linf-2", "ASAM-0.5"]
    estimated = {m.name: m for m in gpu_costs.model_costs(names)}
    probed = {m.name: m for m in gpu_costs.model_costs(names, measured)}
    assert [m.name for m in probed.values() if m.measured] == ["ST", "SAM-0.1", "AT-Linf-8"]
    steps = math.ceil(gpu_costs.TRAIN_IMAGES / 128) * 100  # 100 epochs at batch 128
    for name, ms in (("ST", 2.0), ("SAM-0.1", 4.1), ("AT-Linf-8", 16.0)):
        assert probed[name].train == pytest.approx((steps * ms / 1000 + 100 * gpu_costs.TEST_PASS_S) / 60)
    assert not probed["AT-Linf-2"].measured and not probed["ASAM-0.5"].measured
    for name, timed, key in (("AT-Linf-2", 16.0, ("at", 10)), ("ASAM-0.5", 4.1, ("sam", None))):
        step = gpu_costs.step_ms(*key)
        learnt = (estimated[name].train - 100 * gpu_costs.TEST_PASS_S / 60) * timed / step
        assert probed[name].train == pytest.approx(learnt + 100 * gpu_costs.TEST_PASS_S / 60)
    assert probed["ST"].evaluate == estimated["ST"].evaluate  # the probe times training steps, not evaluation
    # the synthetic record's static steps are x1.25 the eager ones for every method: the plan trains at that
    choice = choose(read(PROBE))
    assert choice.options() == ["--parallel", "1"]
    chosen = {m.name: m for m in gpu_costs.model_costs(names, measured, choice)}
    for name, ms in (("ST", 2.0), ("SAM-0.1", 4.1), ("AT-Linf-8", 16.0)):
        assert chosen[name].train == pytest.approx((steps * ms / 1000 / 1.25 + 100 * gpu_costs.TEST_PASS_S) / 60)
    assert gpu_plan.main(["--probe", str(PROBE), "--models", ",".join(names), "--windows", "1", "--state", "none"]) == 0
    shown = capsys.readouterr().out
    assert "measured by `sam-bench bench --probe` on NVIDIA H100 (synthetic" in shown
    assert "pick `--parallel 1` for the stints and `train: {step_mode: static}` for the scale" in shown
    assert (
        f"| ST | {chosen['ST'].train:.1f}* |" in shown and f"| AT-Linf-2 | {chosen['AT-Linf-2'].train:.1f} |" in shown
    )
    assert gpu_plan.main(["--choose", str(PROBE)]) == 0
    assert capsys.readouterr().out == "--parallel 1\n"


def test_a_probe_of_another_network_or_a_broken_one_is_refused(tmp_path):
    record = json.loads(PROBE.read_text())
    record["settings"]["width"] = 0.25
    other = tmp_path / "small.json"
    other.write_text(json.dumps(record))
    with pytest.raises(SystemExit, match="not the full scale's preactresnet18 at width 1.0 and batch 128"):
        gpu_costs.probe_steps(other)
    del record["parts"]
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(record))
    with pytest.raises(SystemExit, match="broken.json"):
        gpu_costs.probe_steps(broken)


def test_the_plan_counts_the_data_calls_the_parts_tool_cuts_for_todays_tree():
    """The working tree travels with every call, so how many calls CIFAR-10 takes depends on its size: the
    plan's DATA_PARTS must be what ops/remote-gpu/gpu_data_parts.py cuts now (the code carried beside it as in the
    rehearsal: pyautoattack without its examples, about 0.12 MiB, and COMMIT)."""
    import gpu_data_parts

    source = gpu_data_parts.SOURCE
    if not (source / "manifest.json").is_file():
        pytest.skip(f"no packed CIFAR-10 at {source}")
    sizes = {p.name: p.stat().st_size for p in source.iterdir() if p.is_file() and p.name != "README.md"}
    sizes["cifar10_unpack.py"] = gpu_data_parts.UNPACKER.stat().st_size
    room = gpu_data_parts.CALL_LIMIT - gpu_data_parts.tree_bytes(ROOT) - int(0.12 * gpu_data_parts.MIB)
    assert len(gpu_data_parts.cut(sizes, room - gpu_data_parts.MARGIN)) == gpu_schedule.DATA_PARTS, (
        "set ops/remote-gpu/gpu_schedule.py's DATA_PARTS and re-render: python ops/remote-gpu/gpu_plan.py --write"
    )


def test_a_probes_attack_throughput_counts_the_evaluation_of_models_that_are_not_robust():
    """PGD-10 at 4,000 images/s in TF32 and 1,000 in strict fp32 (round numbers): a budget's PGD is 2.5 s of
    search and at most 10/11 s of scoring; AutoAttack's standard version on ST at RobustBench's budget is 10
    PGD-10s of APGD-CE and the tail; an AT model's, and any model's below RobustBench's budget, keeps the robust
    estimate, on its share of the images; only the runs counted from the rates alone are marked: a later seed
    (PGD-10 and the custom APGD-CE + APGD-T) whatever its model, not a first seed with the standard version at
    the claims' small budgets."""
    from sam_bench.evaluation.specs import make_attacks

    rates = {"tf32": 4000.0, "ieee": 1000.0}
    pgd = (2.5 + 10 / 11) / 60
    specs = make_attacks("clean") + make_attacks("pgd", "Linf", ["2/255", "8/255"])
    specs += make_attacks("autoattack", "Linf", ["8/255"]) + make_attacks("autoattack", "L2", ["0.5"])
    small = make_attacks("autoattack", "Linf", ["2/255"])[0]
    small.n_examples = 1000
    assert gpu_attack_minutes.evaluation_minutes(specs, False, rates) == pytest.approx(
        2 * pgd + 2 * (25 / 60 + gpu_attack_minutes.AUTOATTACK_TAIL_MIN)
    )
    assert gpu_attack_minutes.evaluation_minutes(specs, True, rates) == pytest.approx(
        2 * pgd + 2 * gpu_attack_minutes.AUTOATTACK_MIN["robust"]
    )
    assert gpu_attack_minutes.evaluation_minutes(specs, False, None) == pytest.approx(2 * 0.1 + 2 * 1.5)
    for robust in (False, True):
        assert gpu_attack_minutes.spec_minutes(small, robust, rates) == pytest.approx(
            gpu_attack_minutes.AUTOATTACK_MIN["robust"] / 10
        )
    runs = ["ST", "AT-Linf-8", "ST seed 1", "AT-Linf-8 seed 1"]
    costs = {m.label: m for m in gpu_costs.model_costs(runs, attack_rates=rates)}
    assert [label for label, m in costs.items() if m.evaluation_measured] == ["ST seed 1", "AT-Linf-8 seed 1"]
    assert not any(m.evaluation_measured for m in gpu_costs.model_costs(runs))
    h200 = gpu_attack_minutes.probe_attack_rates(gpu_plan.DOCS_PROBE)
    assert h200 is not None and h200["tf32"] > h200["ieee"] > 0


def test_the_plan_starts_from_where_the_full_scale_stands():
    """`with_state` on the committed reproduction: ST trained and evaluated (standard AutoAttack at the claims'
    budgets included) but lacking the cheaper AutoAttack (APGD-CE + APGD-T) its recipe gained for every seed, at
    the minutes its run took on the GPU; SAM-0.1 trained and evaluated before those budgets (so to be evaluated
    again: what it had at its measured minutes, less what the chunks of its evaluation state took); SAM-0.4
    trained to its end and its evaluation stopped by a stint's end (its state's chunks done); AT-Linf-8 stopped
    after 16 of its 100 epochs, at its own median epoch; SAM-0.2 at SAM-0.1's training minutes (the same step).
    The three evaluate from their committed weights (`weights` calls: two models a call) and AT-Linf-8 trains on
    from its kept checkpoint (an `inbox` call)."""
    from sam_bench.report import gpu_minutes
    from sam_bench.report.folder import Folder

    names = ["ST", "SAM-0.1", "SAM-0.4", "SAM-0.2", "AT-Linf-8", "AT-Linf-2"]
    before = {m.name: m for m in gpu_costs.model_costs(names)}
    models = gpu_state.with_state(list(before.values()), gpu_plan.DOCS_STATE)
    records = Folder.load(gpu_plan.DOCS_STATE).records
    ran = {r["name"]: r for r in gpu_minutes.rows(records)}
    state = {m.name: m for m in models}
    on_1000 = [s for s in gpu_plan_specs() if s.attack == "autoattack" and s.n_examples == 1000]
    cheaper = [s for s in on_1000 if s.settings["version"] == "custom"]
    assert len(on_1000) == 8 and len(cheaper) == 4  # C2's four budgets, standard and APGD-CE + APGD-T
    wanted = gpu_state.chunks_wanted(gpu_plan_specs(), gpu_attack_minutes.EVAL_IMAGES)
    # clean and 8 PGD budgets in chunks of 2,000; AutoAttack at 2 budgets on 10,000 and 8 on 1,000, chunks of 1,000
    assert wanted == {2000: 45, 1000: 28}
    st = state["ST"]
    assert st.stands == "trained; to evaluate again, with 4 attacks it lacks" and not st.finished
    assert st.train == ran["ST"]["training_min"] and st.done_evaluate == pytest.approx(ran["ST"]["evaluation_min"])
    st_pgd = gpu_attack_minutes.pgd_accuracies(results_of("ST"))
    assert st_pgd[("Linf", round(2 / 255, 8))] == pytest.approx(0.0972)  # as its results file has it
    assert st.evaluate == pytest.approx(
        st.done_evaluate + sum(gpu_attack_minutes.spec_minutes(s, False, None, st_pgd) for s in cheaper)
    )
    assert st.ran == "train" and st.evaluation_in_part  # its cheaper AutoAttack is estimated
    for name in ("SAM-0.1", "SAM-0.4"):
        m = state[name]
        chunks = list(json.loads(state_file(name).read_text())["chunks"].values())
        minutes = sum(c["seconds"] for c in chunks) / 60
        assert m.done_evaluate == pytest.approx(minutes) and not m.finished  # each lacks chunks still
        assert f"({len(chunks)} of 73 chunks of its evaluation done: {minutes:.1f} minutes)" in m.stands
        assert m.evaluate - m.done_evaluate > 0
    sam = state["SAM-0.1"]
    assert sam.train == ran["SAM-0.1"]["training_min"] and sam.done_train == sam.train
    assert sam.ran == "train" and sam.stands.startswith("trained; to evaluate again, with 8 attacks it lacks")
    sam_pgd = gpu_attack_minutes.pgd_accuracies(results_of("SAM-0.1"))
    # the standard version at the four small budgets at the minutes ST took for them, the cheaper one estimated
    lacking = sum(gpu_attack_minutes.spec_minutes(s, False, None, sam_pgd) for s in cheaper)
    lacking += sum(e["seconds"] / 60 for e in results_of("ST")["evaluations"] if e.get("n_examples") == 1000)
    assert sam.evaluate >= ran["SAM-0.1"]["evaluation_min"] + lacking - 1e-9
    trained = state["SAM-0.4"]
    (meta,) = [json.loads(p.read_text()) for p in gpu_plan.DOCS_STATE.glob("runs/SAM-0.4-*/metadata.json")]
    assert meta["status"] == "complete" and meta["epochs_done"] == 100
    assert trained.stands.startswith("100 of 100 epochs (") and trained.done_train == pytest.approx(trained.train)
    at = state["AT-Linf-8"]
    (log,) = gpu_plan.DOCS_STATE.glob("runs/AT-Linf-8-*/log.jsonl")
    epochs = [json.loads(line)["seconds"] for line in log.read_text().splitlines()]
    assert at.stands == f"{len(epochs)} of 100 epochs" and at.ran == "train" and not at.finished
    median = statistics.median(epochs) / 60  # the first epoch's capture of the step weighs nothing in a median
    assert at.train == pytest.approx(100 * median) and at.done_train == pytest.approx(len(epochs) * median)
    assert state["SAM-0.2"].train == ran["SAM-0.1"]["training_min"] and state["SAM-0.2"].ran == "train"
    assert state["SAM-0.2"].evaluation_in_part and not state["AT-Linf-2"].evaluation_in_part
    assert state["AT-Linf-2"].ran == "" and state["AT-Linf-2"].train == before["AT-Linf-2"].train  # nothing ran
    assert all(m.done_train == 0 for m in before.values())  # the models given are left as they were
    (calls, finished), *_ = gpu_schedule.plan(models, windows=1)
    assert sum(c.what.startswith("`weights`") for c in calls) == 2  # three full-width models, two a call
    assert sum(c.what.startswith("`inbox`") for c in calls) == 1  # AT-Linf-8's checkpoint
    assert sum(c.minutes for c in calls) <= gpu_window.WINDOW + 1e-9


def results_of(name: str) -> dict:
    return json.loads((gpu_plan.DOCS_STATE / "results" / f"{name}-{gpu_plan_key(name)}.json").read_text())


def state_file(name: str) -> Path:
    return gpu_plan.DOCS_STATE / "results" / f"{name}-{gpu_plan_key(name)}.json.partial"


def test_an_evaluation_state_counts_as_done_only_when_it_holds_every_chunk(tmp_path):
    """Minutes alone cannot tell an evaluation's end: chunks that took longer than the estimate of the whole
    still leave it unfinished while chunks are lacking, and those are counted at the minutes its slowest own
    chunk of their size took; a state with every chunk is done whatever the estimate."""
    path = tmp_path / "state.json.partial"

    def model_with(chunks: list[tuple[int, float]], estimate: float) -> gpu_costs.Model:
        records = {f"k{i}": {"n": n, "seconds": s} for i, (n, s) in enumerate(chunks)}
        path.write_text(json.dumps({"schema": "sam-bench/eval-state/v2", "chunks": records}))
        m = gpu_costs.Model("ST", train=2.0, evaluate=estimate, done_train=2.0)
        m.stands = gpu_state.resume_evaluation(m, path, Counter({2000: 2, 1000: 2}))
        return m

    short = model_with([(2000, 60), (2000, 60), (1000, 30)], estimate=1.0)  # 2.5 minutes done, estimate 1.0
    assert not short.finished and short.done_evaluate == pytest.approx(2.5)
    assert short.evaluate == pytest.approx(2.5 + 0.5)  # one chunk of 1,000 lacking, at its kind's 30 s
    assert short.stands == " (3 of 4 chunks of its evaluation done: 2.5 minutes)"
    uneven = model_with([(2000, 60), (2000, 60), (1000, 6), (1000, 54)], estimate=1.0)
    uneven.stands = gpu_state.resume_evaluation(uneven, path, Counter({2000: 2, 1000: 3}))
    assert uneven.evaluate == pytest.approx(3.0 + 0.9)  # the lacking chunk at the slowest of its kind
    slow = model_with([(2000, 6), (2000, 12)], estimate=3.0)  # the chunks of 1,000 not begun: as the slowest
    assert slow.done_evaluate == pytest.approx(0.3) and slow.evaluate == pytest.approx(3.0)  # the estimate rules
    slower = model_with([(2000, 6), (2000, 12)], estimate=0.5)
    assert slower.evaluate == pytest.approx(0.3 + 2 * 0.2)
    whole = model_with([(2000, 60), (2000, 60), (1000, 30), (1000, 30)], estimate=9.0)
    assert whole.finished and whole.evaluate == pytest.approx(3.0)
    assert gpu_state.resume_evaluation(whole, tmp_path / "none.json.partial", Counter({2000: 1})) == ""


def gpu_plan_specs():
    from sam_bench.recipes.evaluation_block import evaluation_specs
    from sam_bench.recipes.recipe import load_recipe

    return evaluation_specs(load_recipe("paper-cifar10", "full", device="cuda").evaluation)


def gpu_plan_key(name: str) -> str:
    from sam_bench.recipes.recipe import load_recipe

    (plan,) = [m for m in load_recipe("paper-cifar10", "full", device="cuda").models if m.primary and m.name == name]
    return plan.key


def arrangement_record(path: Path, gains: dict[int, float], beside: dict[int, tuple[float, float]]) -> str:
    """The committed H200 probe's settings with only these ratios, timed in graph steps for ST, SAM and PGD-10 AT
    (synthetic values, as a window's short probe of K models at once would write them); its path."""
    from sam_bench.bench import probe_arrangement as names

    record = json.loads(gpu_plan.DOCS_PROBE.read_text())
    record.update(parts={}, ratios=[])

    def ratio(name: str, median: float) -> None:
        record["ratios"].append(
            {"name": name, "numerator": "a.x", "denominator": "b.x", "runs": [median], "median": median, "rounds": 1}
        )

    for method in ("standard", "sam", "at"):
        for k, gain in gains.items():
            ratio(names.aggregate_ratio(method, "graph", k, 1), gain)
        for k, (training, evaluation) in beside.items():
            ratio(names.training_beside_ratio(method, "graph", k), training)
            ratio(names.evaluation_beside_ratio(method, "graph", k), evaluation)
    path.write_text(json.dumps(record))
    return str(path)


def test_lanes_move_at_the_shares_the_probe_measured():
    """ops/remote-gpu/gpu_lanes.py: trainings at their aggregate gain over the processes training (read at the nearest
    count timed below), at their share beside an evaluation, the evaluations at theirs (nearest count timed
    above), split between them; evaluations alone share the device; an untimed method as the timed one."""
    from sam_bench.bench.probe_choice import Arrangement

    timed = Arrangement(
        "graph", {"standard": {2: 1.6, 4: 2.4}}, {"standard": {1: 0.8, 4: 0.6}}, {"standard": {1: 0.5, 4: 0.3}}
    )
    speeds = gpu_lanes.Speeds(timed, ["standard"])
    train, evaluate = ("standard", "train"), ("standard", "evaluate")
    assert speeds.shares([train, train]) == pytest.approx([0.8, 0.8])
    assert speeds.shares([train] * 3) == pytest.approx([1.6 / 3] * 3)  # 3 processes: read at 2, never more
    assert speeds.shares([train, evaluate]) == pytest.approx([0.8, 0.5])
    assert speeds.shares([train, train, evaluate]) == pytest.approx([0.8 * 0.6, 0.8 * 0.6, 0.3])  # read at 4
    assert speeds.shares([train, evaluate, evaluate]) == pytest.approx([0.8, 0.25, 0.25])
    assert speeds.shares([evaluate, evaluate]) == pytest.approx([0.5, 0.5])
    assert speeds.shares([("trades", "train"), train]) == pytest.approx([0.8, 0.8])
    assert gpu_lanes.Speeds().shares([train]) == [1.0]
    with pytest.raises(ValueError, match="cells at once need a probe's arrangement"):
        gpu_lanes.Speeds().shares([train, train])
    # two models of 1.6 minutes' training and 1.0 of evaluation alone, two lanes: both train at 0.8 for 2 minutes,
    # then both evaluate at 0.5: after 3 minutes each has half its evaluation done
    models = [gpu_costs.Model(name, 1.6, 1.0) for name in ("A", "B")]
    assert gpu_lanes.work(models, 3.0, 2, speeds) == [
        "A: train 1.6, evaluate 0.5 (0.5 of 1.0)",
        "B: train 1.6, evaluate 0.5 (0.5 of 1.0)",
    ]
    one = [gpu_costs.Model(name, 1.6, 1.0) for name in ("A", "B")]  # one lane: the queue in order at speed alone
    assert gpu_lanes.work(one, 3.0) == ["A: train 1.6, evaluate 1.0", "B: train 0.4 (0.4 of 1.6)"]


def test_a_stint_stopping_k_trainings_brings_back_and_carries_in_k_checkpoints():
    assert gpu_window.batches_for(1) == gpu_window.BATCHES == 3  # one checkpoint and two models' weights
    assert [gpu_window.batches_for(k) for k in (2, 4)] == [4, 7]
    assert [gpu_schedule.inbox_calls(n) for n in (0, 1, 2, 4)] == [0, 1, 3, 7]  # the last batch goes with `start`


def test_with_k_models_at_once_measured_to_gain_more_models_are_done_a_window(tmp_path, capsys):
    """The committed H200 probe and a synthetic probe of K models at once in graph steps: its K=2 and K=4 gain
    for every method and an evaluation beside training pays, so the choice takes K=4; the plan runs the K of its
    ladder whose windows finish the queue soonest, counting each stint's K checkpoints to bring back and carry
    in, and finishes more models a window than one at a time."""
    queue = ["ST", "SAM-0.1", "SAM-0.4", "SAM-0.2"]
    good = arrangement_record(tmp_path / "good.json", {2: 1.9, 4: 3.6}, {1: (0.95, 0.9), 4: (0.9, 0.8)})
    probe = str(gpu_plan.DOCS_PROBE)
    picked, lanes, _ = gpu_plan.stints_choice([probe, good], "none")
    assert (picked.step_mode, picked.parallel, picked.ladder) == ("graph", 4, [1, 2, 4])
    costs = gpu_costs.model_costs(queue, gpu_costs.probe_steps(probe)[0], picked)
    k, lowered = gpu_schedule.lanes_for(costs, picked)
    assert k == 2 and lowered.startswith(" The stints run K=2, not the probe's 4: of its Ks, the one whose")
    one = gpu_plan.rendered_from(probe, queue)[1]
    two = gpu_plan.rendered_from(probe, queue, arrangement_probe=good)[1]
    per_window = [list(map(int, s.split("per window: ")[1].rstrip(".").split(", "))) for s in (one, two)]
    assert len(per_window[1]) < len(per_window[0]) and max(per_window[1]) >= 2 > max(per_window[0])
    assert "(graph, K=2)" in two and "(graph, K=1)" in one
    windows = gpu_schedule.plan(costs, None, gpu_window.WINDOW, *gpu_lanes.speeds_for(picked, 2))
    stopped = 0
    for calls, _ in windows:
        assert sum(c.minutes for c in calls) <= gpu_window.WINDOW + 1e-9
        assert sum(c.what.startswith("`inbox`") for c in calls) == gpu_schedule.inbox_calls(stopped)
        (stint,) = [c for c in calls if c.stint]
        assert stint.what.endswith(f"then {gpu_window.batches_for(2) - 1} `send`s")
        stopped = sum(1 for w in stint.work if re.search(r": train [\d.]+ \(([\d.]+) of (?!\1\))", w))
    # the whole queue from its start, until its claims' runs (later seeds included) are done: `--choose` prints the
    # K the plan runs, and says why where it is not the probe's
    rates = gpu_attack_minutes.probe_attack_rates(probe)
    everything = gpu_costs.model_costs(None, gpu_costs.probe_steps(probe)[0], picked, rates)
    runs_with, why = gpu_schedule.lanes_for(everything, picked)
    assert runs_with != picked.parallel and why.startswith(f" The stints run K={runs_with}, not the probe's 4")
    assert gpu_plan.main(["--choose", probe, good, "--state", "none"]) == 0
    out, err = capsys.readouterr()
    assert out == f"--parallel {runs_with}\n" and why in err
    poor = arrangement_record(tmp_path / "poor.json", {2: 1.05, 4: 1.08}, {1: (0.6, 0.4), 4: (0.5, 0.2)})
    assert gpu_plan.stints_choice([probe, poor], "none")[1:] == (1, "")
    assert "(graph, K=1)" in gpu_plan.rendered_from(probe, queue, arrangement_probe=poor)[1]


def test_until_k_models_at_once_are_measured_the_next_window_starts_with_their_probe(tmp_path):
    """The committed probe timed no K in its step mode: the plan says so, keeps one model at a time and gives the
    next window's first call to the probe (never a number it did not measure); once measured, no probe call."""
    probe = str(gpu_plan.DOCS_PROBE)
    text, _ = gpu_plan.rendered_from(probe, ["ST", "SAM-0.1"], windows=2)
    assert "K models at once and an evaluation beside training are not measured in graph steps yet" in text
    first, second = text.split("Window 2:")
    assert (
        "| 2 | `probe`: K models at once and an evaluation beside training (ops/remote-gpu/gpu_prepare.py) | " in first
    )
    assert f"{gpu_window.ARRANGEMENT_PROBE_MINUTES:.1f} |" in first and "`probe`" not in second
    assert not gpu_plan.arrangement_measured([probe])
    good = arrangement_record(tmp_path / "good.json", {2: 1.9}, {1: (0.95, 0.9)})
    assert gpu_plan.arrangement_measured([probe, good])
    assert "`probe`" not in gpu_plan.rendered_from(probe, ["ST", "SAM-0.1"], windows=1, arrangement_probe=good)[0]


def test_the_windows_probe_call_names_options_bench_has():
    """The probe call (gpu_window.ARRANGEMENT_PROBE_CALL) as the relay passes its options to `bench --probe`."""
    import shlex

    from sam_bench.bench import probe_arrangement, probe_parts
    from sam_bench.cli import cli

    words = shlex.split(gpu_window.ARRANGEMENT_PROBE_CALL)
    assert words[:4] == ["ops/remote-gpu/gpu_relay.sh", "probe", "--left", "L"]
    context = cli.commands["bench"].make_context("bench", ["--probe", "--device", "cuda", *words[4:]])
    params = context.params
    assert params["modes"] == "" and params["concurrent_modes"] == "graph" and params["beside"] == "1,4"
    assert params["budget_s"] == gpu_window.ARRANGEMENT_PROBE_BUDGET_S
    settings = {**probe_parts.DEFAULTS, "concurrency": [1, 2, 4], "beside": [1, 4], "concurrent_modes": ["graph"]}
    probe_arrangement.check(settings)  # K=4's cells evaluate beside 3 trainings: timed beside 4, the nearest above


CLAIMS_RUNS = [
    "ST", "SAM-0.1", "SAM-0.4",
    "ST seed 1", "SAM-0.1 seed 1", "SAM-0.4 seed 1", "ST seed 2", "SAM-0.1 seed 2", "SAM-0.4 seed 2",
    "AT-Linf-8", "AT-Linf-2", "AT-Linf-8 seed 1", "AT-Linf-2 seed 1",
]  # fmt: skip


def test_every_run_of_the_scale_is_in_the_queue_in_its_work_order():
    """The scale's `order`: every seed of ST and the SAMs, then of the two ATs, then the rest of the grid's first
    seeds; a later seed trains its first seed's steps and is evaluated with its own block (clean, PGD-10 and the
    AutoAttack budgets marked for every seed); the windows finish the queue in order and, by default, until the
    claims' runs are done."""
    from sam_bench.recipes.recipe import load_recipe

    recipe = load_recipe("paper-cifar10", "full", device="cuda")
    runs = gpu_costs.model_costs(None)
    labels = [m.label for m in runs]
    assert labels[: len(CLAIMS_RUNS)] == CLAIMS_RUNS
    assert labels[len(CLAIMS_RUNS) :] == [p.name for p in recipe.models if p.name not in CLAIMS_RUNS]
    assert [(m.name, m.seed) for m in runs] == [(p.name, p.seed) for p in recipe.models]
    by = {m.label: m for m in runs}
    for later, first in (("ST seed 2", "ST"), ("SAM-0.4 seed 1", "SAM-0.4"), ("AT-Linf-2 seed 1", "AT-Linf-2")):
        assert by[later].train == by[first].train and not by[later].primary and by[later].seed == int(later[-1])
        assert list(by[later].parts) == ["clean", "PGD-10", "APGD-CE + APGD-T"]
        assert by[later].evaluate < by[first].evaluate  # no standard AutoAttack for a later seed
    result = gpu_schedule.plan(gpu_costs.model_costs(None))
    finished = [f for _, f in result]
    assert all(after[: len(before)] == before for before, after in zip(finished, finished[1:], strict=False))
    assert finished[-1][: len(CLAIMS_RUNS)] == CLAIMS_RUNS and set(CLAIMS_RUNS) - set(finished[-2])
    text, summary = gpu_plan.rendered_from("none", ["ST", "ST seed 1"], state="none")
    assert "| ST seed 1 | " in text and "windows until a run is trained and evaluated: ST after" in summary


def test_a_later_seed_trains_at_its_first_seeds_minutes_and_its_autoattack_is_bounded_by_pgd():
    """From where the full scale stands: a later seed trains in its first seed's measured minutes (ST's run, SAM-0.4's
    median epoch, AT-Linf-8's median epoch); its PGD-10 at the mean minutes of the not-robust runs; its APGD-CE +
    APGD-T on the images bounded by the PGD-10 accuracy of its model's first seed (ST's results), of ST where its
    first seed has none (SAM-0.4, not robust), and 0.8 for an AT model (none evaluated)."""
    rates = {"tf32": 4000.0, "ieee": 1000.0}
    names = ["ST", "SAM-0.4", "AT-Linf-8", "ST seed 1", "SAM-0.4 seed 2", "AT-Linf-8 seed 1"]
    state = {
        m.label: m
        for m in gpu_state.with_state(gpu_costs.model_costs(names, None, None, rates), gpu_plan.DOCS_STATE, rates)
    }
    for later, first in (("ST seed 1", "ST"), ("SAM-0.4 seed 2", "SAM-0.4"), ("AT-Linf-8 seed 1", "AT-Linf-8")):
        assert state[later].train == state[first].train and state[later].ran.startswith("train")
        assert state[later].done_train == 0 and state[later].stands == ""
    st_pgd = gpu_attack_minutes.pgd_accuracies(results_of("ST"))
    budgets = [("Linf", 1 / 255), ("Linf", 2 / 255), ("L2", 16 / 255), ("L2", 32 / 255)]
    left = [st_pgd[(norm, round(eps, 8))] for norm, eps in budgets]
    assert left == [0.3939, 0.0972, 0.7507, 0.5117]  # ST's results file
    per_budget = [1000 * (100 + 900 * share) / (10 * rates["tf32"]) / 60 for share in left]  # passes at 25 us
    for later in ("ST seed 1", "SAM-0.4 seed 2"):
        assert state[later].parts["APGD-CE + APGD-T"] == pytest.approx(sum(per_budget))
        assert state[later].evaluation_in_part and not state[later].evaluation_measured
    at = state["AT-Linf-8 seed 1"]
    assert at.parts["APGD-CE + APGD-T"] == pytest.approx(4 * 1000 * (100 + 900 * 0.8) / 40_000 / 60)
    assert at.evaluation_measured and not at.evaluation_in_part  # PGD-10 and APGD-CE + APGD-T from the rates
    pgd = [
        e["seconds"] / 60 for name in ("ST", "SAM-0.1") for e in results_of(name)["evaluations"] if e["attack"] == "pgd"
    ]
    assert state["ST seed 1"].parts["PGD-10"] == pytest.approx(sum(pgd) / 2)  # the mean of ST's and SAM-0.1's
