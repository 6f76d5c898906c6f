"""The plan of GPU windows in numbers: which calls a window (15 minutes of device time today) makes, how
long each is expected to take, and which of the full scale's runs (paper-cifar10 --scale full: every model and
training seed, in the scale's work order) are trained and evaluated after each window.

Every call is sized as ops/remote-gpu/gpu_window.py sizes it on the day (the stint from the minutes left, its
packing and `send`s; one stint a window, started in the background by `ops/remote-gpu/gpu_relay.sh start` and
bound by the window, not by a command's 10 minutes), and the runs' costs come, most measured first, from the
full scale's own runs (`--state`, gpu_state.py), a probe (`--probe`) and the estimates of gpu_costs.py and
gpu_attack_minutes.py, stated with their derivation. A run is its model's name for the model's first seed and
"NAME seed N" for a later one; each is evaluated with its own evaluation block (a later seed: clean, PGD-10
and the AutoAttack budgets marked for every seed). The work of a stint is taken from the queue in order, a
run's training then its evaluation; a training stopped by a stint's end resumes in the next (its checkpoint is
carried to a new machine in one extra call, WINDOWS.md section 3).

    python ops/remote-gpu/gpu_plan.py                   # from where the full scale stands: until the claims' runs
    python ops/remote-gpu/gpu_plan.py --windows 3 --models "ST,ST seed 1,AT-Linf-8"
    python ops/remote-gpu/gpu_plan.py --write           # render it into WINDOWS.md and README.md beside it
    python ops/remote-gpu/gpu_plan.py --probe none      # the estimates alone, no probe's measurements
    python ops/remote-gpu/gpu_plan.py --window 30       # in 30-minute windows instead of today's 15

With `--probe FILE` (a record of `sam-bench bench --probe`) every run whose method (and attack steps) the probe
timed eagerly in one process takes the probe's median step instead of the estimate, and evaluation is counted
from the attacks' throughput it measured; the others keep their estimates, and the table says which is which.
The probe's ratios also pick the step mode (`sam_bench.bench.probe_choice`; a commit sets it in the scale
before its first stint: the mode is part of a run's key), and training is counted at its speed-up. With
`--arrangement FILE` (by default DOCS_ARRANGEMENT where committed: a shorter probe of K models at once and of an
evaluation beside training in that mode) they pick K too; the stints run, of the Ks the choice took on its way
up, the one whose windows finish the wanted runs soonest (gpu_schedule.lanes_for): K lanes move at the shares
of their speed alone the probe measured (ops/remote-gpu/gpu_lanes.py), and each run a stint stops mid-way is a
checkpoint it brings back and the next window carries in (`send` and `inbox` calls). Until K is measured, the
next window's first call is the probe that measures it (ops/remote-gpu/gpu_prepare.py), and the windows train
one run at a time. `--choose FILE ...` prints only the stints' option (`--parallel K`, one line, for a script:
`ops/remote-gpu/gpu_relay.sh start ... $(python ops/remote-gpu/gpu_plan.py --choose probe.json
arrangement.json)`). `--batches K` prints the `--batches B` the next window's stint takes with K models at once, as
its plan sizes it for what the stint brings back (its checkpoints, zoo entries and the own weights of the later
seeds it trains: gpu_schedule.sized_stint).

With `--state FOLDER` (by default reproductions/paper-cifar10-full; `none`: before any window) the windows
start from where that reproduction stands, at the minutes its runs took on the GPU (`with_state`).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import gpu_later_seeds
from gpu_attack_minutes import probe_attack_rates
from gpu_costs import Model, full_scale_probe, model_costs, probe_steps
from gpu_lanes import probe_pending, sentence, speeds_for
from gpu_schedule import lanes_for, plan
from gpu_state import with_state
from gpu_window import ARRANGEMENT_PROBE_MINUTES, WINDOW, batches_for

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def render(
    models: list[Model],
    windows: int | None = None,
    probe: str | None = None,
    choice=None,
    state: str | None = None,
    window: float = WINDOW,
) -> tuple[str, str]:
    """(the markdown plan, the one-paragraph summary for the README beside it); `probe`: where the measured
    training steps and attack throughput came from (the probe file and its device); `choice`: the step mode and K
    it picked; `state`: the reproduction folder the runs' progress and minutes come from (`with_state`)."""
    costs = [dataclasses.replace(m) for m in models]  # as before the windows planned
    lanes, lowered = lanes_for(costs, choice, window)
    derived = "`ops/remote-gpu/gpu_costs.py` and `ops/remote-gpu/gpu_attack_minutes.py`"
    head = f"Estimated GPU minutes per run (H100, eager steps at batch 128; derivations in {derived}"
    if probe is not None:
        head = (
            f"GPU minutes per run ({'eager steps' if choice is None else 'steps'} at batch 128; training marked *"
            f" from the eager steps measured by {probe}, evaluation marked * counted from the attacks' throughput it"
            f" measured (an estimate, derived in `ops/remote-gpu/gpu_attack_minutes.py`), the rest estimated as"
            f" derived in {derived}"
        )
    head += '; a model\'s first seed is named by the model, a later seed "NAME seed N"):'
    if choice is not None:
        head += (
            f" Its ratios pick `{' '.join(choice.options())}` for the stints and `{choice.recipe_line()}` for "
            "the scale, set in a commit before its first stint ("
            + "; ".join(choice.reasons)
            + "); training is counted at the mode's speed-up (for a method with a capturable step)."
            + sentence(choice, lanes, ARRANGEMENT_PROBE_MINUTES)
            + lowered
        )
    if state is not None:
        head += (
            f" Marked †: what the full scale's own runs took on the GPU (`{state}`, as its report's Compute section"
            " counts it; a run stopped mid-way at its median epoch; a later seed's training at its first seed's; an"
            " attack a run that is not robust has not made at the mean of the not-robust runs that made it); marked"
            " ‡: some of its attacks so and the rest estimated; the windows start from where that folder stands."
        )
    lines = [
        head,
        "",
        "| run | training | evaluation (its own attacks, each on its images) | together |"
        + (" where it stands |" if state is not None else ""),
        "| --- | --- | --- | --- |" + (" --- |" if state is not None else ""),
    ]
    lines += [
        f"| {m.label} | {m.train:.1f}{'*' if m.measured else ''}{'†' if 'train' in m.ran else ''} "
        f"| {m.evaluate:.1f}{'*' if m.evaluation_measured else ''}{'†' if 'evaluate' in m.ran else ''}"
        f"{'‡' if m.evaluation_in_part else ''} "
        f"| {m.train + m.evaluate:.1f} |" + (f" {m.stands} |" if state is not None else "")
        for m in costs
    ]
    pending = choice is not None and probe_pending(choice)
    windows_planned = plan(models, windows, window, *speeds_for(choice, lanes), probe_first=pending)
    finished_after = [finished for _, finished in windows_planned]
    already = [m.label for m in costs if m.finished]
    new = [[n for n in f if n not in b] for b, f in zip([already, *finished_after], finished_after, strict=False)]
    lines += ["", gpu_later_seeds.sentence(costs, windows_planned, lanes)]
    # Every window after the second makes the second's calls (a machine starts bare: the data again, the
    # unfinished run's checkpoint): the first two in full, then one line a window
    for number, (calls, _) in enumerate(windows_planned[:2], 1):
        lines += ["", f"Window {number}:", "", "| # | call | minutes | work done |", "| --- | --- | --- | --- |"]
        lines += [f"| {i} | {c.what} | {c.minutes:.1f} | {'; '.join(c.work)} |" for i, c in enumerate(calls, 1)]
        used = sum(c.minutes for c in calls)
        lines += ["", f"{used:.1f} of {window:g} minutes; the runs it finishes (trained and evaluated): "
                  f"{_names(new[number - 1])}."]  # fmt: skip
    if len(windows_planned) > 2:
        lines += [
            "",
            "Every later window makes window 2's calls, with `weights` calls before its stint where a run"
            " trained in an earlier window is still to be evaluated (its committed weights), `inbox` calls where"
            " the last stopped trainings mid-way (their checkpoints), and after its stint the `send`s of what it"
            " packed (its checkpoints, zoo entries and later seeds' weights); its stint's work:",
            "",
            "| window | `weights` | `inbox` | the stint | `send`s | the stint's work | the runs it finishes |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        lines += [
            f"| {number} | {sum(1 for c in calls if c.what.startswith('`weights`'))} "
            f"| {sum(1 for c in calls if c.what.startswith('`inbox`'))} "
            f"| {sum(c.stint for c in calls):.1f} | {sum(c.sends for c in calls)} "
            f"| {'; '.join(w for c in calls for w in c.work)} | {', '.join(new[number - 1]) or 'none'} |"
            for number, (calls, _) in enumerate(windows_planned[2:], 3)
        ]
    per_window = f"runs trained and evaluated per window: {', '.join(str(len(n)) for n in new)}"
    lines += ["", per_window[0].upper() + per_window[1:] + "."]
    weights = gpu_later_seeds.weights_back_and_in(windows_planned, lanes)
    lines += ["", weights] * bool(weights)
    speeds = (
        "the estimated speeds" if probe is None else f"the speeds measured by {probe} (estimated where it has none)"
    )
    training = "eager training steps"
    if choice is not None:
        training = f"training at the probe's choice of step mode and K ({choice.step_mode}, K={lanes})"
    started = [m.label for m in costs if not m.finished and (m.done_train > 0 or m.done_evaluate > 0)]
    if state is not None:
        speeds += f" and the full scale's own runs (`{state}`)"
    summary = f"At {speeds} ({training}; attacks searching in TF32, scored in true fp32; `ops/remote-gpu/gpu_plan.py`, "
    summary += "WINDOWS.md)"
    today = " (a session's device time today)" if window == WINDOW else ""
    if already or started:
        where = [f"{_names(already)} done" if already else "", f"{_names(started)} under way" if started else ""]
        summary += (
            f", from where the full scale stands ({' and '.join(filter(None, where))}), the next {window:g}-minute "
            f"window{today} finishes (trained and evaluated) " + _names(new[0])
        )
    else:
        summary += f" one {window:g}-minute window{today} trains and evaluates {_names(finished_after[0])}"
    firsts = windows_until(finished_after, already)
    if len(finished_after) > 1 and firsts:
        summary += f"; windows until a run is trained and evaluated: {_names(firsts)}"
    summary += f"; {per_window}"
    return "\n".join(lines) + "\n", summary + "."


def windows_until(finished_after: list[list[str]], already: list[str]) -> list[str]:
    """ "RUN after N" for each run the windows finish that was not done before them."""
    return [
        f"{name} after {next(i for i, f in enumerate(finished_after, 1) if name in f)}"
        for name in finished_after[-1]
        if name not in already
    ]


def _names(names: list[str]) -> str:
    if not names:
        return "no run"
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


MARKERS = {
    Path(__file__).with_name("WINDOWS.md"): ("<!-- gpu-plan start -->", "<!-- gpu-plan end -->", 0),
    Path(__file__).with_name("README.md"): ("<!-- gpu-plan-summary start -->", "<!-- gpu-plan-summary end -->", 1),
}


# The probe the docs' plan is rendered from: the newest GPU window's, at the full scale's network and batch
DOCS_PROBE = ROOT / "benchmarks" / "nvidia-h200-probe.json"
# A later, shorter probe of K models at once and of evaluation beside training in the step mode DOCS_PROBE
# picked (WINDOWS.md: a window's first call, until it is committed), read with it where it is committed
DOCS_ARRANGEMENT = ROOT / "benchmarks" / "nvidia-h200-arrangement-probe.json"
# The full-scale reproduction the docs' plan starts from (`with_state`)
DOCS_STATE = ROOT / "reproductions" / "paper-cifar10-full"


def docs_arrangement() -> str | None:
    """DOCS_ARRANGEMENT (relative to the checkout) where it is committed, else None."""
    return str(DOCS_ARRANGEMENT.relative_to(ROOT)) if DOCS_ARRANGEMENT.is_file() else None


def docs_probes() -> list[str]:
    """The committed probe records the docs' plan reads: DOCS_PROBE, and DOCS_ARRANGEMENT where committed."""
    return [str(DOCS_PROBE.relative_to(ROOT)), *filter(None, [docs_arrangement()])]


def arrangement_measured(paths: list[str] | None = None) -> bool:
    """Whether probe records (by default the committed ones) timed K models at once and an evaluation beside
    training in the step mode they pick."""
    from sam_bench.bench.probe import read
    from sam_bench.bench.probe_choice import choose

    return not probe_pending(choose(*(read(ROOT / path, error=SystemExit) for path in paths or docs_probes())))


# The docs' plan is today's window; beside it, in one sentence, a 30-minute one (a session's device time once; the
# device README says 15 minutes "at present"), so that what the plan would do with a longer window is a rendered
# figure, not a guess
DOCS_ALSO_AT = 30.0


def rendered_from(
    probe: str | None,
    names: list[str] | None = None,
    windows: int | None = None,
    state: str | None = None,
    window: float = WINDOW,
    also_at: float | None = None,
    arrangement_probe: str | None = None,
) -> tuple[str, str]:
    """`render` at a probe record's measured steps and choice (`probe` None or 'none': the estimates alone),
    with `arrangement_probe`'s ratios of K models at once read beside it (None or 'none': none), from where the
    reproduction folder `state` stands (None or 'none': before any window), in windows of `window` minutes;
    with `also_at`, both parts end with a sentence saying how many windows of that many minutes the same queue
    takes."""
    state = None if state in (None, "none") else state
    if probe in (None, "none"):
        costs, source, choice = model_costs(names), None, None
    else:
        from sam_bench.bench.probe_choice import choose

        measured, device = probe_steps(probe)
        records = [full_scale_probe(probe)]
        source = f"`sam-bench bench --probe` on {device} (`{probe}`)"
        if arrangement_probe not in (None, "none"):
            records.append(full_scale_probe(arrangement_probe))
            other = records[1]["environment"]["device_name"]
            source += f" and its K models at once on {other} (`{arrangement_probe}`)"
        choice = choose(*records)
        costs = model_costs(names, measured, choice, probe_attack_rates(probe))
    if state is not None:
        costs = with_state(costs, ROOT / state, None if probe in (None, "none") else probe_attack_rates(probe))
    before = [dataclasses.replace(m) for m in costs]  # render's windows move the runs on
    text, summary = render(costs, windows, source, choice, state, window)
    if also_at is None:
        return text, summary
    already = [m.label for m in before if m.finished]
    lanes = lanes_for(before, choice, also_at)[0]
    pending = choice is not None and probe_pending(choice)
    finished_after = [
        finished for _, finished in plan(before, None, also_at, *speeds_for(choice, lanes), probe_first=pending)
    ]
    other = (
        f"With {also_at:g}-minute windows instead (the device time a session once had), the"
        f" same calls and costs finish {_names(windows_until(finished_after, already))}."
    )
    return f"{text}\n{other}\n", f"{summary} {other}"


def stints_choice(paths: list[str], state: str | None = None):
    """(the probe records' choice, the K the stints run with, the sentence where it is not the choice's): records
    of the full scale's network (the full probe first) are planned from where `state` stands (`lanes_for`);
    others (a small rehearsal's) keep the choice's K."""
    from sam_bench.bench.probe import read
    from sam_bench.bench.probe_choice import choose

    records = [read(path, error=SystemExit) for path in paths]
    picked = choose(*records)
    s = records[0]["settings"]
    if picked.parallel == 1 or (s.get("arch"), s.get("width"), s["batch_size"]) != ("preactresnet18", 1.0, 128):
        return picked, picked.parallel, ""
    models = model_costs(None, probe_steps(paths[0])[0], picked, probe_attack_rates(paths[0]))
    if state not in (None, "none"):
        models = with_state(models, ROOT / state, probe_attack_rates(paths[0]))
    lanes, lowered = lanes_for(models, picked)
    return picked, lanes, lowered


def next_stint_batches(lanes: int, paths: list[str] | None = None, state: str | None = None) -> int:
    """The batches the next window's stint is sized for with `lanes` models at once (its `start`'s `--batches B`),
    as the plan's first window sizes it from probe records (by default the committed ones, the full probe first)
    and from where the reproduction folder `state` stands (None: DOCS_STATE; 'none': before any window): at least
    `lanes` checkpoints' (gpu_window.batches_for), more where the stint is planned to bring back more, as the own
    weights of later seeds it trains (gpu_schedule.sized_stint)."""
    from sam_bench.bench.probe import read
    from sam_bench.bench.probe_choice import choose

    paths = [str(ROOT / path) for path in paths or docs_probes()]
    choice = choose(*(read(path, error=SystemExit) for path in paths))
    if lanes > 1 and probe_pending(choice):  # K at once not measured: the checkpoints' batches alone
        return batches_for(lanes)
    rates = probe_attack_rates(paths[0])
    models = model_costs(None, probe_steps(paths[0])[0], choice, rates)
    state = str(DOCS_STATE) if state is None else state
    if state != "none":
        models = with_state(models, ROOT / state, rates)
    ((calls, _),) = plan(models, 1, WINDOW, *speeds_for(choice, lanes))
    return next(c.sends for c in calls if c.stint) + 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--windows",
        type=int,
        default=None,
        help="how many windows to plan (default: until the runs of every model trained at several seeds are done)",
    )
    parser.add_argument(
        "--models",
        default=None,
        metavar="RUNS",
        help="the full scale's runs to plan, in order, comma-separated: a model's name for its first seed, "
        "'NAME seed N' for a later one (default: every run, in the scale's work order)",
    )
    parser.add_argument(
        "--window",
        type=float,
        default=WINDOW,
        metavar="MINUTES",
        help="a window's device time in minutes (default: %(default)g, a session's today)",
    )
    parser.add_argument(
        "--write", action="store_true", help="render into WINDOWS.md and README.md's markers (beside this tool)"
    )
    parser.add_argument(
        "--probe",
        default=str(DOCS_PROBE.relative_to(ROOT)),
        metavar="FILE",
        help="a `sam-bench bench --probe` record: its measured eager steps; 'none': the estimates alone "
        "(default: %(default)s, the one the docs are rendered from)",
    )
    parser.add_argument(
        "--state",
        default=str(DOCS_STATE.relative_to(ROOT)),
        metavar="FOLDER",
        help="the full-scale reproduction to plan on from: its finished runs and their GPU minutes; 'none': "
        "before any window (default: %(default)s)",
    )
    parser.add_argument(
        "--arrangement",
        default=docs_arrangement() or "none",
        metavar="FILE",
        help="a shorter probe record of K models at once and of evaluation beside training, read with --probe's "
        "ratios; 'none': none (default: %(default)s)",
    )
    parser.add_argument(
        "--choose",
        nargs="+",
        default=None,
        metavar="FILE",
        help="print the reproduce option the stints take (--parallel K) from probe records read together (the full "
        "probe first), planned from --state where they timed the full scale, and stop",
    )
    parser.add_argument(
        "--batches",
        type=int,
        default=None,
        metavar="K",
        help="print the --batches the next window's stint takes with K models at once (planned from the committed "
        "probes and --state), and stop",
    )
    args = parser.parse_args(argv)
    if args.batches is not None:
        if args.batches < 1:
            parser.error("--batches must be 1 or more models at once")
        print(f"--batches {next_stint_batches(args.batches, state=args.state)}")
        return 0
    if args.choose:
        picked, lanes, lowered = stints_choice(args.choose, args.state)
        print(f"{'; '.join(picked.reasons)}; the scale's step mode: {picked.recipe_line()}.{lowered}", file=sys.stderr)
        print(f"--parallel {lanes}")
        return 0
    if args.windows is not None and args.windows < 1:
        parser.error("--windows must be 1 or more")
    if not 0 < args.window < math.inf:
        parser.error("--window must be a number of minutes above 0")
    names = [n.strip() for n in args.models.split(",")] if args.models else None
    also_at = DOCS_ALSO_AT if args.window == WINDOW else None  # today's window, and the longer one beside it
    rendered = rendered_from(args.probe, names, args.windows, args.state, args.window, also_at, args.arrangement)
    if not args.write:
        print(rendered[0] + "\n" + rendered[1])
        return 0
    from sam_bench.bench import marked_block
    from sam_bench.errors import BadInput

    for path, (start, end, which) in MARKERS.items():
        try:
            marked_block.replace(path, start, end, rendered[which].strip())
        except BadInput as err:
            raise SystemExit(f"gpu_plan: {err}") from None
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
