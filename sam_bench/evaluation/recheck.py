"""Re-measuring results from the stored weights: does a results file say what its model really scores?

`recheck` loads the weights a results file names (from the zoo or a run folder, their sha256 checked), evaluates
them again through `benchmark` with the recorded settings, chunks and batches, and compares the outcome of every
image, attack by attack. On the machine, torch and threads that measured them the outcomes come back identical;
elsewhere a few images at a budget's edge can flip, and the record keeps both environments so that a difference
can be read. A reused run's recheck is carried over from the folder it was reused from (`carried_from`);
`n_examples` rechecks whole recorded chunks from the first; `restored_outcomes` compares a retrain that brought
lost weights back (`zoo keep --from`). docs/evaluation.md says more."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from sam_bench import files, schema
from sam_bench.data import Dataset, load_dataset
from sam_bench.errors import BadInput
from sam_bench.evaluation import attack_table, evaluators, outcomes, results_file
from sam_bench.evaluation.batching import AUTO
from sam_bench.evaluation.model_ref import load_model_ref
from sam_bench.evaluation.results_record import Evaluation, Results
from sam_bench.evaluation.specs import AttackSpec
from sam_bench.rundir.model import reused_origin
from sam_bench.runtime.provenance import resolve_device

SCHEMA = "sam-bench/recheck/v1"
# What of a measuring environment decides the arithmetic: compared between the recorded and this one.
ENVIRONMENT_KEYS = ("torch_version", "device", "cpu_threads", "cpu_isa")


def recorded_threads(env: dict) -> int | None:
    """The CPU threads an evaluation ran with: recorded as `cpu_threads`, or (older files) in the device's
    name, "cpu (x86_64, 1 threads)"."""
    if isinstance(env.get("cpu_threads"), int):
        return env["cpu_threads"]
    found = re.search(r"(\d+) threads", str(env.get("device_name", "")))
    return int(found.group(1)) if found else None


NO_OUTCOMES = "the results record no per-image outcomes to compare with (written before they were); evaluate again"


def _spec(evaluation: Evaluation, n: int) -> AttackSpec:
    """The attack exactly as recorded, on at most the first n images."""
    own = evaluation.n_examples
    return AttackSpec(
        evaluation.attack,
        evaluation.norm,
        float(evaluation.eps_value or 0.0),
        evaluation.settings,
        n_examples=own if own is not None and own < n else None,
    )


def label(evaluation: Evaluation) -> str:
    """How an evaluation is named in a recheck: 'clean', 'pgd Linf 2/255', 'autoattack Linf 8/255', and an
    AutoAttack other than the standard version with its version ('... (custom: apgd-ce, apgd-t)'): one
    budget may be attacked by both."""
    if attack_table.is_clean(evaluation.attack):
        return evaluation.attack
    if evaluation.eps is None:  # a threat model whose budget is no eps: named by its own options' values (its set)
        return f"{evaluation.attack} on {evaluators.of(evaluation.norm).label(evaluation.settings)}"
    name = f"{evaluation.attack} {evaluation.norm} {evaluation.eps}"
    s = evaluation.params
    if attack_table.has_versions(evaluation.attack) and (s.version or "standard") != "standard":
        name += f" ({s.version}" + (f": {', '.join(s.attacks)})" if s.attacks else ")")
    return name


def compare(recorded: dict, remeasured: dict, n: int) -> dict:
    """Two per-image outcome records (sam_bench.evaluation.outcomes) over their first n images."""
    a, b = outcomes.decode(recorded)[:n], outcomes.decode(remeasured)[:n]
    if len(a) < n or len(b) < n:
        raise BadInput(f"the outcomes cover {min(len(a), len(b))} images, not the {n} compared")
    return {
        "n": n,
        "recorded_correct": int(a.sum()),
        "remeasured_correct": int(b.sum()),
        "images_differing": int((a != b).sum()),
    }


def outcomes_compared(recorded: dict, retrained: dict) -> tuple[list[str], list[str]]:
    """(equal, differing): the recorded results' evaluations that hold per-image outcomes, by `label`, split by
    whether a retrained run's results hold the same outcomes (same images, every image classified alike) for
    the same evaluation. A bit-identical retrain should give every one equal; an evaluation the retrained
    results lack counts as differing."""
    again = {label(e): e.outcomes for e in Results.of(retrained).evaluations}
    equal: list[str] = []
    differing: list[str] = []
    for evaluation in Results.of(recorded).evaluations:
        if evaluation.outcomes is not None:
            name = label(evaluation)
            (equal if again.get(name) == evaluation.outcomes else differing).append(name)
    return equal, differing


def restored_outcomes(recorded: Path, retrained: Path) -> str:
    """One line on whether a restored run's retrain (`zoo keep --from`) evaluated as the recorded run did,
    image by image: the two runs' results files."""
    if not (recorded.is_file() and retrained.is_file()):
        return "per-image outcomes not compared (a results file is missing)"
    equal, differing = outcomes_compared(files.read_json(recorded), files.read_json(retrained))
    total = len(equal) + len(differing)
    if not total:
        return "per-image outcomes not compared (the recorded results hold none)"
    if differing:
        return f"per-image outcomes differ in {len(differing)} of {total} recorded evaluations: {', '.join(differing)}"
    return f"per-image outcomes equal in {total} of {total} recorded evaluations"


def checked_attacks(attacks: list[str] | None) -> list[str] | None:
    """The attacks asked for, refused in one line unless each is one an evaluation runs."""
    unknown = [a for a in attacks or [] if a not in attack_table.TABLE]
    if unknown:
        raise BadInput(f"--attacks: {unknown[0]!r} is no attack; choose from {', '.join(attack_table.names())}")
    return attacks


def named_weights(path: Path, results: Mapping, zoo_dir=None, ref: str | None = None) -> tuple:
    """(model, LoadedModel) of the weights a results file measured: from its zoo id or run folder, or from `ref`
    (a run folder, checkpoint or zoo id known to hold them), refused in one line unless their sha256 is the one
    the results record."""
    recorded = Results(results.as_dict() if isinstance(results, Results) else dict(results), path)
    model_block = recorded.model
    ref = ref or recorded.model_ref
    if not ref:
        raise BadInput(f"{path}: the results name no zoo id or run folder to load the weights from")
    model, info = load_model_ref(ref, zoo_dir=zoo_dir)
    if info.record.get("weights_sha256") != model_block.weights_sha256:
        raise BadInput(
            f"{path}: {ref} holds other weights (sha256 {str(info.record.get('weights_sha256'))[:12]}…) than the "
            f"results measured ({str(model_block.weights_sha256)[:12]}…)"
        )
    return model, info


def measured_data(path: Path, results: Mapping, data_dir=None) -> Dataset:
    """The test set a results file was measured on, refused in one line unless the data here are those images."""
    test_set = Results.of(results).dataset
    data = load_dataset(test_set.name, data_dir)
    if data.fingerprint() != test_set.sha256:
        raise BadInput(f"{path}: the {data.name} test data here differ from the data the results were measured on")
    if len(data.y_test) != test_set.n_test_total:
        raise BadInput(
            f"{path}: the {data.name} test data here hold {len(data.y_test):,} images, the results name a test set "
            f"of {test_set.n_test_total:,}"
        )
    return data


def recheck_file(
    path: str | Path,
    *,
    zoo_dir=None,
    data_dir=None,
    n_examples: int | None = None,
    attacks: list[str] | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> dict:
    """Evaluate again the weights a results file names, with its settings, and compare image by image."""
    path = Path(path)
    results = Results.read(path)
    model, info = named_weights(path, results, zoo_dir)
    ref = info.record["ref"]
    data = measured_data(path, results, data_dir)

    recorded_n = results.dataset.n_examples
    assert recorded_n is not None, "a results file its schema passed names its images"
    attacks = checked_attacks(attacks)
    chosen = [e for e in results.evaluations if attacks is None or e.attack in attacks]
    if not chosen:
        raise BadInput(f"{path}: no evaluation of the attacks {', '.join(attacks or [])} to recheck")
    own = [e for e in chosen if e.own_outcomes]  # outcomes of its threat model's own: measured by its own runner
    chosen = [e for e in chosen if not e.own_outcomes]
    clean = results.clean_outcomes
    if clean is None or any(not e.outcomes for e in chosen):
        raise BadInput(f"{path}: {NO_OUTCOMES}")
    # Results from before the batch size was recorded ran with the automatic one (AUTO), as the recheck does.
    sizes = {(e.chunks["size"], e.chunks.get("batch_size", AUTO)) for e in chosen + own if e.chunks}
    if len(sizes) != 1 or any(not e.chunks for e in chosen + own):
        raise BadInput(f"{path}: the results do not record one chunk and batch size for their evaluations")
    chunk_size, batch_size = sizes.pop()
    n = recorded_n if n_examples is None else min(n_examples, recorded_n)
    if n < 1 or (n != recorded_n and n % chunk_size):
        raise BadInput(
            f"--n-examples must be a positive multiple of the recorded chunk size ({chunk_size}) so that every "
            f"chunk runs as it did, got {n_examples}"
        )

    dev = resolve_device(device)
    threads = recorded_threads(results.environment) if dev.type == "cpu" else None
    specs = [_spec(e, n) for e in chosen] or [AttackSpec("clean", None, 0.0, {})]  # the clean pass at least
    settings = dict(
        n_examples=n, precision=results.precision, batch_size=batch_size, chunk_size=chunk_size, progress=progress
    )
    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)  # CPU results differ with the thread count
    try:
        with tempfile.TemporaryDirectory() as folder:  # the results benchmark writes are read here, not kept
            out = Path(folder) / "results.json"
            found = evaluators.benchmark(ref, None, specs, data, str(dev), out=out, loaded=(model, info), **settings)
    finally:
        torch.set_num_threads(before)
    assert found is not None, "a recheck runs on one process"
    again = found[1]

    compared = [{"evaluation": "clean", **compare(clean, again["clean_outcomes"], n)}]
    for old, new in zip(chosen, Results.of(again).evaluations):
        if attack_table.is_clean(old.attack):
            continue  # the clean pass, compared above
        assert old.outcomes and new.outcomes and new.n_examples, "both record their per-image outcomes"
        compared.append({"evaluation": label(old), **compare(old.outcomes, new.outcomes, new.n_examples)})
    for old in own:  # every image of its own sets, one record over them, measured again by its evaluator
        recorded, now = evaluators.of(old.norm).remeasure(model, old, data, min(n, old.n_examples or n), dev, data_dir)
        compared.append({"evaluation": label(old), **compare(recorded, now, recorded["n"])})
    here = again["environment"]
    return {
        "results": str(path),
        "results_sha256": files.sha256_file(path),
        "model": ref,
        "weights_sha256": results.model.weights_sha256,
        "n_examples": n,
        "evaluations": compared,
        "identical": all(c["images_differing"] == 0 for c in compared),
        "rechecked": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "recorded_environment": {k: results.environment.get(k) for k in ENVIRONMENT_KEYS},
        "environment": {k: here.get(k) for k in ENVIRONMENT_KEYS},
    }


def already_done(entry: dict | None, path: Path, n_examples: int | None, attacks: list[str] | None) -> bool:
    """Whether a recheck record's entry already covers this results file as it is now, on the images and
    attacks asked for (a fuller recheck covers a part of it): an interrupted recheck of a folder goes on from
    the next model."""
    if entry is None or entry["results_sha256"] != files.sha256_file(path):
        return False
    results = Results.read(path)
    recorded_n = results.dataset.n_examples
    assert recorded_n is not None, "a results file its schema passed names its images"
    n = recorded_n if n_examples is None else min(n_examples, recorded_n)
    wanted = {"clean"} | {
        label(e)
        for e in results.evaluations
        if not attack_table.is_clean(e.attack) and (attacks is None or e.attack in attacks)
    }
    return entry["n_examples"] == n and wanted <= {c["evaluation"] for c in entry["evaluations"]}


def merged(earlier: dict | None, checked: dict, path: Path) -> dict:
    """A recheck of some of a results file's attacks (`--attacks`) added to the record's earlier recheck of
    the same file as it is now, on the same images and in the same environment, instead of replacing it: the
    earlier evaluations not rechecked now are kept, in the order of the results file. Any other earlier
    entry (another file, other images, another machine, one carried over) is replaced."""
    if earlier is None or earlier.get("carried_from"):
        return checked
    if any(earlier.get(k) != checked[k] for k in ("results_sha256", "n_examples", "environment")):
        return checked
    now = {c["evaluation"] for c in checked["evaluations"]}
    kept = [c for c in earlier["evaluations"] if c["evaluation"] not in now]
    recorded = Results.of(results_file.read(path)).evaluations
    order = ["clean"] + [label(e) for e in recorded if not attack_table.is_clean(e.attack)]
    evaluations = sorted(checked["evaluations"] + kept, key=lambda c: order.index(c["evaluation"]))
    return checked | {"evaluations": evaluations, "identical": all(c["images_differing"] == 0 for c in evaluations)}


def carried_over(folder: Path, path: Path, n_examples: int | None, attacks: list[str] | None) -> dict | None:
    """The recheck of a reused run's results file made in the folder it was reused from, if that record
    covers the very same file (sha256) on the images and attacks asked for, marked `carried_from` (that
    record, relative to `folder`); None otherwise."""
    candidates = reused_origin(folder, path.stem, "results")
    if not candidates:
        return None  # trained here, or evaluated again here
    for results in candidates:
        record_path = results.parent.parent / "recheck.json"
        if not record_path.is_file():
            continue
        entry = next((m for m in read(record_path)["models"] if m["results"] == f"results/{results.name}"), None)
        # only a recheck made there: one carried there in turn would name a record relative to another folder
        if entry and not entry.get("carried_from") and already_done(entry, path, n_examples, attacks):
            return entry | {"results": f"results/{path.name}", "carried_from": os.path.relpath(record_path, folder)}
    return None


def has_outcomes(results: Mapping) -> bool:
    """Whether a results file records the per-image outcomes of its clean pass and every attack."""
    read = Results.of(results)
    return read.clean_outcomes is not None and all(e.outcomes for e in read.evaluations)


def published_results(folder: Path) -> tuple[list[Path], list[Path]]:
    """A reproduction folder's results files of models in the zoo, the models whose weights are committed (a
    model's other seeds keep their weights in the ignored run folders): those that can be rechecked, and
    those written before per-image outcomes were recorded, which cannot."""
    found = sorted((folder / "results").glob("*.json"))
    if not found:
        raise BadInput(f"{folder}: no results/*.json (not a reproduction folder, or nothing evaluated yet)")
    published = [(p, results_file.read(p)) for p in found]
    published = [(p, r) for p, r in published if r["model"].get("zoo_id")]
    return [p for p, r in published if has_outcomes(r)], [p for p, r in published if not has_outcomes(r)]


def record(rechecks: list[dict]) -> dict:
    """The recheck record written beside the results (`recheck.schema.json`)."""
    return {
        "schema": SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "models": rechecks,
        "identical": all(m["identical"] for m in rechecks),
        "images_differing": int(np.sum([c["images_differing"] for m in rechecks for c in m["evaluations"]])),
    }


def read(path: str | Path) -> dict:
    """A recheck record, checked against `recheck.schema.json` where it enters (the report, a later recheck)."""
    return schema.check("recheck", files.read_json(path), str(path), fix="delete it and run sam-bench recheck again")
