"""The paper's own training loop, re-implemented as the baseline that `sam-bench bench` measures; NOT used for
training anything (sam-bench trains with `sam_bench.training.loop`). Written from a reading of weizeming/SAM_AT
and davda54/sam, not copied, it keeps every choice that costs time: docs/benchmarks.md ("The paper's loop")
lists them. Its model is sam-bench's `PreActResNet` with the in-model normalization replaced by identity.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from sam_bench.data import STATS
from sam_bench.models.preact_resnet import PreActResNet
from sam_bench.training import method_table as table

PAPER_BATCH_SIZE = 128


# Data: PIL images through torchvision transforms, batched by a DataLoader


class PILImages(torch.utils.data.Dataset):
    """uint8 (N, 32, 32, 3) images as PIL images, like torchvision's CIFAR10 data set."""

    def __init__(self, x: np.ndarray, y: np.ndarray, transform=None):
        self.x, self.y, self.transform = x, np.asarray(y, np.int64), transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i):
        image = Image.fromarray(self.x[i])
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.y[i])


def paper_transform():
    from torchvision import transforms

    return transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4, padding_mode="reflect"),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
        ]
    )


def paper_loader(
    x: np.ndarray, y: np.ndarray, batch_size: int = PAPER_BATCH_SIZE, num_workers: int = 0, seed: int = 0
) -> torch.utils.data.DataLoader:
    generator = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(
        PILImages(x, y, paper_transform()),
        batch_size=batch_size,
        shuffle=True,
        num_workers=num_workers,
        generator=generator,
    )


def endless(loader):
    """Batches of `loader`, epoch after epoch (a new shuffled pass each time, as the paper's loop)."""
    return itertools.chain.from_iterable(loader for _ in itertools.count())


def make_normalize(family: str = "cifar10"):
    mean, std = STATS[family]
    mu, sigma = torch.tensor(mean).view(3, 1, 1), torch.tensor(std).view(3, 1, 1)

    def normalize(x):  # the paper moves its constants to the batch's device on every call
        return (x - mu.to(x.device)) / sigma.to(x.device)

    return normalize


# Model and optimizers


def paper_model(num_classes: int = 10, width: float = 1.0) -> nn.Module:
    """PreActResNet-18 that expects normalized inputs (normalization outside the model)."""
    model = PreActResNet([2, 2, 2, 2], num_classes, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), width)
    model.normalize = nn.Identity()
    return model


class PaperSAM(torch.optim.Optimizer):
    """SAM the way davda54/sam (non-adaptive) does it: per-parameter loops, `e_w` kept in state."""

    def __init__(self, params, base_optimizer_cls=torch.optim.SGD, rho: float = 0.05, **kwargs):
        super().__init__(params, dict(rho=rho, **kwargs))
        self.base_optimizer = base_optimizer_cls(self.param_groups, **kwargs)
        self.param_groups = self.base_optimizer.param_groups

    @torch.no_grad()
    def first_step(self, zero_grad: bool = False) -> None:
        device = self.param_groups[0]["params"][0].device
        grads = [p.grad for group in self.param_groups for p in group["params"] if p.grad is not None]
        norm = torch.norm(torch.stack([g.norm(p=2).to(device) for g in grads]), p=2)
        for group in self.param_groups:
            scale = group["rho"] / (norm + 1e-12)
            for p in group["params"]:
                if p.grad is None:
                    continue
                e_w = p.grad * scale.to(p)
                p.add_(e_w)
                self.state[p]["e_w"] = e_w
        if zero_grad:
            self.zero_grad()

    @torch.no_grad()
    def second_step(self, zero_grad: bool = False) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                p.sub_(self.state[p]["e_w"])
        self.base_optimizer.step()
        if zero_grad:
            self.zero_grad()


def paper_optimizer(method: str, model: nn.Module, lr: float = 0.1, rho: float = 0.05):
    kwargs: dict[str, Any] = dict(lr=lr, momentum=0.9, weight_decay=5e-4)
    if method == table.SAM:
        return PaperSAM(model.parameters(), torch.optim.SGD, rho=rho, **kwargs)
    return torch.optim.SGD(model.parameters(), **kwargs)


# One step of the paper's loop


def paper_pgd(model, x, y, normalize, eps: float = 8 / 255, step_size: float = 2 / 255, steps: int = 10):
    """The paper's Linf PGD for training: random start, model left in train mode, `loss.backward()`."""
    delta = torch.zeros_like(x).uniform_(-eps, eps)
    delta = torch.clamp(delta, -x, 1 - x)
    delta.requires_grad = True
    for _ in range(steps):
        loss = F.cross_entropy(model(normalize(x + delta)), y)
        loss.backward()
        assert delta.grad is not None  # delta requires grad, so backward() filled it
        d = torch.clamp(delta + step_size * delta.grad.detach().sign(), -eps, eps)
        delta.data = torch.clamp(d, -x, 1 - x)
        delta.grad.zero_()
    return delta.detach()


def paper_step(method: str, model, optimizer, x, y, normalize, device, attack: dict | None = None):
    """One iteration of the paper's training loop body; returns (loss * n, correct) as Python
    numbers, read from the device every step as the paper does."""
    x, y = x.to(device), y.to(device)
    if method == table.AT:
        delta = paper_pgd(model, x, y, normalize, **(attack or {}))
    else:
        delta = torch.zeros_like(x).to(x.device)
    output = model(normalize(x + delta))
    loss = F.cross_entropy(output, y)
    if method == table.SAM:
        loss.backward()
        optimizer.first_step(zero_grad=True)
        F.cross_entropy(model(normalize(x + delta)), y).backward()  # train mode: BN statistics move again
        optimizer.second_step(zero_grad=True)
    else:
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return (loss * len(y)).item(), (output.max(1)[1] == y).float().sum().item()
