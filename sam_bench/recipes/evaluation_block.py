"""A recipe's `evaluation` block read as attacks: clean, PGD per eps, AutoAttack per budget, each on its
own number of the evaluation's first test images, and which of them a run gets (`evaluation_for`: a later
seed gets only the AutoAttack budgets marked for every seed)."""

from __future__ import annotations

from sam_bench.eps import parse_eps
from sam_bench.errors import BadInput
from sam_bench.evaluation.specs import make_attacks
from sam_bench.threat_models import norm_names


def evaluation_specs(evaluation: dict) -> list:
    """The attack specs of a recipe's `evaluation` block (clean, PGD per eps, AutoAttack per budget)."""
    specs = make_attacks("clean")
    pgd = evaluation.get("pgd") or {}
    pgd_images = _images(pgd, evaluation.get("n_examples"), "pgd")
    for norm in norm_names():
        block = pgd.get(norm) or {}
        for eps in block.get("eps") or []:
            step_size = parse_eps(str(eps)) * float(block.get("step_fraction", 0.25))
            specs += make_attacks("pgd", norm, [str(eps)], steps=int(pgd.get("steps", 10)), step_size=step_size)
            specs[-1].n_examples = pgd_images
    for budget in autoattack_budgets(evaluation.get("autoattack")):
        specs += make_attacks(
            "autoattack", budget["norm"], [budget["eps"]], version=budget["version"], attacks=budget["attacks"]
        )
        specs[-1].n_examples = _images(budget, evaluation.get("n_examples"), "autoattack")
    return specs


def autoattack_budgets(aa: dict | None) -> list[dict]:
    """The AutoAttack runs of a recipe's `autoattack` block, one dict per budget (norm, eps, version, attacks,
    n_examples, all_seeds); a norm's budgets as docs/reproducing.md writes them."""
    aa = aa or {}
    shared = {key: aa.get(key) for key in ("version", "attacks", "n_examples", "all_seeds")}
    shared["version"] = shared["version"] or "standard"
    budgets = []
    for norm in norm_names():
        given = aa.get(norm)
        for item in given if isinstance(given, list) else [] if given is None else [given]:
            own = item if isinstance(item, dict) else {"eps": item}
            budget = {**shared, **{k: v for k, v in own.items() if k != "eps"}, "norm": norm, "eps": str(own["eps"])}
            if "version" in own and "attacks" not in own and own["version"] != "custom":
                budget["attacks"] = None  # a budget's own standard version runs its own attacks
            budget["all_seeds"] = bool(budget["all_seeds"])
            budgets.append(budget)
    seen = [(b["norm"], parse_eps(b["eps"]), b["version"], tuple(b["attacks"] or ())) for b in budgets]
    if len(set(seen)) != len(seen):
        raise BadInput("evaluation: autoattack lists the same budget and version twice")
    return budgets


def _images(block: dict, n_examples, attack: str) -> int | None:
    """An attack block's own `n_examples`: the attack on the first N of the evaluation's images."""
    n = block.get("n_examples")
    if n is None:
        return None
    if not (isinstance(n, int) and not isinstance(n, bool) and n >= 1):
        raise BadInput(f"evaluation: {attack} n_examples must be a whole number >= 1, got {n!r}")
    if isinstance(n_examples, int) and n > n_examples:
        raise BadInput(f"evaluation: {attack} n_examples ({n}) exceeds the evaluation's n_examples ({n_examples})")
    return n


def evaluation_for(plan, evaluation: dict) -> dict:
    """The recipe's evaluation as it applies to one run (`plan`: a recipe.ModelPlan): AutoAttack is for the
    boards, which list first seeds only, so a later seed skips it unless `all_seeds: true` says otherwise."""
    aa = evaluation.get("autoattack") or {}
    if plan.primary or aa.get("all_seeds"):
        return evaluation
    every_seed = [b for b in autoattack_budgets(aa) if b["all_seeds"]]
    rest = {k: v for k, v in evaluation.items() if k != "autoattack"}
    if not every_seed:
        return rest
    # Only the budgets every seed gets, each written out whole (the run's evaluation key hashes this)
    by_norm: dict[str, list] = {}
    for b in every_seed:
        by_norm.setdefault(b["norm"], []).append({k: v for k, v in b.items() if k != "norm" and v is not None})
    return {**rest, "autoattack": by_norm}
