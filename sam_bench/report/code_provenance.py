"""Which confirmatory runs count: a run's records must name code that holds the primary tests as they were fixed,
that is, descends from the commit that fixed them (recipes.endpoints.set_in_commit; the rule in docs/reproducing.md
and, in the report's words, `lines`). Where no commit holds the endpoints every confirmatory seed is taken, and the
report says the tests read as post hoc.
"""

from __future__ import annotations

import functools
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sam_bench import files
from sam_bench.recipes.endpoints import Endpoints, set_in_commit
from sam_bench.recipes.recipe import RECIPE_DIR
from sam_bench.report.run_record import RunRecord
from sam_bench.runtime import code_identity

REPO = code_identity.ROOT  # the checkout whose history the recipe's commits are read from


@dataclass(frozen=True)
class CodeCheck:
    """What a run's training record names of its code, and whether that code holds the fixed tests."""

    counts: bool
    named: str  # "commit 76cb06dfa5", "code fingerprint 1a2b3c4d5e6f (commit 5fc6f3867e)", "no code"
    why: str = ""  # where it does not count: the reason


def fixed(plan: dict) -> dict | None:
    """The commit that fixed the plan's primary tests and confirmatory seeds ({"commit", "date"}), or None."""
    recipe = RECIPE_DIR / f"{plan['name']}.yaml"
    if not recipe.is_file():
        return None
    described = json.dumps(Endpoints.from_plan(plan).describe(), sort_keys=True)
    return _fixed(str(recipe), plan["name"], plan["scale"], described)


@functools.lru_cache(None)
def _fixed(recipe: str, name: str, scale: str, described: str) -> dict | None:
    """set_in_commit, once per recipe, scale and endpoints (every section of a report and the README ask)."""
    return set_in_commit(recipe, name, scale, Endpoints.from_plan(json.loads(described)))


def counts(run_dir: Path, plan: dict) -> bool:
    """Whether a run of the plan's confirmatory seeds counts, from its run folder's metadata (True where the rule
    cannot be applied, or the run has not trained yet)."""
    fix = fixed(plan)
    metadata = run_dir / "metadata.json"
    if fix is None or not metadata.is_file():
        return True
    recorded = files.read_json(metadata)
    return check_code(recorded.get("code_commit"), recorded.get("code_fingerprint"), fix["commit"]).counts


def check_code(commit: str | None, fingerprint: str | None, fixing_commit: str) -> CodeCheck:
    """The rule (docs/reproducing.md) applied to what a training record names of its code."""
    named_commit = commit.split("+")[0] if commit else None
    if fingerprint:
        if named_commit and code_identity.of_commit(named_commit, REPO) == fingerprint:
            match: str | None = named_commit
        else:
            match = next((c for c in _descendants(fixing_commit) if _fingerprint(c) == fingerprint), None)
        named = f"code fingerprint {fingerprint[:12]}" + (f" (commit {match[:10]})" if match else "")
        if match is None:
            return CodeCheck(False, named, "no commit of this checkout from the fixing one on has these files")
        if not _descends(match, fixing_commit):
            return CodeCheck(False, named, "that commit does not hold the tests (it precedes their fixing)")
        return CodeCheck(True, named)
    if commit is None:
        return CodeCheck(False, "no code", "its record names no commit and no code fingerprint")
    if commit != named_commit:
        return CodeCheck(
            False, f"commit {commit}", "a commit with uncommitted changes or named by a copied tree, and no fingerprint"
        )
    if not _descends(commit, fixing_commit):
        return CodeCheck(False, f"commit {commit[:10]}", "that commit does not hold the tests")
    return CodeCheck(True, f"commit {commit[:10]}")


def split(records: list[RunRecord], plan: dict) -> tuple[list[RunRecord], list[tuple[RunRecord, CodeCheck]]]:
    """(the confirmatory seeds' runs that count, those that do not with why), in the records' order."""
    seeds = Endpoints.from_plan(plan).confirmatory_seeds
    runs = [r for r in records if r.seed in seeds.get(r.name, [])]
    fix = fixed(plan)
    if fix is None:
        return runs, []
    checked = [(r, check_code(r.training.code_commit, r.training.code_fingerprint, fix["commit"])) for r in runs]
    return [r for r, c in checked if c.counts], [(r, c) for r, c in checked if not c.counts]


def seeds(records: list[RunRecord], plan: dict) -> dict[str, list[int]]:
    """Each model's confirmatory seeds less those whose runs do not count: what its primary tests are judged over."""
    _, dropped = split(records, plan)
    out = {(r.name, r.seed) for r, _ in dropped}
    listed = Endpoints.from_plan(plan).confirmatory_seeds
    return {name: [s for s in wanted if (name, s) not in out] for name, wanted in listed.items()}


def lines(records: list[RunRecord], plan: dict) -> list[str]:
    """The report's paragraph: which commit fixed the tests, the rule, and each confirmatory run that does not count."""
    fix = fixed(plan)
    if fix is None:
        return [
            "⚠ No commit of this checkout's recipe holds these endpoints as they are (not committed, or changed "
            "since): the tests below cannot be shown to have been fixed before the runs; read them as post hoc."
        ]
    recipe = (RECIPE_DIR / f"{plan['name']}.yaml").relative_to(RECIPE_DIR.parents[1])
    counted, dropped = split(records, plan)
    text = [
        f"The primary tests and the confirmatory sample were fixed in commit `{fix['commit'][:10]}` ({fix['date']}, "
        f"`{recipe}`, scale `{plan['scale']}`).",
        "",
        "A confirmatory seed's run counts where its training record names the code that trained it and that code "
        f"holds these tests: its code fingerprint is that of a commit from `{fix['commit'][:10]}` on, or, in a record "
        "from before fingerprints were recorded, the commit it names (without uncommitted changes) is one. A run "
        "that does not count is exploratory: its results join the pooled verdicts, and the primary tests are "
        "judged over the confirmatory seeds whose runs count "
        "([the rule](../../sam_bench/report/code_provenance.py)).",
        "",
    ]
    runs = len(counted) + len(dropped)
    if not runs:
        return text + ["No confirmatory run has results yet."]
    text.append(f"{len(counted)} of the {runs} confirmatory runs with results count.")
    if dropped:
        text += ["", "Confirmatory runs that do not count (exploratory):", ""]
        text += [f"- {r.name} seed {r.seed} (`{r.name}-{r.key}`): {c.named}: {c.why}." for r, c in dropped]
    return text


@functools.lru_cache(None)
def _fingerprint(commit: str) -> str | None:
    return code_identity.of_commit(commit, REPO)


@functools.lru_cache(None)
def _descendants(commit: str) -> tuple[str, ...]:
    """The fixing commit and every commit of this checkout's history that descends from it, newest first."""
    done = subprocess.run(
        ["git", "-C", str(REPO), "rev-list", "--ancestry-path", f"{commit}..HEAD"], capture_output=True, text=True
    )
    later = done.stdout.split() if done.returncode == 0 else []
    return (*later, commit)


@functools.lru_cache(None)
def _descends(commit: str, ancestor: str) -> bool:
    done = subprocess.run(
        ["git", "-C", str(REPO), "merge-base", "--is-ancestor", ancestor, commit], capture_output=True
    )
    return done.returncode == 0
