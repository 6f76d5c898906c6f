"""A results file of `sam-bench evaluate`, checked where it enters (a leaderboard, a report).

A results file carries its own evidence: per-image outcomes, the count of images and the size of the test set.
A hand-edited figure that disagrees with it is refused in one line, so that it never reaches a board: the file fits
its schema; its image counts nest (each evaluation's <= the data set's <= the test set's); its test set is the one
named (`data.FINGERPRINTS`); per-image outcomes cover exactly the images evaluated and give exactly the accuracies
beside them; robust <= clean image by image (except an attack whose images are not the test images: attack_table's
`bounded_by_clean`); an entry with evidence of its own agrees with it (own_entries.py)."""

from __future__ import annotations

import binascii
from pathlib import Path

from sam_bench import files, schema
from sam_bench.data import FINGERPRINTS
from sam_bench.errors import BadInput, SamBenchError
from sam_bench.evaluation import attack_table, outcomes, own_entries

SCHEMA_PREFIX = "sam-bench/eval-results/"  # every version of the results file
FIX = "the results were edited or damaged; evaluate the model again (sam-bench evaluate) to write them afresh"


def read(path) -> dict:
    """The checked results of a file."""
    return check(files.read_json(path), str(path))


def _accuracy(record: dict, n: int, where: str) -> float:
    """The accuracy per-image outcomes give over their first n images."""
    try:
        flags = outcomes.decode(record)
    except (binascii.Error, ValueError) as err:
        raise SamBenchError(f"{where}: per-image outcomes cannot be decoded ({err}); {FIX}") from None
    except SamBenchError as err:
        raise SamBenchError(f"{where}: {err}; {FIX}") from None
    if record["start"] != 0 or record["n"] < n:
        raise SamBenchError(
            f"{where}: per-image outcomes cover images {record['start']}..{record['start'] + record['n'] - 1}, "
            f"not the {n} evaluated; {FIX}"
        )
    return float(flags[:n].sum()) / n


def _same(a: float, b: float, n: int) -> bool:
    return abs(a - b) < 0.5 / n  # one image apart is a different count


def is_results(data) -> bool:
    """Whether `data` (a file's JSON) says it is results of some version, checked or not."""
    return isinstance(data, dict) and str(data.get("schema", "")).startswith(SCHEMA_PREFIX)


def check(results, where: str) -> dict:
    """`results` if it fits the schema and agrees with its own evidence, else a one-line SamBenchError."""
    if not is_results(results):  # another file altogether, not results someone edited
        kind = results.get("schema") if isinstance(results, dict) else None
        said = f"its schema is {kind!r}" if kind is not None else "it names no schema"
        raise BadInput(f"{where}: not a sam-bench results file ({said}); `sam-bench evaluate` writes them")
    schema.check("eval-results", results, where, fix=FIX)
    data = results["dataset"]
    n, total = data["n_examples"], data["n_test_total"]
    if n > total:
        raise SamBenchError(f"{where}: dataset.n_examples ({n}) exceeds the test set's {total} images; {FIX}")
    _check_test_set(data, where)
    counts = results.get("clean_prediction_counts")
    if counts is not None and sum(counts) != n:
        raise SamBenchError(f"{where}: clean_prediction_counts add up to {sum(counts)}, not the {n} images; {FIX}")
    clean_record = results.get("clean_outcomes")
    if clean_record is not None:
        if clean_record["n"] != n:
            raise SamBenchError(f"{where}: clean_outcomes cover {clean_record['n']} images, not {n}; {FIX}")
        acc = _accuracy(clean_record, n, f"{where}: clean_outcomes")
        if not _same(acc, results["clean_acc"], n):
            raise SamBenchError(
                f"{where}: clean_acc is {results['clean_acc']:g}, its per-image outcomes give {acc:g}; {FIX}"
            )
    for i, ev in enumerate(results["evaluations"]):
        name = f"{where}: evaluations[{i}] ({ev['attack']} {ev['norm'] or ''} {ev['eps']})".replace("  ", " ")
        m = ev["n_examples"]
        if m > n:
            raise SamBenchError(f"{name}: n_examples ({m}) exceeds the {n} images evaluated; {FIX}")
        bounded = attack_table.bounded_by_clean(ev["attack"])
        own = own_entries.of(ev["norm"])
        if own is not None:  # its kind's own evidence, checked by its own check
            own.check(ev, name, FIX)
        if bounded and ev["robust_acc"] > ev["clean_acc"] + 0.5 / m:
            raise SamBenchError(
                f"{name}: robust_acc {ev['robust_acc']:g} is above clean_acc {ev['clean_acc']:g}, "
                f"which no attack can give; {FIX}"
            )
        if clean_record is not None:
            acc = _accuracy(clean_record, m, f"{name}: clean_outcomes")
            if not _same(acc, ev["clean_acc"], m):
                raise SamBenchError(
                    f"{name}: clean_acc is {ev['clean_acc']:g}, the per-image outcomes give {acc:g}; {FIX}"
                )
        if ev.get("outcomes") is not None:
            if ev["outcomes"]["n"] != m:
                raise SamBenchError(f"{name}: outcomes cover {ev['outcomes']['n']} images, not {m}; {FIX}")
            acc = _accuracy(ev["outcomes"], m, f"{name}: outcomes")
            if not _same(acc, ev["robust_acc"], m):
                raise SamBenchError(
                    f"{name}: robust_acc is {ev['robust_acc']:g}, its per-image outcomes give {acc:g}; {FIX}"
                )
            if clean_record is not None and bounded:
                impossible = int((outcomes.decode(ev["outcomes"]) & ~outcomes.decode(clean_record)[:m]).sum())
                if impossible:
                    raise SamBenchError(
                        f"{name}: its outcomes count {impossible} image{'s' if impossible > 1 else ''} robust that "
                        f"the clean pass got wrong, which no attack can give; {FIX}"
                    )
    return results


def _check_test_set(data: dict, where: str) -> None:
    """The test set is the one its name says: the fingerprint of a data set with fixed arrays is carried under its
    own name only, and such a data set is named with its own size. (A copy of CIFAR-10 that is not the canonical
    one, say a stand-in of other images under its name, carries another fingerprint: that a board or a zoo entry
    refuses where it knows the data the model was trained with.)"""
    by_fingerprint = {sha: name for name, (sha, _) in FINGERPRINTS.items()}
    carried = by_fingerprint.get(str(data.get("sha256")))
    if carried is not None and carried != data["name"]:
        raise SamBenchError(f"{where}: dataset.name is {data['name']!r}, but its fingerprint is {carried}'s; {FIX}")
    named = FINGERPRINTS.get(data["name"])
    if named is not None and data["n_test_total"] != named[1]:
        said = f"the {data['name']} test set has {named[1]:,} images, the results say {data['n_test_total']:,}"
        raise SamBenchError(f"{where}: {said}; {FIX}")


def check_known_test_set(name: str, sha256: str | None, where: str) -> None:
    """A data set with fixed arrays (`data.FINGERPRINTS`) named with another fingerprint is refused: its name
    says CIFAR-10, its images are others (a stand-in of easy images would put any accuracy on a board). Checked
    where figures are published (a board, a report's figures), not where results are read: an evaluation on a
    copy of one's own is legal, only not under the name of the benchmark's test set."""
    named = FINGERPRINTS.get(name)
    if named is not None and sha256 != named[0]:
        raise SamBenchError(
            f"{where}: the results name the {name} test set, but their data's fingerprint "
            f"(sha256 {str(sha256)[:12]}) is not {name}'s ({named[0][:12]}): other images under "
            f"its name are not published; evaluate on the {name} data set itself"
        )


# ---------------------------------------------------------------- where new results may be written


def _same_settings(existing: dict, wanted: dict) -> bool:
    def attacks(r: dict) -> list:
        return [(e.get("attack"), e.get("norm"), e.get("eps"), e.get("settings")) for e in r.get("evaluations", [])]

    data = existing.get("dataset") or {}
    return (
        attacks(existing) == attacks(wanted)
        and data.get("name") == wanted["dataset"]["name"]
        and data.get("n_examples") == wanted["dataset"]["n_examples"]
        and existing.get("precision") == wanted["precision"]
    )


def conflict(path: Path, wanted: dict) -> str | None:
    """Why new results may not replace what is at `path`: None when nothing is there, or only results of the same
    model (weights sha256) with the same settings (the same evaluation, run again). `wanted`: the new results or
    their outline (model.weights_sha256, dataset.name and n_examples, precision, evaluations' budgets and settings)."""
    path = Path(path)
    if not path.exists():
        return None
    if path.is_dir():
        return "is a folder"
    try:
        existing = files.read_json(path)
    except SamBenchError:
        existing = {}
    if not is_results(existing):
        return "exists and is not a results file"
    model = existing["model"] if isinstance(existing.get("model"), dict) else {}
    if model.get("weights_sha256") != wanted["model"]["weights_sha256"]:
        return (
            f"holds the results of another model ({model.get('ref')}, weights sha256 "
            f"{str(model.get('weights_sha256'))[:12]})"
        )
    if wanted["dataset"]["n_examples"] is None:  # the whole test set: as many as the file's test set holds
        data = existing.get("dataset") or {}
        wanted = {**wanted, "dataset": {**wanted["dataset"], "n_examples": data.get("n_test_total")}}
    if not _same_settings(existing, wanted):
        return "holds this model's results with other settings (attacks, eps, test images or precision)"
    return None


def available_name(path: Path, wanted: dict) -> Path:
    """The first of <stem>-2, <stem>-3, ... beside `path` that is free or holds this very evaluation
    (so that running the same command again continues and replaces its own file, not a new one)."""
    path = Path(path)
    i = 2
    while conflict(path.with_name(f"{path.stem}-{i}{path.suffix}"), wanted) is not None:
        i += 1
    return path.with_name(f"{path.stem}-{i}{path.suffix}")
