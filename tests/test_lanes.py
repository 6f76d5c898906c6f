"""Jobs in lanes of one process (runtime/lanes.py): they take turns in a fixed order, each draws from its own global
random state and runs with its own switches whatever the others do, a job that raises ends its lane alone, and
no more than `width` run at once."""

from __future__ import annotations

import gc
import traceback
import weakref

import pytest
import torch

from sam_bench.runtime import lanes, math_mode


def drawing(name: str, seed: int, turns: int, log: list):
    """A job that seeds torch's global generator once and draws from it between turns, logging its turns."""

    def job():
        torch.manual_seed(seed)
        draws = []
        for i in range(turns):
            log.append((name, i))
            draws.append(torch.rand(3))
            lanes.turn()
        return torch.cat(draws)

    return job


def test_lanes_take_turns_in_order_and_each_draws_what_it_draws_alone():
    alone = [lanes.run([drawing(n, s, t, [])], 1)[0].value for n, s, t in (("a", 1, 3), ("b", 2, 2), ("c", 3, 3))]
    log: list = []
    before = torch.get_rng_state()
    outcomes = lanes.run([drawing("a", 1, 3, log), drawing("b", 2, 2, log), drawing("c", 3, 3, log)], 3)
    assert log == [("a", 0), ("b", 0), ("c", 0), ("a", 1), ("b", 1), ("c", 1), ("a", 2), ("c", 2)]
    for outcome, own in zip(outcomes, alone, strict=True):
        assert outcome.error is None and torch.equal(outcome.value, own)
    assert torch.equal(torch.get_rng_state(), before)  # the caller's state is its own again


def test_a_lane_keeps_its_switches_while_the_others_set_theirs():
    seen: dict[str, list] = {"a": [], "b": []}

    def job(name: str, benchmark: bool, conv: str):
        def run():
            torch.backends.cudnn.benchmark = benchmark
            with math_mode._precision(conv, "ieee"):
                for _ in range(3):
                    seen[name].append(math_mode.switches())
                    lanes.turn()

        return run

    before = math_mode.switches()
    outcomes = lanes.run([job("a", True, "tf32"), job("b", False, "ieee")], 2)
    assert all(o.error is None for o in outcomes)
    assert seen["a"] == [(True, "tf32", "ieee")] * 3 and seen["b"] == [(False, "ieee", "ieee")] * 3
    assert math_mode.switches() == before


def test_a_job_that_raises_ends_its_lane_alone_and_what_it_held_is_freed():
    log: list = []
    held: list = []

    def failing():
        tensor = torch.zeros(4)
        held.append(weakref.ref(tensor))
        log.append(("x", 0))
        lanes.turn()
        raise RuntimeError("broken")

    outcomes = lanes.run([drawing("a", 1, 3, log), failing, drawing("c", 3, 3, log)], 3)
    assert [type(o.error).__name__ for o in outcomes] == ["NoneType", "RuntimeError", "NoneType"]
    assert str(outcomes[1].error) == "broken"
    assert [o.value.shape for o in (outcomes[0], outcomes[2])] == [(9,), (9,)]
    assert log == [("a", 0), ("x", 0), ("c", 0), ("a", 1), ("c", 1), ("a", 2), ("c", 2)]
    gc.collect()
    assert held[0]() is None  # its error is kept, not its tensors (a GPU's memory, for the lanes that go on)
    assert "raise RuntimeError" in "".join(traceback.format_exception(outcomes[1].error))  # its lines are


def test_no_more_than_width_run_at_once_and_a_no_from_go_on_starts_no_other():
    live, most = [0], [0]

    def job(turns: int):
        def run():
            live[0] += 1
            most[0] = max(most[0], live[0])
            for _ in range(turns):
                lanes.turn()
            live[0] -= 1
            return turns

        return run

    outcomes = lanes.run([job(t) for t in (3, 1, 2, 4, 1)], 2)
    assert [o.value for o in outcomes] == [3, 1, 2, 4, 1] and most[0] == 2
    stopped = lanes.run([job(t) for t in (3, 1, 2, 4)], 2, go_on=lambda index, outcome: outcome.value != 1)
    assert [o.value for o in stopped] == [3, 1]  # the second ended first and said stop: none more started


def test_a_model_passes_its_turn_before_each_forward_pass():
    log: list = []
    models = {"a": torch.nn.Linear(2, 2), "b": torch.nn.Linear(2, 2)}

    def forwards(name: str):
        def run():
            model = models[name]
            with lanes.passing_turns(model):
                for i in range(2):
                    model(torch.zeros(1, 2))
                    log.append((name, i))
            model(torch.zeros(1, 2))  # after the block: no turn
            log.append((name, "after"))

        return run

    lanes.run([forwards("a"), forwards("b")], 2)
    assert log == [("a", 0), ("b", 0), ("a", 1), ("a", "after"), ("b", 1), ("b", "after")]
    assert not any(m._forward_pre_hooks for m in models.values())
    with lanes.passing_turns(models["a"]):  # outside lanes: nothing registered, nothing passed
        assert not models["a"]._forward_pre_hooks


def test_lanes_are_refused_inside_a_lane_and_need_a_width():
    with pytest.raises(ValueError, match="a width of 1 or more"):
        lanes.run([], 0)
    outcome = lanes.run([lambda: lanes.run([lambda: None], 1)], 1)[0]
    assert isinstance(outcome.error, RuntimeError) and "inside a lane" in str(outcome.error)
