"""Run by tests/test_memory_format.py in a subprocess (the oneDNN bug it looks for can segfault or hang).

    python tests/memory_format_probe.py ARCH WIDTH [--layout auto|channels_last|contiguous] [--methods ...]
    python tests/memory_format_probe.py --models '[["preactresnet18", 0.125, "null"], ...]'


For every method: a training step of the model as `sam_bench.training.loop` runs them (fp32, in the
memory format `sam_bench.runtime.memory_format.training_format` picks on the CPU). Every weight gradient
that a convolution's backward pass produces is checked against an fp64 NCHW reference computed
from the same layer input and output gradient (`torch.nn.grad.conv2d_weight` in fp64, which does
not go through oneDNN). Comparing layer by layer keeps the check well-conditioned: comparing whole
models in fp32 and fp64 mixes in ReLUs that flip on rounding, which moves gradients by percents.
Prints one JSON line per model, method and step, so a crash or hang shows where it happened. `--models`
probes several models in one process: each process spends seconds starting Python and torch, which
the test's twenty models once paid twenty times per instruction set.
"""

from __future__ import annotations

import argparse
import json
import threading

import torch
import torch.nn as nn

from sam_bench.data import STATS
from sam_bench.models import create_model, make_spec
from sam_bench.runtime.memory_format import training_format
from sam_bench.training import method_table
from sam_bench.training.loop import TrainConfig, build_optimizer
from sam_bench.training.methods import train_step

METHODS = method_table.names()

# One step per method: a second step ran the same kernels on the same shapes again (each step already runs
# them several times: SAM's two passes, the attacks'), and doubled the probe's time in every CI run.
STEPS, BATCH = 1, 2


class ConvGradientCheck:
    """Records, for every Conv2d, each backward pass's weight gradient with its layer input and output gradient."""

    def __init__(self, model: nn.Module):
        self.checked, self.worst, self.where = 0, 0.0, ""
        for name, conv in model.named_modules():
            if isinstance(conv, nn.Conv2d):
                conv.register_forward_hook(self._forward_hook(name))
                conv.weight.register_hook(self._weight_hook(name, conv))
        self.passes: dict[str, list[dict]] = {}

    def _forward_hook(self, name):
        def hook(conv, inputs, output):
            if output.requires_grad:
                # a pass whose output gradient came before this forward was an attack's (no weight gradient)
                self.passes[name] = [r for r in self.passes.get(name, []) if "grad_output" not in r]
                record = {"input": inputs[0].detach()}
                output.register_hook(lambda g: record.__setitem__("grad_output", g.detach()))
                self.passes.setdefault(name, []).append(record)

        return hook

    def _weight_hook(self, name, conv):
        def hook(grad_weight):
            # Every pass of this backward: one for most losses, two for TRADES' (clean and adversarial), whose
            # weight gradient is their sum. Attack passes were dropped at the next forward (_forward_hook).
            records = [r for r in self.passes[name] if "grad_output" in r]
            reference = sum(
                torch.nn.grad.conv2d_weight(
                    r["input"].double(),
                    conv.weight.shape,
                    r["grad_output"].double(),
                    conv.stride,
                    conv.padding,
                    conv.dilation,
                    conv.groups,
                )
                for r in records
            )
            scale = reference.abs().max().item()
            err = (grad_weight.double() - reference).abs().max().item() / scale if scale else 0.0
            if not err <= self.worst:  # NaN counts as the worst
                self.worst, self.where = err, name
            self.checked += 1
            self.passes[name] = []

        return hook


def probe(arch: str, width: float, arch_kwargs: str, methods: list[str], args: argparse.Namespace) -> None:
    """One training step per method of one model, each convolution weight gradient checked; a line each."""
    kwargs = json.loads(arch_kwargs)
    spec = make_spec(arch, args.num_classes, *STATS["cifar10"], width, kwargs)
    for method in methods:
        settings = dict(method=method, arch=arch, width=width, arch_kwargs=kwargs, batch_size=BATCH)
        if method_table.uses_sam(method):
            settings.update(rho=0.1)
        if method_table.uses_attack(method):
            steps = 1 if method_table.single_step(method) else 2  # fgsm-rs, n-fgsm and fgsm take exactly one step
            settings.update(attack_norm="Linf", attack_eps="8/255", attack_steps=steps, attack_step_size="2/255")
        cfg = TrainConfig(**settings).validate()
        torch.manual_seed(0)
        model = create_model(spec).train()
        layout = {
            "auto": training_format(model, "cpu"),
            "channels_last": torch.channels_last,
            "contiguous": torch.contiguous_format,
        }[args.layout]
        model = model.to(memory_format=layout)
        if args.fault:  # registered first, so the check's hook receives the altered gradient
            first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
            first.weight.register_hook(lambda grad: grad * 1.001)
        check = ConvGradientCheck(model)
        optimizer = build_optimizer(cfg, model)
        attack = cfg.attack() if method_table.uses_attack(method) else None
        for step in range(STEPS):
            x = torch.rand(BATCH, 3, 32, 32).contiguous(memory_format=layout)
            y = torch.randint(0, args.num_classes, (BATCH,))
            train_step(method, model, optimizer, x, y, attack, settings=cfg.step_settings(0))
            print(
                json.dumps(
                    {
                        "model": [arch, width, arch_kwargs],
                        "method": method,
                        "step": step,
                        "layout": str(layout).removeprefix("torch."),
                        "weight_gradients_checked": check.checked,
                        "error": check.worst,
                        "layer": check.where,
                    }
                ),
                flush=True,
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("arch", nargs="?")
    ap.add_argument("width", type=float, nargs="?")
    ap.add_argument("--num-classes", type=int, default=10)
    ap.add_argument("--arch-kwargs", default="null", help="timm constructor arguments, as JSON")
    ap.add_argument("--models", help="several models, one after the other: a JSON list of [arch, width, arch_kwargs]")
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument(
        "--layout",
        choices=["auto", "channels_last", "contiguous"],
        default="auto",
        help="auto: training_format's choice; the others override it (to show what the probe catches)",
    )
    ap.add_argument(
        "--fault",
        action="store_true",
        help="scale the first convolution's weight gradient by 1.001 before the check sees it (to show it catches it)",
    )
    ap.add_argument(
        "--hang",
        action="store_true",
        help="block before the first step, as oneDNN #6035 did (to show a hang is caught)",
    )
    args = ap.parse_args()
    if args.hang:
        threading.Event().wait()
    if (args.models is None) == (args.arch is None or args.width is None):
        ap.error("give ARCH WIDTH or --models, not both")
    models = json.loads(args.models) if args.models else [[args.arch, args.width, args.arch_kwargs]]
    for arch, width, arch_kwargs in models:
        probe(arch, float(width), arch_kwargs, args.methods.split(","), args)


if __name__ == "__main__":
    main()
