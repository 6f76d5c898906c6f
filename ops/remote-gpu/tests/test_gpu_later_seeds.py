"""gpu_later_seeds.py and the schedule's stints: the plan's sentence on what a later seed costs against its
targets; a later seed's own weights (its only copy: it is not published to the zoo) brought back by the stint
that trains it, sized into its batches and `send`s, and carried in to the window that evaluates it."""

from __future__ import annotations

import gpu_lanes
import gpu_later_seeds
import gpu_schedule
import gpu_window
import pytest
from gpu_costs import Model


def later(name: str, method: str, train: float, parts: dict[str, float], **kwargs) -> Model:
    return Model(name, train, sum(parts.values()), method=method, seed=1, primary=False, parts=parts, **kwargs)


def test_a_missed_target_names_what_bounds_it_and_a_long_training_spans_windows():
    done = Model("ST", 2.0, 8.0, done_train=2.0, done_evaluate=8.0)
    st = later("ST", "standard", 2.0, {"clean": 0.01, "PGD-10": 0.4, "APGD-CE + APGD-T": 1.6})
    at = later("AT-Linf-8", "at", 12.0, {"clean": 0.01, "PGD-10": 0.5, "APGD-CE + APGD-T": 1.3})
    windows = gpu_schedule.plan([dataclass_copy(m) for m in (done, st, at)])
    text = gpu_later_seeds.sentence([done, st, at], windows, 1)
    assert text.startswith(
        "A later seed's evaluation (clean and PGD-10 at 8 budgets on 10,000 images, APGD-CE + APGD-T at 4 budgets"
        " on 1,000) is estimated, for ST and SAM (target 1.5 GPU-minutes: missed: ST's 2.0, bound by its APGD-CE +"
        " APGD-T (1.6)) at 2.0 for ST (PGD-10 0.4, APGD-CE + APGD-T 1.6); for AT (target 4 GPU-minutes: met) at"
        " 1.8 for AT-Linf-8 (PGD-10 0.5, APGD-CE + APGD-T 1.3)."
    )
    stint = max(c.stint for calls, _ in windows for c in calls)
    assert f"against a stint of at most {stint:.1f} minutes a window" in text
    assert f"A stint holds at most {int(stint // (st.train + st.evaluate))} of ST's whole." in text
    assert "Training alone, AT-Linf-8's outlasts a stint" in text
    assert gpu_later_seeds.sentence([done], windows, 1) == ""


def test_a_later_seed_trained_in_an_earlier_window_is_evaluated_from_its_own_weights_carried_in():
    firsts = [Model(name, 2.0, 1.0, done_train=2.0) for name in ("ST", "SAM-0.1", "SAM-0.4")]
    seed = later("ST", "standard", 2.0, {"PGD-10": 0.4, "APGD-CE + APGD-T": 0.8}, done_train=2.0)
    windows = gpu_schedule.plan([*firsts, seed], windows=1)
    weights = [c for c in windows[0][0] if c.what.startswith("`weights`")]
    assert [c.run_weights for c in weights] == ["", "", "ST seed 1"]  # three first seeds two a call, the seed alone
    sentence = gpu_later_seeds.weights_back_and_in(windows, 1)
    assert sentence.endswith(
        "a window that evaluates one trained in an earlier window carries them in with a `weights` call of its own,"
        " from git once `sam-bench zoo keep` has kept them: window 1 (ST seed 1)."
    )
    assert "brings them back" not in sentence  # no stint of these windows trains a later seed
    assert gpu_later_seeds.weights_back_and_in(gpu_schedule.plan(firsts, windows=1), 1) == ""


def test_a_stint_that_trains_later_seeds_is_sized_to_bring_back_their_weights():
    """Each later seed a stint trains is 42.7 MiB of fp32 weights in its pack (not published to the zoo): a stint
    that trains more than a checkpoint and two zoo entries' worth is planned for the batches that hold them, a
    shorter stint with more `send`s, the first count from the relay's default up that holds what it packs."""
    seeds = [later("ST", "standard", 1.0, {"PGD-10": 0.2}) for _ in range(6)]
    for number, m in enumerate(seeds, 1):
        m.seed = number
    windows = gpu_schedule.plan([dataclass_copy(m) for m in seeds], windows=1)
    (stint,) = [c for c in windows[0][0] if c.stint]
    assert (
        stint.later_seeds
        == ["ST seed 1", "ST seed 2", "ST seed 3", "ST seed 4", "ST seed 5", "ST seed 6"][: len(stint.later_seeds)]
    )
    trained = len(stint.later_seeds)
    stopped = 1 if len(stint.work) > trained else 0  # the next seed's training, cut by the stint's end
    batches = gpu_window.batches_for(stopped, 0, trained)
    assert trained >= 5 and batches > gpu_window.BATCHES and stint.sends == batches - 1
    left = gpu_window.WINDOW - sum(c.minutes for c in windows[0][0] if c is not stint)
    assert stint.stint == gpu_window.background_minutes(left, batches=batches)
    assert stint.minutes == pytest.approx(
        2 * gpu_window.GAP + stint.stint + gpu_window.PACK + (batches - 1) * gpu_window.SEND
    )
    assert sum(c.minutes for c in windows[0][0]) <= gpu_window.WINDOW + 1e-9
    # one batch fewer would leave a longer stint that packs more than it holds
    longer = [dataclass_copy(m) for m in seeds]
    gpu_lanes.work(longer, gpu_window.background_minutes(left, batches=batches - 1) - gpu_schedule.STINT_START)
    done = sum(m.done_train >= m.train for m in longer)
    assert gpu_window.batches_for(1 if done < len(seeds) else 0, 0, done) > batches - 1
    sentence = gpu_later_seeds.weights_back_and_in(windows, 1)
    assert sentence.startswith(
        "Later seeds' own weights (fp32, 42.7 MiB at full width) are their only copy, as a later seed is not"
        " published to the zoo: the stint that trains one brings them back in its pack, window 1 (ST seed 1, "
    )
    extra = stint.sends - (gpu_window.BATCHES - 1)
    assert sentence.endswith(
        "in parts and batches that take more `send`s than the 2 of a stint sized for 1 checkpoint and two zoo entries"
        f" (`ops/remote-gpu/gpu_window.py` batches_for): {extra} more in window 1."
    )


def dataclass_copy(m: Model) -> Model:
    import dataclasses

    return dataclasses.replace(m)
