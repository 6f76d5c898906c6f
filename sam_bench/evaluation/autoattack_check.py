"""What a spot check (spot_check.py) asks of an AutoAttack evaluation before it measures it again: that what it
says it ran agrees with itself (a version's own attacks, a first attack's whole restarts, a breakdown of those
attacks bounded by its outcomes), and what runs again: its version's attacks from its seed, with its first attack's
recorded restarts. Its first attacks replayed whole: autoattack_replay.py."""

from __future__ import annotations

from pathlib import Path

from sam_bench.attacks.autoattack import attack_names
from sam_bench.autoattack_versions import ATTACK_NAMES, VERSIONS
from sam_bench.errors import SamBenchError
from sam_bench.evaluation.autoattack_replay import first_restarts
from sam_bench.evaluation.stratum_check import FIX

# AutoAttack's breakdown is its own count, scored in the search math: it may differ from the fp32 outcomes on an
# image or two whose top logits tie within that math's rounding (1 of 10,000 in the committed GPU files).
BREAKDOWN_SLACK_IMAGES = 2


def rerun(path: Path, name: str, evaluation) -> tuple[dict, str]:
    """(the settings AutoAttack runs again with, what runs again in words: 'autoattack (standard: apgd-ce, ...)') of
    an evaluation named `name` whose labels agree with themselves; one line (SamBenchError) where they do not."""
    settings = evaluation.settings
    if settings["version"] not in VERSIONS:
        raise SamBenchError(f"{path}: {name}: {settings['version']!r} is no AutoAttack version; {FIX}")
    if not settings["attacks"] or any(a not in ATTACK_NAMES for a in settings["attacks"]):
        raise SamBenchError(
            f"{path}: {name}: lists no AutoAttack attacks it could have run ({settings['attacks']}); {FIX}"
        )
    restarts = first_restarts(settings)
    if not isinstance(restarts, int) or isinstance(restarts, bool) or restarts < 1:
        raise SamBenchError(
            f"{path}: {name}: its first attack's restarts ({restarts!r}) are no whole number >= 1; {FIX}"
        )
    norm = evaluation.norm
    if settings["version"] != "custom" and settings["attacks"] != attack_names(settings["version"], norm):
        raise SamBenchError(
            f"{path}: {name}: AutoAttack's {settings['version']} version runs "
            f"{', '.join(attack_names(settings['version'], norm))}, the file lists "
            f"{', '.join(settings['attacks'])}; {FIX}"
        )
    breakdown = evaluation.breakdown
    if breakdown is not None and list(breakdown) != ["clean", *settings["attacks"]]:
        raise SamBenchError(
            f"{path}: {name}: its breakdown names {', '.join(breakdown)}, not the clean pass and its attacks "
            f"({', '.join(settings['attacks'])}); {FIX}"
        )
    check_breakdown(path, name, evaluation)
    return {**settings, "restarts": restarts}, f"autoattack ({settings['version']}: {', '.join(settings['attacks'])})"


def check_breakdown(path: Path, name: str, evaluation) -> None:
    """An AutoAttack breakdown bounded by the outcomes it summarises, in one line where not: it starts at the
    clean accuracy, never rises from one attack to the next, and ends at the robust accuracy (each end within
    BREAKDOWN_SLACK_IMAGES)."""
    breakdown = evaluation.breakdown
    if breakdown is None:
        return
    values, n = [float(v) for v in breakdown.values()], evaluation.n_examples or 1
    ends = (values[0], float(evaluation.clean_acc or 0)), (values[-1], float(evaluation.robust_acc or 0))
    if any(abs(a - b) > (BREAKDOWN_SLACK_IMAGES + 0.5) / n for a, b in ends) or any(
        b > a for a, b in zip(values, values[1:])
    ):
        raise SamBenchError(
            f"{path}: {name}: its breakdown ({', '.join(f'{k} {v:g}' for k, v in breakdown.items())}) "
            f"is not a falling sequence from the clean accuracy {evaluation.clean_acc:g} to the robust accuracy "
            f"{evaluation.robust_acc:g}; {FIX}"
        )
