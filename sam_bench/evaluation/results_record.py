"""A results file as the readers downstream use it: checked once where it is read (results_file), then asked
rather than indexed, so that each fact is read in one place.

    results = Results.read("reproductions/x/results/ST-abc.json")
    results.evaluation("pgd", "Linf", "2/255")                    # the entry, or None
    results.evaluation("autoattack", "Linf", "2/255", version="custom", attacks=("apgd-ce", "apgd-t"))
    results.evaluation("clean", images=1000)                       # the clean pass on the first 1,000 images
    results.budgets("pgd")                                         # [("Linf", "1/255"), ...]

`Results` is a read-only mapping over the file's fields (docs/results-schema.md); each attack's entry is an
`Evaluation`. Every accuracy it answers is derived from the per-image outcomes, never read from the file's own
figures; a file without outcomes has nothing to derive from: `verified` is False, `unverified` says why, boards
refuse it and reports leave it out."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

from sam_bench import files
from sam_bench.eps import parse_eps
from sam_bench.evaluation import attack_table, outcomes, own_entries, results_file, run_location
from sam_bench.evaluation.attack_spec import AttackSettings
from sam_bench.threat_models import TABLE as THREAT_MODELS

UNVERIFIED = (
    "it records no per-image outcomes (written before results kept them, or with them removed), so none of "
    "its figures can be derived from evidence; evaluate the model again"
)


@dataclass(frozen=True)
class Evaluation:
    """One attack's entry of a results file (`docs/results-schema.md`, `evaluations[]`), its accuracies derived
    from its per-image outcomes where it has them (`derived`). A field an older file lacks is None (`settings`:
    empty). The clean pass, asked as `Results.evaluation("clean")`, is one too: attack "clean", its accuracy as
    `robust_acc`."""

    attack: str
    robust_acc: float
    norm: str | None = None
    eps: str | None = None
    eps_value: float | None = None
    settings: dict = field(default_factory=dict)
    n_examples: int | None = None
    clean_acc: float | None = None
    outcomes: dict | None = None
    attack_reported_acc: float | None = None
    per_class_robust_acc: list | None = None
    breakdown: dict | None = None
    max_perturbation: float | None = None
    seconds: float | None = None
    cpu_seconds: float | None = None
    chunks: dict | None = None
    # The fields of its kind's own (own_entries.py), as the file writes them: read by name as any other field
    # (`ev.<field>`, None where the entry has none)
    own: Mapping = field(default_factory=dict)

    @classmethod
    def of(cls, entry: Mapping) -> Evaluation:
        """The record of one entry as the file writes it (fields the schema does not name are not kept)."""
        known = {f.name for f in fields(cls)} - {"own"}
        found = {k: v for k, v in entry.items() if k in known}
        own = {k: v for k, v in entry.items() if k in own_entries.fields()}
        return cls(**{**found, "settings": found.get("settings") or {}, "own": own})

    def __getattr__(self, name: str):
        """A field of its kind's own (own_entries.py), None where this entry has none."""
        if name.startswith("_") or name == "own" or name not in own_entries.fields():
            raise AttributeError(name)
        return self.own.get(name)

    @property
    def params(self) -> AttackSettings:
        return AttackSettings.from_settings(self.settings)

    @property
    def own_outcomes(self) -> dict | None:
        """The per-image outcomes in its kind's own field (own_entries.py), or None."""
        own = own_entries.of(self.norm)
        return self.own.get(own.outcomes) if own is not None else None

    @property
    def robustbench_autoattack(self) -> bool:
        """AutoAttack (standard) at RobustBench's budget for its threat model: what RobustBench ranks by."""
        return (
            attack_table.is_headline(self.attack)
            and self.params.version == "standard"
            and self.norm in THREAT_MODELS  # a clean evaluation's norm is None
            and THREAT_MODELS[self.norm].robustbench_budget == self.eps
        )


@dataclass(frozen=True)
class TestSet:
    """The images a results file was measured on (its `dataset` block: `cifar10`, `cifar10-sample`, ...)."""

    name: str = ""
    family: str | None = None
    n_examples: int | None = None
    n_test_total: int | None = None
    sha256: str | None = None

    @classmethod
    def of(cls, block: Mapping | None) -> TestSet:
        block = block or {}
        return cls(**{f.name: block[f.name] for f in fields(cls) if f.name in block})


@dataclass(frozen=True)
class EvaluatedModel:
    """The model a results file measured (its `model` block; `training` None where it was given without one)."""

    ref: str | None = None
    kind: str | None = None
    zoo_id: str | None = None
    weights_sha256: str | None = None
    arch: dict | None = None
    method: str | None = None
    training: dict | None = None

    @classmethod
    def of(cls, block: Mapping | None) -> EvaluatedModel:
        block = block or {}
        return cls(**{f.name: block.get(f.name) for f in fields(cls)})

    @property
    def training_config(self) -> dict | None:
        """The settings it was trained with, as its run recorded them."""
        return (self.training or {}).get("config")

    @property
    def seed(self) -> int | None:
        """The training seed of the weights measured (None where the file records no training: a model trained
        elsewhere)."""
        return (self.training_config or {}).get("seed")


class Results(Mapping):
    """A results file read once and asked by typed properties (`results.dataset.n_examples`,
    `results.model.weights_sha256`, `results.precision`); the mapping over its fields is for writers and
    checks that handle the file as a whole."""

    def __init__(self, data: dict, path: Path | None = None):
        self._data, self.path = derived(data), path
        self._evaluations = tuple(Evaluation.of(ev) for ev in self._data.get("evaluations") or ())

    @classmethod
    def read(cls, path: str | Path) -> Results:
        """The file, checked against its schema and its own evidence (results_file.read)."""
        return cls(results_file.read(path), Path(path))

    @classmethod
    def of(cls, results: Mapping) -> Results:
        """A Results for a results dict already checked (or one a test chose), as it is."""
        return results if isinstance(results, Results) else cls(dict(results))

    # a mapping over the file's fields
    def __getitem__(self, key: str):
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def as_dict(self) -> dict:
        return self._data

    @property
    def schema(self) -> str | None:
        return self._data.get("schema")

    @property
    def model(self) -> EvaluatedModel:
        return EvaluatedModel.of(self._data.get("model"))

    @property
    def model_ref(self) -> str | None:
        """The model it measured as this checkout can load it: its zoo id, else its run found wherever the
        reproduction folder is (run_location.located), else the reference as recorded."""
        model = self.model
        return model.zoo_id or run_location.located(model.ref, model.weights_sha256, self.path)

    @property
    def dataset(self) -> TestSet:
        return TestSet.of(self._data.get("dataset"))

    @property
    def precision(self) -> str:
        """fp32 or bf16 (files from before it was recorded: fp32)."""
        return self._data.get("precision") or "fp32"

    @property
    def environment(self) -> dict:
        """Where it ran (runtime.provenance: device_name, torch_version, code_commit, threads...); {} if unknown."""
        return self._data.get("environment") or {}

    @property
    def search_math(self) -> str:
        """How the attacks searched: "tf32" or "ieee" (runtime.math_mode; files from before it was recorded: ieee)."""
        return (self._data.get("search_math_mode") or {}).get("search", "ieee")

    @property
    def robustbench(self) -> dict | None:
        """RobustBench's model_info figures where the file holds AutoAttack (standard) at RobustBench's budget."""
        return self._data.get("robustbench")

    @property
    def reproduce(self) -> dict | None:
        """The grid cell that wrote it (a reproduction's run and model name), None outside a reproduction."""
        return self._data.get("reproduce")

    @property
    def clean_acc(self) -> float:
        return self._data["clean_acc"]

    @property
    def clean_prediction_counts(self) -> list[int] | None:
        """How many test images the model predicted as each class on the clean pass (None: not recorded)."""
        return self._data.get("clean_prediction_counts")

    @property
    def clean_outcomes(self) -> dict | None:
        """The clean pass's per-image outcomes (older files kept them in their "clean" evaluation only)."""
        return self._data.get("clean_outcomes") or next(
            (e.outcomes for e in self.evaluations if attack_table.is_clean(e.attack)), None
        )

    @property
    def sha256(self) -> str | None:
        return files.sha256_file(self.path) if self.path is not None else None

    @property
    def evaluations(self) -> tuple[Evaluation, ...]:
        """Every attack's entry, in the order run (the clean pass is `evaluation("clean")`)."""
        return self._evaluations

    @property
    def verified(self) -> bool:
        """Whether every figure of the file is derived from per-image outcomes (the clean pass and every attack
        recorded which images they left correct): only such results reach a board or a report."""
        return bool(self._data.get("clean_outcomes")) and all(ev.outcomes or ev.own_outcomes for ev in self.evaluations)

    @property
    def unverified(self) -> str | None:
        """Why the file's figures cannot be shown (one line), or None when they are derived."""
        return None if self.verified else UNVERIFIED

    @property
    def evaluation_seconds(self) -> float:
        return sum(ev.seconds or 0 for ev in self.evaluations)

    def evaluation(
        self,
        attack: str,
        norm: str | None = None,
        eps: str | None = None,
        *,
        version: str | None = None,
        attacks: tuple[str, ...] | None = None,
        images: int | None = None,
    ) -> Evaluation | None:
        """This attack's entry at this budget (clean: the clean pass, its accuracy as `robust_acc`), or None.
        AutoAttack's `version` (and `attacks`, for custom) pick among several at one budget (otherwise the
        first); `images` restricts it to the first N test images (from its per-image outcomes; None without
        them or when it covers fewer)."""
        if attack_table.is_clean(attack):
            clean = self._data.get("clean_outcomes")
            n = clean["n"] if clean else (self._data.get("dataset") or {}).get("n_examples")
            found: Evaluation | None = Evaluation("clean", self._data["clean_acc"], n_examples=n, outcomes=clean)
        else:
            found = next((ev for ev in self.evaluations if _picked(ev, attack, norm, eps, version, attacks)), None)
        if found is None or images is None or found.n_examples == images:
            return found
        return first_images(found, images)

    def budgets(self, attack: str) -> list[tuple[str, str, dict]]:
        """This attack's budgets, in the order run: (norm, eps, what picks it) where `what picks it` holds
        AutoAttack's version and attacks (empty for PGD), for `evaluation(attack, norm, eps, **it)`."""
        found: list[tuple[str, str, dict]] = []
        for ev in self.evaluations:
            if ev.attack != attack:
                continue
            s = ev.params
            select = (
                {"version": s.version or "standard", "attacks": tuple(s.attacks)}
                if attack_table.has_versions(attack)
                else {}
            )
            assert ev.norm is not None and ev.eps is not None, "an attack's entry names its budget"
            if (ev.norm, ev.eps, select) not in found:
                found.append((ev.norm, ev.eps, select))
        return found


def _picked(ev: Evaluation, attack: str, norm, eps, version, attacks) -> bool:
    """Whether `Results.evaluation(attack, norm, eps, version=, attacks=)` asks for this entry."""
    if ev.attack != attack or ev.norm != norm:
        return False
    if ev.eps_value is None:  # no eps: its budget is no eps
        return eps is None
    assert eps is not None, "an attack's evaluation is found by its eps"
    s = ev.params
    return abs(ev.eps_value - parse_eps(eps)) < 1e-9 and (
        version is None or (s.version == version and (attacks is None or tuple(s.attacks) == tuple(attacks)))
    )


def _correct(record: dict, n: int | None = None) -> tuple[int, int]:
    """(images correct, images) over the first n images a per-image outcomes record covers (all by default)."""
    flags = outcomes.decode(record)
    flags = flags if n is None else flags[:n]
    return int(flags.sum()), int(flags.size)


def derived(data: Mapping) -> dict:
    """`data` with every accuracy that per-image outcomes can give taken from them: the clean accuracy from
    `clean_outcomes`, each evaluation's robust accuracy and image count from its `outcomes` and its clean
    accuracy from the clean outcomes of its images. Figures without outcomes stay as written (such a file is
    unverified, `Results.unverified`). Counts over images, as `evaluate` computes them: count / n."""
    data = dict(data)
    clean = data.get("clean_outcomes")
    if clean:
        correct, n = _correct(clean)
        data["clean_acc"] = correct / n
    evaluations = []
    for ev in data.get("evaluations") or []:
        ev = dict(ev)
        own = own_entries.of(ev.get("norm"))
        if own is not None:  # its figures from the outcomes in its kind's own fields
            ev = own.derived(ev)
        if ev.get("outcomes"):
            correct, n = _correct(ev["outcomes"])
            ev["robust_acc"], ev["n_examples"] = correct / n, n
        m = ev.get("n_examples")
        if clean and m and clean["n"] >= m:
            ev["clean_acc"] = _correct(clean, m)[0] / m
        evaluations.append(ev)
    if "evaluations" in data:
        data["evaluations"] = evaluations
    return data


def first_images(ev: Evaluation, images: int) -> Evaluation | None:
    """An evaluation on its first `images` test images only (from its per-image outcomes; the figures of the
    whole, its clean accuracy and its time, are not kept), or None when it covers fewer or kept no outcomes."""
    if not ev.outcomes or int(ev.n_examples or 0) < images:
        return None
    flags = outcomes.decode(ev.outcomes)[:images]
    return Evaluation(
        ev.attack,
        float(flags.mean()),
        norm=ev.norm,
        eps=ev.eps,
        eps_value=ev.eps_value,
        settings=ev.settings,
        n_examples=images,
        outcomes=outcomes.encode(flags, ev.outcomes["start"]),
    )
