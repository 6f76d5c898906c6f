"""One record per training method: all that sam-bench knows of a method besides its step function.

Every other module reads a method here; `training.methods` steps by the record. Adding a method is adding its
record here and, if its step is not a composition of the table, its step function (`training.methods.STEPS`):
tests/test_method_table.py trains one that way. Imports nothing heavy, so that `--help` answers without torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from sam_bench.errors import BadInput

# The norms of the attacks methods train on: PGD's steps and projections (Linf's signed gradient, L2's normalised
# one); a single-step method's signed-gradient step is defined for Linf alone
PGD_NORMS = ("Linf", "L2")
SIGNED_STEP_NORMS = ("Linf",)


@dataclass(frozen=True)
class SingleStepRule:
    """A single-step attack: a uniform start of half-width `noise` eps, one signed-gradient step of
    `step` eps by default, projected back into the eps ball or not."""

    noise: float
    step: float
    projected: bool


@dataclass(frozen=True)
class WeightPerturbation:
    """Adversarial weight perturbation (AWP, Wu, Xia, Wang 2020): before the descent, one ascent step on
    the weights of the method's own loss, each layer's perturbation `gamma` times its weight's norm; its
    default gamma and the epochs trained without it first (`warmup`)."""

    gamma: float
    warmup: int


@dataclass(frozen=True)
class Paper:
    """The paper that introduced a method: how the leaderboards cite it and where they link."""

    cite: str  # e.g. "Foret et al. 2021"
    url: str


@dataclass(frozen=True)
class Method:
    name: str  # as recipes, the CLI and run metadata write it
    display: str  # how the zoo and the leaderboards' model names name it
    id_keyword: str  # a zoo id's keyword: SamBench2026<keyword>_...
    help: str  # a phrase for `train --method`'s help
    sam: bool = False  # two passes: SAM's ascent, then the descent at the perturbed weights
    attack: str | None = None  # the examples it trains on: None (clean), "pgd" or "single-step"
    # The norms its attack is defined in (its step and projection, attacks/pgd.py and trades.py): a threat model
    # added to the tables reaches a method only where its record names it here
    norms: tuple[str, ...] = ()
    single_step: SingleStepRule | None = None
    default_rho: float | None = None
    passes: int | None = None  # a method with a step of its own (training.methods.STEPS): its passes per step
    # TRADES (Zhang et al. 2019): cross-entropy on the clean images plus beta x KL(clean || adversarial), its
    # PGD maximising the KL term; None: cross-entropy on the images it trains on
    default_beta: float | None = None
    awp: WeightPerturbation | None = None  # the weights perturbed adversarially before each descent
    # What a leaderboard row links (None: no method of its own to cite; standard training is plain SGD)
    paper: Paper | None = None
    # How every plot and page shows the method: its short name (as the recipes' model names begin: ST, SAM-0.1,
    # AT-Linf-8) and its colour, one palette for the reports, the boards and the README's figures
    label: str = ""
    colour: str = "black"

    def __post_init__(self):
        if self.sam != (self.default_rho is not None):
            raise ValueError(f"method {self.name}: a SAM method has a default rho, and only a SAM method")
        if (self.attack is not None) != bool(self.norms):
            raise ValueError(f"method {self.name}: a method that attacks names the norms it attacks in, and only it")
        if (self.attack == "single-step") != (self.single_step is not None):
            raise ValueError(f"method {self.name}: a single-step method has its rule, and only it")
        if self.default_beta is not None and self.attack != "pgd":
            raise ValueError(f"method {self.name}: TRADES' loss needs its PGD attack")

    @property
    def trades(self) -> bool:
        return self.default_beta is not None

    def passes_per_step(self, attack_steps: int) -> int:
        """Forward-backward passes per training step: the cost unit of the paper's claim C4. TRADES' loss
        takes two (the clean and the adversarial images); SAM and AWP take the loss twice (the ascent on
        the weights, then the descent)."""
        if self.passes is not None:
            return self.passes
        attack_passes = {"pgd": attack_steps, "single-step": 1}.get(self.attack or "", 0)
        loss_passes = 2 if self.trades else 1
        return (2 if self.sam or self.awp is not None else 1) * loss_passes + attack_passes


AWP_PAPER = "https://arxiv.org/abs/2004.05884"  # AT-AWP and TRADES-AWP

# The paper's three methods (Wei, Zhu, Zhang 2023): what its claims compare and what its own training loop runs
STANDARD, SAM, AT = "standard", "sam", "at"
PAPER_METHODS = (STANDARD, SAM, AT)

TABLE: dict[str, Method] = {
    m.name: m
    for m in (
        Method("standard", "standard training", "Standard", "SGD", label="ST", colour="tab:blue"),
        # Foret, Kleiner, Mobahi, Neyshabur (2021), "Sharpness-Aware Minimization for Efficiently Improving
        # Generalization"
        Method(
            "sam",
            "SAM",
            "SAM",
            "SAM",
            sam=True,
            default_rho=0.05,
            paper=Paper("Foret et al. 2021", "https://arxiv.org/abs/2010.01412"),
            label="SAM",
            colour="tab:orange",
        ),
        # Kwon, Kim, Park, Choi (2021), "ASAM: Adaptive Sharpness-Aware Minimization for Scale-Invariant Learning"
        Method(
            "asam",
            "ASAM",
            "ASAM",
            "adaptive SAM",
            sam=True,
            default_rho=0.5,
            paper=Paper("Kwon et al. 2021", "https://arxiv.org/abs/2102.11600"),
            label="ASAM",
            colour="tab:olive",
        ),
        # Madry et al. (2018), "Towards Deep Learning Models Resistant to Adversarial Attacks"
        Method(
            "at",
            "PGD AT",
            "AT",
            "PGD adversarial training",
            attack="pgd",
            norms=PGD_NORMS,
            paper=Paper("Madry et al. 2018", "https://arxiv.org/abs/1706.06083"),
            label="AT",
            colour="tab:green",
        ),
        # SAM on PGD examples: among the extensions of the extended paper of Wei et al. (Zhang et al. 2024, "On the
        # Duality Between Sharpness-Aware Minimization and Adversarial Training")
        Method(
            "sam-at",
            "SAM + PGD AT",
            "SAMAT",
            "SAM on PGD examples",
            sam=True,
            attack="pgd",
            norms=PGD_NORMS,
            default_rho=0.05,
            label="SAM-AT",
            colour="tab:red",
            paper=Paper("Zhang et al. 2024", "https://arxiv.org/abs/2402.15152"),
        ),
        # Wong, Rice, Kolter (2020), "Fast is better than free": a uniform start in the eps ball, a step of 1.25 eps
        Method(
            "fgsm-rs",
            "FGSM-RS AT",
            "FGSMRS",
            "single-step AT, random start and step 1.25 eps, projected",
            attack="single-step",
            single_step=SingleStepRule(noise=1.0, step=1.25, projected=True),
            norms=SIGNED_STEP_NORMS,
            label="FGSM-RS",
            colour="tab:purple",
            paper=Paper("Wong et al. 2020", "https://arxiv.org/abs/2001.03994"),
        ),
        # de Jorge et al. (2022), "Make some noise": noise in the 2 eps ball, a step of eps, not projected
        Method(
            "n-fgsm",
            "N-FGSM AT",
            "NFGSM",
            "single-step AT, noise 2 eps and step eps, not projected",
            attack="single-step",
            single_step=SingleStepRule(noise=2.0, step=1.0, projected=False),
            norms=SIGNED_STEP_NORMS,
            label="N-FGSM",
            colour="tab:brown",
            paper=Paper("de Jorge et al. 2022", "https://arxiv.org/abs/2202.01181"),
        ),
        # Goodfellow et al. (2015): no start, a step of eps (it overfits catastrophically at large eps)
        Method(
            "fgsm",
            "FGSM AT",
            "FGSM",
            "single-step AT, no start, step eps",
            attack="single-step",
            single_step=SingleStepRule(noise=0.0, step=1.0, projected=True),
            norms=SIGNED_STEP_NORMS,
            label="FGSM",
            colour="tab:pink",
            paper=Paper("Goodfellow et al. 2015", "https://arxiv.org/abs/1412.6572"),
        ),
        # Zhang et al. (2019), arXiv:1901.08573: beta (1/lambda) = 6 for CIFAR-10 at Linf 8/255, the default of
        # yaodongyu/TRADES's train_trades_cifar10.py (with 10 PGD steps); its attack starts from Gaussian noise
        # of sd 0.001 and ascends KL(clean || adversarial)
        Method(
            "trades",
            "TRADES",
            "TRADES",
            "TRADES: clean cross-entropy + beta x KL(clean || PGD example), its PGD on the KL term",
            attack="pgd",
            norms=PGD_NORMS,
            default_beta=6.0,
            label="TRADES",
            colour="tab:cyan",
            paper=Paper("Zhang et al. 2019", "https://arxiv.org/abs/1901.08573"),
        ),
        # Wu, Xia, Wang (2020), arXiv:2004.05884, AWP on PGD AT and on TRADES: gamma 5e-3 (the paper's setting;
        # csdongxian/AWP's AT_AWP/train_cifar10.py defaults to 1e-2 and its PreActResNet-18 logs ran 1e-2),
        # warm-up 0 epochs for AT-AWP (AT_AWP/train_cifar10.py) and 10 for TRADES-AWP
        # (trades_AWP/train_trades_cifar.py, with beta 6)
        Method(
            "awp-at",
            "AT-AWP",
            "ATAWP",
            "PGD AT with adversarial weight perturbation (AWP, relative size gamma)",
            attack="pgd",
            norms=PGD_NORMS,
            awp=WeightPerturbation(gamma=5e-3, warmup=0),
            label="AT-AWP",
            colour="tab:gray",
            paper=Paper("Wu et al. 2020", AWP_PAPER),
        ),
        Method(
            "awp-trades",
            "TRADES-AWP",
            "TRADESAWP",
            "TRADES with adversarial weight perturbation",
            attack="pgd",
            norms=PGD_NORMS,
            default_beta=6.0,
            awp=WeightPerturbation(gamma=5e-3, warmup=10),
            label="TRADES-AWP",
            colour="navy",
            paper=Paper("Wu et al. 2020", AWP_PAPER),
        ),
    )
}


def label(name: str) -> str:
    """The method's short name on plots and pages ('ST', 'SAM', 'AT'); an unknown method's name as it is."""
    return TABLE[name].label if name in TABLE else name


def colour(name: str) -> str:
    """The method's colour on every plot (black for a method the table does not know)."""
    return TABLE[name].colour if name in TABLE else "black"


def method(name: str) -> Method:
    """The record of a method, or one line naming the methods there are."""
    found = TABLE.get(name)
    if found is None:
        raise BadInput(f"unknown method {name!r}; choose one of {', '.join(TABLE)}")
    return found


def names() -> tuple[str, ...]:
    return tuple(TABLE)


def help_text() -> str:
    """`train --method`'s help: each method with its phrase."""
    return "; ".join(f"{m.name}: {m.help}" for m in TABLE.values()) + " (single-step: Linf only)."


# What callers ask of a method name (read at the call, so a record added later counts)
def uses_sam(name: str) -> bool:
    return name in TABLE and TABLE[name].sam


def uses_attack(name: str) -> bool:
    return name in TABLE and TABLE[name].attack is not None


def is_sam_family(name: str) -> bool:
    """SAM's two passes on clean images (SAM, ASAM): the flat-minimum methods the paper's explanation sets
    between ST and AT (SAM on attacked images is an AT method too, and not one of them)."""
    return uses_sam(name) and not uses_attack(name)


def single_step(name: str) -> bool:
    return name in TABLE and TABLE[name].attack == "single-step"


def uses_trades(name: str) -> bool:
    return name in TABLE and TABLE[name].trades


def uses_awp(name: str) -> bool:
    return name in TABLE and TABLE[name].awp is not None


def passes_per_step(name: str, attack_steps: int) -> int:
    return method(name).passes_per_step(attack_steps)
