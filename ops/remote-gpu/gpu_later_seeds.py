"""What a later seed of a model costs on the GPU, set against what it should cost, and what becomes of its own
weights, for the plan that ops/remote-gpu/gpu_plan.py renders.

The claims' confirmatory seeds are later seeds of ST and the SAMs (C1, C2) and of the two ATs (C3). A later
seed is evaluated with its own block (`evaluation_for`: clean and PGD-10 on all 10,000 images, and only the
AutoAttack budgets marked for every seed). TARGET_MINUTES is what that evaluation should cost, in GPU-minutes,
for its share of a window beside the seed's training to stay small: 1.5 for a model trained without an attack,
4 for one trained with it. Where a target is missed the sentence names what bounds the evaluation (its
costliest kind of attack); it sets each later seed's whole run against a window's stint, and where a seed's
training alone outlasts a stint, says that it spans windows. A later seed is not published to the zoo, so its
own fp32 weights are its only copy: the plan says which stints bring them back and which windows carry them in.
"""

from __future__ import annotations

from collections import Counter

TARGET_MINUTES = {False: 1.5, True: 4.0}  # a later seed's evaluation, by whether its model is trained with an attack
GROUPS = {False: "ST and SAM", True: "AT"}


def block_description(label: str) -> str:
    """A run's evaluation block in words, from its attack specs: e.g. "clean and PGD-10 at 8 budgets on 10,000
    images, APGD-CE + APGD-T at 4 budgets on 1,000"."""
    from gpu_attack_minutes import EVAL_IMAGES, attack_kind
    from gpu_costs import full_scale, runs_of

    from sam_bench.recipes.evaluation_block import evaluation_for, evaluation_specs

    recipe = full_scale()
    specs = evaluation_specs(evaluation_for(runs_of(recipe)[label], recipe.evaluation))
    counted = Counter((attack_kind(s), s.n_examples or EVAL_IMAGES) for s in specs if s.attack != "clean")
    said = [f"{kind} at {n} budget{'s' if n > 1 else ''} on {images:,}" for (kind, images), n in counted.items()]
    said[0] += " images"
    return "clean and " + ", ".join(said)


def sentence(costs: list, windows: list, lanes: int) -> str:
    """The later seeds not yet done among `costs` (gpu_costs.Model): each model's evaluation estimate against its
    target, and its whole run against the stints of the planned `windows` (gpu_schedule.plan's), with what
    bounds them; "" where the queue holds no later seed to do."""
    from sam_bench.training import method_table as table

    later: dict = {}  # model name -> its costliest later seed not yet done
    for m in costs:
        if not m.primary and not m.finished:
            later[m.name] = max(later.get(m.name, m), m, key=lambda r: r.train + r.evaluate)
    if not later:
        return ""
    first = next(m for m in costs if not m.primary and not m.finished)
    said = []
    for robust in (False, True):
        runs = [m for m in later.values() if table.uses_attack(m.method) == robust]
        if not runs:
            continue
        worst = max(runs, key=lambda m: m.evaluate)
        target = TARGET_MINUTES[robust]
        verdict = "met"
        if worst.evaluate > target + 1e-9:
            kind, minutes = max(worst.parts.items(), key=lambda p: p[1])
            verdict = f"missed: {worst.name}'s {worst.evaluate:.1f}, bound by its {kind} ({minutes:.1f})"
        each = [
            f"{m.evaluate:.1f} for {m.name} ("
            + ", ".join(f"{kind} {minutes:.1f}" for kind, minutes in m.parts.items() if minutes >= 0.05)
            + ")"
            for m in runs
        ]
        said.append(f"for {GROUPS[robust]} (target {target:g} GPU-minutes: {verdict}) at {_listed(each)}")
    text = f"A later seed's evaluation ({block_description(first.label)}) is estimated, {'; '.join(said)}."
    stints = [c.stint for calls, _ in windows for c in calls]
    carried = max(sum(1 for c in calls if c.what.startswith(("`inbox`", "`weights`"))) for calls, _ in windows)
    whole = [f"{m.name}'s {m.train + m.evaluate:.1f} (training {m.train:.1f})" for m in later.values()]
    text += (
        f" With its training, one at a time (K={lanes}), a later seed takes {_listed(whole)} GPU-minutes, against a"
        f" stint of at most {max(stints):.1f} minutes a window: the rest of a window goes to the machine's start, the"
        f" data, and calls carrying in weights and checkpoints (up to {carried} a window: an unfinished run's"
        " checkpoint is carried in every window until the run is done)."
    )
    fits = [f"{int(max(stints) // (m.train + m.evaluate))} of {m.name}'s" for m in later.values()
            if m.train + m.evaluate <= max(stints) + 1e-9]  # fmt: skip
    longer = [f"{m.name}'s" for m in later.values() if m.train > max(stints) + 1e-9]
    if fits:
        text += f" A stint holds at most {_listed(fits)} whole."
    if longer:
        text += (
            f" Training alone, {_listed(longer)} outlast{'s' if len(longer) == 1 else ''} a stint: such a seed's"
            " training spans windows, its evaluation in the last of them."
        )
    return text


def weights_back_and_in(windows: list, lanes: int) -> str:
    """What the planned `windows` do with later seeds' own run weights (a later seed is not published to the zoo, so
    its fp32 model.safetensors is its only copy): the stints that train one bring them back in their packs
    (ops/remote-gpu/run_files.py), with the `send`s beyond a stint's `lanes` checkpoints they cost, and a window
    that evaluates one trained in an earlier window carries them in with a `weights` call of its own
    (ops/remote-gpu/gpu_weights.py); "" where the windows train none and carry none in."""
    from gpu_window import RUN_WEIGHTS_MIB, batches_for

    floor = batches_for(lanes) - 1
    back, extra, carried = [], [], []
    for number, (calls, _) in enumerate(windows, 1):
        for c in calls:
            if c.later_seeds:
                back.append(f"window {number} ({_listed(c.later_seeds)})")
            if c.stint and c.sends > floor:
                extra.append(f"{c.sends - floor} more in window {number}")
            if c.run_weights:
                carried.append(f"window {number} ({c.run_weights})")
    if not back and not carried:
        return ""
    text = (
        f"Later seeds' own weights (fp32, {RUN_WEIGHTS_MIB} MiB at full width) are their only copy, as a later seed is"
        " not published to the zoo"
    )
    if back:
        text += f": the stint that trains one brings them back in its pack, {_listed(back)}"
        checkpoints = f"{lanes} checkpoint{'s' if lanes > 1 else ''}"
        sized = f"a stint sized for {checkpoints} and two zoo entries (`ops/remote-gpu/gpu_window.py` batches_for)"
        if extra:
            text += f", in parts and batches that take more `send`s than the {floor} of {sized}: {_listed(extra)}"
        else:
            text += f", in parts and batches that fit the {floor} `send`s of {sized}"
    if carried:
        text += (
            "; a window that evaluates one trained in an earlier window carries them in with a `weights` call of its"
            f" own, from git once `sam-bench zoo keep` has kept them: {_listed(carried)}"
        )
    return text + "."


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
