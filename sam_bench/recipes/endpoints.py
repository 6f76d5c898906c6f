"""A scale's endpoints, fixed before its runs: the primary test of each claim, the confirmatory seeds and the
extension tests beyond the paper's claims, read and checked here once against the scale's own models and
evaluation, written into plan.json, and traced to the commit that set them (`set_in_commit`). What each holds
and how the report judges by it: docs/reproducing.md."""

from __future__ import annotations

import subprocess
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import yaml

from sam_bench.corruptions import catalogue as corruption_catalogue
from sam_bench.eps import format_eps, parse_eps
from sam_bench.errors import BadInput
from sam_bench.evaluation.results_record import Evaluation
from sam_bench.training import method_table

# The claims a primary test can be named for (C4 is a cost measurement, judged from cost.json)
CLAIMS_WITH_A_TEST = ("C1", "C2", "C3")


@dataclass(frozen=True)
class PrimaryTest:
    claim: str
    attack: str  # clean | pgd | autoattack
    images: int  # judged on the first N test images
    norm: str | None = None
    eps: str | None = None  # as RobustBench writes it ("2/255")
    version: str | None = None  # AutoAttack's
    attacks: tuple[str, ...] | None = None  # AutoAttack's, for version custom
    models: tuple[str, str] | None = None  # C3's: (the AT model, the SAM model)

    def label(self) -> str:
        """'clean on 10,000 images', 'AutoAttack (APGD-CE + APGD-T) Linf 2/255 on 1,000 images'; C3's
        'PGD Linf 8/255 and clean on ...'."""
        return f"{self.measure_label()}{' and clean' if self.models else ''} on the first {self.images:,} test images"

    def measure_label(self) -> str:
        """The measure alone: 'clean', 'PGD Linf 8/255', 'AutoAttack (APGD-CE + APGD-T) Linf 2/255'."""
        if self.attack == "clean":
            return "clean"
        if self.attack == "pgd":
            return f"PGD {self.norm} {self.eps}"
        kind = "standard" if self.version == "standard" else " + ".join(a.upper() for a in self.attacks or ())
        return f"AutoAttack ({kind}) {self.norm} {self.eps}"

    def matches(self, evaluation: Evaluation) -> bool:
        """Whether a results file's evaluation entry is this test's measure (on at least its images)."""
        if evaluation.attack != self.attack or evaluation.norm != self.norm:
            return False
        if abs(float(evaluation.eps_value or 0.0) - parse_eps(str(self.eps))) > 1e-9:
            return False
        if self.attack == "autoattack":
            s = evaluation.params
            if s.version != self.version or (self.version == "custom" and tuple(s.attacks) != self.attacks):
                return False
        return int(evaluation.n_examples or 0) >= self.images

    def measure(self) -> tuple:
        """The measure as a run record's `evaluation(...)` and `comparison.compare` take it, with `select()`."""
        return ("clean",) if self.attack == "clean" else (self.attack, self.norm, self.eps)

    def select(self) -> dict:
        return {"version": self.version, "attacks": self.attacks, "images": self.images}

    def record(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items() if v is not None}


# The measures an extension test can take: the mean accuracy over a corruption set's 75 corruptions and severities
EXTENSION_MEASURES = ("corruptions",)


@dataclass(frozen=True)
class ExtensionTest:
    """A question beyond the paper's claims, fixed before its data: `models[0]` - `models[1]` on the measure,
    over their confirmatory seeds; `beside`: models shown next to them (secondary), like the breakdown."""

    name: str  # E1, E2, ...
    attack: str  # corruptions
    corruption_set: str  # catalogue.SETS
    images: int  # the first N test images, at every corruption and severity
    models: tuple[str, str]
    beside: tuple[str, ...] = ()
    # where `corruption_set` is the official CIFAR-10-C: the generated set measured on a machine without its files
    # (the results and boards say which set each figure is of)
    fallback_set: str | None = None

    def arms(self) -> tuple[str, ...]:
        """The models the test measures: the two it compares, then those beside them."""
        return tuple(dict.fromkeys((*self.models, *self.beside)))

    def label(self) -> str:
        fallback = f" ({self.fallback_set} where its files are absent)" if self.fallback_set else ""
        return (
            f"mean accuracy over {self.corruption_set}'s 15 corruptions x 5 severities{fallback} on the first "
            f"{self.images:,} test images"
        )

    def measure(self) -> str:
        """The measure as a finding says it, the set it was measured on named apart."""
        return "mean accuracy over the 15 corruptions x 5 severities"

    def record(self) -> dict:
        return {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in asdict(self).items()
            if k != "name" and not (k == "fallback_set" and v is None)
        }


@dataclass(frozen=True)
class Endpoints:
    primary_tests: dict[str, PrimaryTest]  # by claim
    confirmatory_seeds: dict[str, list[int]]  # by model name
    extension_tests: dict[str, ExtensionTest] = field(default_factory=dict)  # by name

    def describe(self) -> dict:
        """What plan.json holds (empty when the scale fixes no endpoint)."""
        out = {
            "primary_tests": {c: t.record() for c, t in self.primary_tests.items()},
            "confirmatory_seeds": self.confirmatory_seeds,
            "extension_tests": {name: t.record() for name, t in self.extension_tests.items()},
        }
        return {k: v for k, v in out.items() if v}

    @classmethod
    def from_plan(cls, plan: dict) -> Endpoints:
        """The endpoints a reproduction's plan.json recorded (checked when the recipe was read)."""
        tests = {  # its lists as the tuples a test holds
            claim: PrimaryTest(**{**t, "claim": claim, **{k: tuple(t[k]) for k in ("attacks", "models") if t.get(k)}})
            for claim, t in (plan.get("primary_tests") or {}).items()
        }
        extensions = {
            name: ExtensionTest(name, **{**t, "models": tuple(t["models"]), "beside": tuple(t.get("beside") or ())})
            for name, t in (plan.get("extension_tests") or {}).items()
        }
        return cls(tests, {m: list(s) for m, s in (plan.get("confirmatory_seeds") or {}).items()}, extensions)


def read_endpoints(
    scale: dict, where: str, seeds: dict[str, list[int]], evaluation: dict, budgets: list[dict], methods: dict[str, str]
) -> Endpoints:
    """A scale's `primary_tests` and `confirmatory_seeds`, checked against its models' seeds (`seeds`: by
    model name, first seed first) and methods (`methods`: by model name), its `evaluation` and its AutoAttack
    `budgets` (grid.autoattack_budgets)."""
    confirmatory = _confirmatory_seeds(scale.get("confirmatory_seeds"), where, seeds)
    later_seeds = any(s != seeds[m][0] for m, chosen in confirmatory.items() for s in chosen)
    tests = {}
    for claim, given in (scale.get("primary_tests") or {}).items():
        test = _primary_test(claim, given, where)
        if test.models:
            _check_models(test, where, methods, confirmatory)
        _check_measured(test, where, evaluation, budgets, later_seeds)
        tests[claim] = test
    extensions = {
        name: _extension_test(name, given, where, methods, confirmatory)
        for name, given in (scale.get("extension_tests") or {}).items()
    }
    return Endpoints(tests, confirmatory, extensions)


def _extension_test(name: str, given, where: str, methods: dict[str, str], confirmatory: dict) -> ExtensionTest:
    """An extension test as the recipe gives it: `{attack: corruptions, set: ..., images: N, models: [A, B],
    beside: [...]}`, its models this scale's, A and B with as many confirmatory seeds each (two at least)."""
    here = f"{where}: extension_tests: {name}"
    if not (isinstance(name, str) and name[:1] == "E" and name[1:].isdigit()):
        raise BadInput(f"{here}: an extension test is named E1, E2, ... (C1-C4 are the paper's claims)")
    if not isinstance(given, dict):
        raise BadInput(f"{here}: give attack, set, images, models (and beside)")
    unknown = sorted(set(given) - {"attack", "set", "fallback_set", "images", "models", "beside"})
    if unknown:
        raise BadInput(f"{here}: unknown key {unknown[0]!r} (attack, set, fallback_set, images, models, beside)")
    if given.get("attack") not in EXTENSION_MEASURES:
        raise BadInput(f"{here}: attack must be one of {', '.join(EXTENSION_MEASURES)}, got {given.get('attack')!r}")
    corruption_set = corruption_catalogue.check_set(str(given.get("set")))
    fallback = given.get("fallback_set")
    if fallback is not None and (
        corruption_catalogue.is_generated(corruption_set) or not corruption_catalogue.is_generated(str(fallback))
    ):
        raise BadInput(
            f"{here}: fallback_set is a generated set, for a set that is the official {corruption_catalogue.OFFICIAL}"
        )
    images = given.get("images")
    if isinstance(images, bool) or not isinstance(images, int) or not 1 <= images <= 10_000:
        raise BadInput(f"{here}: images must be a whole number 1-10,000 (the test set's first N), got {images!r}")
    models, beside = given.get("models"), given.get("beside") or []
    if not isinstance(models, list) or len(models) != 2 or len(set(models)) != 2:
        raise BadInput(f"{here}: models names two different models, [A, B] for A - B")
    for model in [*models, *beside]:
        if model not in methods:
            raise BadInput(f"{here}: {model!r} is not a model of this scale")
    seeds = [len(confirmatory.get(m, [])) for m in models]
    if confirmatory and (seeds[0] != seeds[1] or seeds[0] < 2):
        raise BadInput(f"{here}: {models[0]} and {models[1]} need as many confirmatory seeds each, two at least")
    return ExtensionTest(name, "corruptions", corruption_set, images, (models[0], models[1]), tuple(beside), fallback)


def _check_models(test: PrimaryTest, where: str, methods: dict[str, str], confirmatory: dict) -> None:
    """C3's models: an adversarially trained one (its method trains on attacked images) first, a SAM one (SAM's
    two passes on clean images: SAM, ASAM) second, both of this scale, each with confirmatory seeds where the scale
    names any (paired in order: the k-th counting seed of one with the k-th of the other, as many pairs as the
    fewer has)."""
    at, sam = test.models or ("", "")
    for name, fits, kind in (
        (at, method_table.uses_attack, "an AT model"),
        (sam, method_table.is_sam_family, "a SAM model"),
    ):
        if name not in methods:
            raise BadInput(f"{where}: primary_tests: {test.claim}: {name!r} is not a model of this scale")
        if not fits(methods[name]):
            raise BadInput(
                f"{where}: primary_tests: {test.claim}: {name!r} is not {kind} (its method is {methods[name]})"
            )
    lacking = [name for name in (at, sam) if confirmatory and not confirmatory.get(name)]
    if lacking:
        raise BadInput(
            f"{where}: primary_tests: {test.claim}: {lacking[0]} has no confirmatory seeds (its seeds are paired "
            "in order with the other model's)"
        )


def _confirmatory_seeds(given, where: str, seeds: dict[str, list[int]]) -> dict[str, list[int]]:
    if given is None:
        return {}
    out = {}
    for model, chosen in given.items():
        if model not in seeds:
            raise BadInput(f"{where}: confirmatory_seeds names {model!r}, which this scale does not train")
        missing = sorted(set(chosen) - set(seeds[model]))
        if missing:
            raise BadInput(f"{where}: confirmatory seed {missing[0]} of {model} is not among its seeds")
        out[model] = list(chosen)
    return out


def _primary_test(claim: str, given: dict, where: str) -> PrimaryTest:
    if claim not in CLAIMS_WITH_A_TEST:
        known = ", ".join(CLAIMS_WITH_A_TEST)
        raise BadInput(f"{where}: primary_tests: {claim!r} is not a claim with a test ({known})")
    models = given.get("models")
    if (claim == "C3") != (models is not None):
        said = "its test names two models: models: [AT model, SAM model]" if claim == "C3" else "only C3 names models"
        raise BadInput(f"{where}: primary_tests: {claim}: {said}")
    if models is not None and (len(models) != 2 or len(set(models)) != 2):
        raise BadInput(f"{where}: primary_tests: {claim}: models names two different models, the AT one first")
    test = _measure(claim, given, where)
    return replace(test, models=(str(models[0]), str(models[1]))) if models is not None else test


def _measure(claim: str, given: dict, where: str) -> PrimaryTest:
    attack = given["attack"]
    if attack == "clean":
        if any(given.get(k) is not None for k in ("norm", "eps", "version", "attacks")):
            raise BadInput(f"{where}: primary_tests: {claim}: a clean test takes no norm, eps, version or attacks")
        if claim == "C3":
            raise BadInput(f"{where}: primary_tests: C3: its measure is AT's robust one (clean is tested beside it)")
        return PrimaryTest(claim, "clean", given["images"])
    if given.get("norm") is None or given.get("eps") is None:
        raise BadInput(f"{where}: primary_tests: {claim}: {attack} needs a norm and an eps")
    eps = format_eps(parse_eps(str(given["eps"])))
    if attack == "pgd":
        if given.get("version") is not None or given.get("attacks") is not None:
            raise BadInput(f"{where}: primary_tests: {claim}: version and attacks are AutoAttack's")
        return PrimaryTest(claim, "pgd", given["images"], given["norm"], eps)
    version = given.get("version") or "standard"
    attacks = tuple(given["attacks"]) if given.get("attacks") else None
    if (version == "custom") != (attacks is not None):
        raise BadInput(f"{where}: primary_tests: {claim}: attacks go with version custom, and only with it")
    return PrimaryTest(claim, "autoattack", given["images"], given["norm"], eps, version, attacks)


def _check_measured(test: PrimaryTest, where: str, evaluation: dict, budgets: list[dict], later_seeds: bool) -> None:
    """The scale measures what the test needs, on enough images, for every seed it is judged over."""
    n = evaluation.get("n_examples")
    if test.attack == "clean":
        available = n
    elif test.attack == "pgd":
        pgd = evaluation.get("pgd") or {}
        listed = [parse_eps(str(e)) for e in ((pgd.get(test.norm) or {}).get("eps") or [])]
        if not any(abs(e - parse_eps(str(test.eps))) < 1e-9 for e in listed):
            raise BadInput(
                f"{where}: primary_tests: {test.claim}: the evaluation runs no PGD at {test.norm} {test.eps}"
            )
        available = pgd.get("n_examples") or n
    else:
        found = [
            b
            for b in budgets
            if b["norm"] == test.norm
            and abs(parse_eps(b["eps"]) - parse_eps(str(test.eps))) < 1e-9
            and b["version"] == test.version
            and tuple(b["attacks"] or ()) == (test.attacks or ())
        ]
        if not found:
            raise BadInput(
                f"{where}: primary_tests: {test.claim}: the evaluation runs no AutoAttack {test.version} "
                f"at {test.norm} {test.eps}" + (f" with {', '.join(test.attacks)}" if test.attacks else "")
            )
        if later_seeds and not found[0]["all_seeds"]:
            raise BadInput(
                f"{where}: primary_tests: {test.claim}: its AutoAttack runs on first seeds only (all_seeds: true "
                "runs it on every seed the confirmatory sample holds)"
            )
        available = found[0]["n_examples"] or n
    if available is not None and test.images > available:
        raise BadInput(
            f"{where}: primary_tests: {test.claim}: {test.images:,} images, but the evaluation runs it on {available:,}"
        )


def set_in_commit(
    recipe_path: str | Path, recipe_name: str, scale: str, endpoints: Endpoints, part: str = "claims"
) -> dict | None:
    """The commit that fixed these endpoints for this scale: the first of the latest unbroken run of commits
    whose recipe file holds them, as {"commit", "date"}; None outside a git checkout, or when the last
    commit of the file does not hold them (not committed yet, or changed since). The file is followed
    across renames: a recipe moved to another folder keeps the commit that fixed its endpoints. `part`:
    the claims' endpoints (primary tests and confirmatory seeds) or "extension_tests"."""
    path = Path(recipe_path).resolve()
    try:
        top = Path(_git(path.parent, "rev-parse", "--show-toplevel").strip())
        relative = path.relative_to(top).as_posix()  # (a pathspec is read from where git runs: the top)
        history = _history(top, relative)
    except (OSError, ValueError, subprocess.CalledProcessError):
        return None
    wanted, found = _part(endpoints.describe(), part), None
    for commit, date, name in history:
        try:
            data = yaml.safe_load(_git(top, "show", f"{commit}:{name}")) or {}
        except (subprocess.CalledProcessError, yaml.YAMLError):
            data = {}
        block = (data.get("scales") or {}).get(scale) or {}
        holds = data.get("name") == recipe_name and _part(_normalised(block), part) == wanted
        found = (found or {"commit": commit, "date": date}) if holds else None
    return found


def _history(top: Path, relative: str) -> list[tuple[str, str, str]]:
    """(commit, date, the file's path in that commit) for every commit of a file, oldest first, followed
    across renames (git's --follow walks newest first; a commit that names no path keeps the newer one)."""
    log = _git(top, "log", "--follow", "--name-only", "--format=%x00%H %cI", "--", relative)
    history, name = [], relative
    for entry in log.split("\0")[1:]:
        head, *names = [line for line in entry.splitlines() if line]
        name = names[-1] if names else name
        commit, date = head.split(" ", 1)
        history.append((commit, date, name))
    return history[::-1]


def _part(described: dict, part: str) -> dict:
    """The claims' endpoints or the extension tests of Endpoints.describe()'s dict."""
    if part == "extension_tests":
        return {k: v for k, v in described.items() if k in ("extension_tests", "unreadable")}
    return {k: v for k, v in described.items() if k != "extension_tests"}


def _normalised(block: dict) -> dict:
    """A scale block's endpoints as Endpoints.describe() writes them (for comparing commits)."""
    try:
        tests = {c: _primary_test(c, t, "") for c, t in (block.get("primary_tests") or {}).items()}
        seeds = {m: list(s) for m, s in (block.get("confirmatory_seeds") or {}).items()}
        everyone = {str(m): "" for t in (block.get("extension_tests") or {}).values() for m in _named(t)}
        extensions = {
            n: _extension_test(n, t, "", everyone, {}) for n, t in (block.get("extension_tests") or {}).items()
        }
    except (BadInput, KeyError, TypeError, ValueError):
        return {"unreadable": True}
    return Endpoints(tests, seeds, extensions).describe()


def _named(test) -> list:
    return [*(test.get("models") or []), *(test.get("beside") or [])] if isinstance(test, dict) else []


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout
