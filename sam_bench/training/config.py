"""The training settings, declared once and torch-free: `sam-bench train`'s options are built from
this dataclass (sam_bench/cli/train.py), so `sam-bench train --help` imports no torch.

Where each fact about a setting is written, once: its name, default and help in the field below; its type,
bounds and choices in run-metadata.schema.json's `$defs/config` (what a stored run, a recipe and a command line
are all checked by); the methods in training/method_table.py; the rules across settings in `TrainConfig.validate`.

tests/test_config_once.py checks that the option set, the defaults and the schema's properties agree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from sam_bench import schema
from sam_bench.eps import format_eps, parse_eps
from sam_bench.errors import BadInput
from sam_bench.threat_models import check_budget
from sam_bench.training import method_table as table

# A full-width PreActResNet-18 checkpoint is 85 MiB, written with fsync: every epoch would cost a GPU
# a good part of a one-second epoch. Once a minute costs little and loses at most a minute's work.
DEFAULT_CHECKPOINT_EVERY_S = 60.0
DEFAULT_ATTACK_STEPS = 10


def _setting(default: Any, help: str = "", option: str | None = None, metavar: str | None = None, runtime=False):
    """A field of TrainConfig. `option`: its command-line name when it is not --<name with dashes>;
    `runtime`: it changes how, not what, is trained (a resumed run may change it; no part of a run's
    settings key)."""
    return field(default=default, metadata={"help": help, "option": option, "metavar": metavar, "runtime": runtime})


def _defaults(what) -> str:
    """'6 for trades and awp-trades'-style defaults of a setting, per method, from the table."""
    found: dict[str, list[str]] = {}
    for m in table.TABLE.values():
        value = what(m)
        if value is not None:
            found.setdefault(f"{value:g}", []).append(m.name)
    return "; ".join(f"{value} for {' and '.join(methods)}" for value, methods in found.items())


def _rho_help() -> str:
    sam = [name for name in table.names() if table.uses_sam(name)]
    defaults = ", ".join(f"{table.method(name).default_rho:g} for {name}" for name in sam)
    return (
        f"SAM radius of {', '.join(sam[:-1])} and {sam[-1]} (default {defaults}; SAM's 0.05 is davda54/sam's "
        "default). The paper's headline runs use 0.1 (its grid: 0.05 to 0.4), as the recipes' SAM-0.1 does: "
        "give --rho 0.1 to train as they did."
    )


@dataclass
class TrainConfig:
    method: str = _setting("standard")  # choices and help: method_table
    arch: str = _setting("preactresnet18", "preactresnet18, wideresnet-28-10, wideresnet-16-4 or timm:<name>.")
    width: float = _setting(1.0, "Channel multiplier for the built-in architectures (0.25: a quarter of the channels).")
    arch_kwargs: dict | None = _setting(
        None,
        "timm constructor arguments, e.g. depth=6,embed_dim=96,num_heads=3 (kept in the run's metadata and zoo entry).",
        metavar="K=V,...",
    )
    dataset: str = _setting("cifar10-sample", "cifar10-sample is the bundled real sample.")
    data_dir: str | None = _setting(None, runtime=True)  # help: the shared --data-dir (sam_bench/cli/options.py)
    n_train: int | None = _setting(None, "Train on a fixed random subset of N images.")  # None: all
    epochs: int = _setting(100, "Epochs to train.")
    batch_size: int = _setting(128, "Images per step (under torchrun, the global batch).")
    lr: float = _setting(0.1, "Learning rate at the start of the schedule.")
    momentum: float = _setting(0.9, "SGD momentum.")
    weight_decay: float = _setting(5e-4, "SGD weight decay.")
    schedule: str = _setting("piecewise", "piecewise: the paper's lr x0.1 at 75% and x0.01 at 90% of the epochs.")
    rho: float | None = _setting(None, _rho_help())
    attack_norm: str = _setting("Linf", "Norm of the training attack.")
    attack_eps: str = _setting("8/255", "Budget of the training attack.")
    attack_steps: int = _setting(
        DEFAULT_ATTACK_STEPS, "Steps of the training attack (PGD; 1 for fgsm-rs, n-fgsm and fgsm)."
    )
    attack_step_size: str | None = _setting(
        None, "Default 2.5 * eps / steps (PGD, Madry et al.); 1.25 * eps (fgsm-rs), eps (n-fgsm, fgsm)."
    )
    seed: int = _setting(0, "Seed of the initialisation, the data order and the --n-train subset.")
    device: str = _setting("auto", runtime=True)  # help: the shared --device (sam_bench/cli/options.py)
    precision: str = _setting("auto", "auto: bf16 autocast on GPU, fp32 on CPU.")
    compile: bool = _setting(False, "torch.compile the model (GPU).", runtime=True)
    sam_perturbation: str = _setting(
        "global",
        "Under torchrun: SAM's ascent step from the all-reduced gradient (as one process) or from "
        "each process's own (m-sharpness, m = batch size / processes).",
    )
    checkpoint_every_s: float = _setting(
        DEFAULT_CHECKPOINT_EVERY_S,
        "Seconds between checkpoints (0: every epoch); one is always written when the call stops "
        "(time limit, --stop-after-epochs) and after the last epoch.",
        option="--checkpoint-every",
        metavar="SECONDS",
        runtime=True,
    )
    # The catastrophic-overfitting guard (sam_bench.training.guard). It changes no weight, so it is not
    # part of a run's settings key (sam_bench.recipes.recipe).
    overfit_guard: int | None = _setting(
        None,
        "PGD accuracy on the last N test images after every epoch, a collapsed run flagged "
        "(default: 512 for fgsm-rs, n-fgsm and fgsm, off for the others; 0: off).",
        metavar="N",
    )
    # Settings added after the runs above were keyed: None (the method has no such setting) leaves a run's
    # settings key as it was (sam_bench.recipes.recipe.settings_key).
    beta: float | None = _setting(
        None,
        "TRADES' weight of KL(clean || adversarial) against the clean cross-entropy (default "
        + _defaults(lambda m: m.default_beta)
        + ").",
    )
    awp_gamma: float | None = _setting(
        None,
        "AWP's weight perturbation, relative to each layer's weight norm (default "
        + _defaults(lambda m: m.awp.gamma if m.awp else None)
        + ").",
    )
    awp_warmup: int | None = _setting(
        None,
        "Epochs trained without the weight perturbation before AWP starts (default "
        + _defaults(lambda m: m.awp.warmup if m.awp else None)
        + ").",
        metavar="EPOCHS",
    )
    # Last, and out of the settings key while eager (sam_bench.recipes.recipe.settings_key): every
    # run keyed before it existed keeps its key.
    step_mode: str = _setting(
        "eager",
        "eager: as every earlier run; static: the capturable step (buffers made once, the learning rate on the "
        "device, the attacks' starts from the run's own generator); graph: that step as a CUDA graph (GPU); grouped: "
        "several seeds' static steps as one stacked network (with --seeds).",
    )

    def validate(self) -> TrainConfig:
        """Types, bounds and choices from the schema; then the rules across settings and the defaults that
        depend on other settings (filled in here)."""
        record = table.method(self.method)  # an unknown method: one line naming those there are
        found = schema.find("run-metadata", asdict(self), ref="#/$defs/config")
        if found:  # e.g. "--rho: inf is not a finite number (training setting rho)"
            name, problem = found.split(": ", 1)
            raise BadInput(f"{option_name(name.split('.')[0])}: {problem} (training setting {name})")
        if record.sam:
            if self.rho is None:
                self.rho = record.default_rho  # every SAM method's record has one (method_table.Method)
        elif self.rho is not None:
            with_rho = [n for n in table.names() if table.uses_sam(n)]
            raise BadInput(f"--rho applies to {', '.join(with_rho[:-1])} and {with_rho[-1]}, not to {self.method}")
        self._method_settings(record)
        if self.step_mode == "graph" and self.compile:
            raise BadInput(
                "--step-mode graph captures the step itself; leave --compile off (or use --step-mode static)"
            )
        if self.step_mode == "grouped" and self.compile:
            raise BadInput("--step-mode grouped calls the network under torch.func.vmap; leave --compile off")
        if self.step_mode in ("static", "graph"):
            from sam_bench.training.static_step import capturable  # torch-heavy: only when a mode needs it

            if not capturable(self.method):  # refused here, where a recipe is read, not epochs into a run
                raise BadInput(
                    f"{self.method} has a step of its own and no capturable one; train it with --step-mode eager"
                )
        if self.arch_kwargs is not None:
            if not all(isinstance(k, str) for k in self.arch_kwargs):
                raise BadInput("arch_kwargs must map timm constructor argument names to values")
            if not self.arch.startswith("timm:"):
                raise BadInput(f"--arch-kwargs passes timm's constructor arguments; {self.arch} takes --width only")
            self.arch_kwargs = dict(self.arch_kwargs) or None
        if record.attack is not None and self.attack_norm not in record.norms:
            others = [m.name for m in table.TABLE.values() if self.attack_norm in m.norms]
            raise BadInput(
                f"{self.method} attacks in {' or '.join(record.norms)}; --attack-norm {self.attack_norm} is not "
                "supported" + (f": use {' or '.join(others)} for {self.attack_norm}" if others else "")
            )
        if record.single_step is not None:
            if self.attack_steps == DEFAULT_ATTACK_STEPS:  # the PGD default: a single-step method takes one
                self.attack_steps = 1
            if self.attack_steps != 1:
                raise BadInput(
                    f"{self.method} takes one attack step; --attack-steps must be 1, got {self.attack_steps}"
                )
        if record.attack is not None:
            self.attack_eps = format_eps(check_budget(parse_eps(self.attack_eps), self.attack_norm, "--attack-eps"))
            if self.attack_step_size is None and record.single_step is not None:  # 1.25 eps (fgsm-rs), eps (others)
                self.attack_step_size = format_eps(record.single_step.step * parse_eps(self.attack_eps))
            elif self.attack_step_size is None:
                self.attack_step_size = format_eps(2.5 * parse_eps(self.attack_eps) / self.attack_steps)
            else:
                self.attack_step_size = format_eps(parse_eps(self.attack_step_size))
            if parse_eps(self.attack_step_size) == 0:  # every attack would stay where it starts
                raise BadInput(f"--attack-step-size must be above 0, got {self.attack_step_size}")
        return self

    def _method_settings(self, record: table.Method) -> None:
        """TRADES' beta and AWP's gamma and warm-up: the method's defaults, refused for a method without them."""
        owners = {
            "beta": (record.default_beta, [n for n in table.names() if table.uses_trades(n)]),
            "awp_gamma": (record.awp.gamma if record.awp else None, [n for n in table.names() if table.uses_awp(n)]),
            "awp_warmup": (record.awp.warmup if record.awp else None, [n for n in table.names() if table.uses_awp(n)]),
        }
        for name, (default, methods) in owners.items():
            if default is None and getattr(self, name) is not None:
                raise BadInput(f"{option_name(name)} applies to {' and '.join(methods)}, not to {self.method}")
            if default is not None and getattr(self, name) is None:
                setattr(self, name, default)

    def step_settings(self, epoch: int) -> dict:
        """What a method's own step takes besides its attack in this epoch (0-based): TRADES' beta; AWP's gamma
        once its warm-up is over (None before: the base method's step)."""
        settings: dict = {}
        if self.beta is not None:
            settings["beta"] = self.beta
        if self.awp_gamma is not None:
            assert self.awp_warmup is not None, "validate() sets both"
            settings["awp_gamma"] = self.awp_gamma if epoch >= self.awp_warmup else None
        return settings

    def attack(self) -> dict | None:
        if not table.uses_attack(self.method):
            return None
        assert self.attack_step_size is not None, "validate() sets the default step size"
        return dict(
            eps=parse_eps(self.attack_eps),
            norm=self.attack_norm,
            steps=self.attack_steps,
            step_size=parse_eps(self.attack_step_size),
        )

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# Settings that change how, not what, is trained: a resumed run may change them.
RUNTIME_KEYS = {f.name for f in fields(TrainConfig) if f.metadata["runtime"]}


def option_name(name: str) -> str:
    """A setting's command-line option, e.g. --batch-size, --checkpoint-every."""
    return next(f.metadata["option"] for f in fields(TrainConfig) if f.name == name) or f"--{name.replace('_', '-')}"


def schema_of(name: str) -> dict:
    """A setting's type, bounds and choices: its property in run-metadata.schema.json's `$defs/config`."""
    return schema.load("run-metadata")["$defs"]["config"]["properties"][name]
