"""An attack's random draws, image by image, from seeded CPU generators.

Every random number an evaluation's attack draws for an image comes from a CPU generator of that image alone,
seeded by the attack's seed, the image's pixels (hashed: identical images get identical draws, no index needed)
and what is drawn (the restart, the target, the attack), and is moved to the model's device afterwards. An image's
draws depend on nothing else (device, chunk, batch, earlier attacks), so a re-run of any sample starts every image
where the recorded run started it, and only arithmetic can differ. Drawn this way (`SCHEME`, recorded in
`settings.draws`): PGD's start of every restart (`pgd_starts`) and every APGD start of AutoAttack, handed to
pyautoattack as its `x_init` (`ApgdStarts`, through the one shim in sam_bench/compat.py). FAB-T's first restart
draws nothing; Square's proposals and FAB's later restarts stay pyautoattack's per-batch draws
(`replayed_attacks` names the attacks that replay image by image). More: docs/evaluation.md ("Draws per image")."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import torch

from sam_bench.attacks.pgd import random_perturbation

SCHEME = "cpu-per-image-v1"  # settings.draws of an evaluation whose draws are made here
APGD = ("apgd-ce", "apgd-t", "apgd-dlr")  # AutoAttack's attacks whose every draw is made here


def chunk_seed(seed: int, start: int) -> int:
    """The seed of an attack's chunk that starts at image `start`: a chunk's result depends only on where it
    starts (and the attack's own `seed`), so a resumed, split or replayed chunk draws what it drew."""
    return int(seed) * 1_000_003 + start


def keyed(settings) -> bool:
    """Whether an attack's recorded settings say its draws were made here (`SCHEME`)."""
    return settings.get("draws") == SCHEME


def image_keys(x: torch.Tensor) -> list[bytes]:
    """Each image's key: a digest of its pixels (float32, as the model is given them; the same bytes on every
    device, as `evaluate` makes them from the uint8 images on the CPU)."""
    rows = x.detach().to("cpu", torch.float32).contiguous().numpy().reshape(len(x), -1)
    return [hashlib.blake2b(row.tobytes(), digest_size=16).digest() for row in rows]


def generator(seed: int, key: bytes, stream: str) -> torch.Generator:
    """The CPU generator of one image's draws for `stream` (what is drawn: 'pgd/0', 'apgd-t/3')."""
    digest = hashlib.sha256(f"{int(seed)}:{stream}:".encode() + key).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "big") >> 1)


def per_image(
    keys: list[bytes], seed: int, streams: list[str], draw: Callable[[torch.Generator], torch.Tensor], device
) -> torch.Tensor:
    """One draw per image (`draw(generator)`: a tensor of one image's shape), each from its own generator."""
    rows = [draw(generator(seed, key, stream)) for key, stream in zip(keys, streams)]
    return torch.stack(rows).to(device)


def pgd_starts(x: torch.Tensor, eps: float, norm: str, seed: int) -> Callable[[int], torch.Tensor]:
    """PGD's random start of restart r for each image of x (`pgd(..., starts=)`): a uniform draw in the Linf ball,
    or a uniform direction at a uniform radius in the L2 ball (`pgd.random_perturbation`), from the image's own
    generator."""
    keys, shape = image_keys(x), tuple(x.shape[1:])

    def start(restart: int) -> torch.Tensor:
        def draw(gen: torch.Generator) -> torch.Tensor:
            return random_perturbation(torch.empty(1, *shape), eps, norm, gen)[0]

        return per_image(keys, seed, [f"pgd/{restart}"] * len(keys), draw, x.device).to(x.dtype)

    return start


class ApgdStarts:
    """The random start of every run of an APGD attack, per image (`__call__(adversary, x)` -> pyautoattack's
    `x_init`): the draw pyautoattack makes for a start (uniform in [-1, 1] for Linf, normal for L2), made from the
    image's own generator, scaled to the ball as pyautoattack scales its own (`adversary.normalize`). Each image's
    n-th start within one attack is its stream `<attack>/<n>`: APGD-T draws once per target class and restart for
    each image still robust, so n counts the runs the image itself went through."""

    def __init__(self, seed: int):
        self.seed = int(seed)
        self.attack = ""
        self.counts: dict[bytes, int] = {}

    def begin(self, attack: str) -> None:
        """The attack whose starts follow (each attack counts its own)."""
        self.attack, self.counts = attack, {}

    def __call__(self, adversary, x: torch.Tensor) -> torch.Tensor:
        keys = image_keys(x)
        streams = []
        for key in keys:
            n = self.counts.get(key, 0)
            self.counts[key] = n + 1
            streams.append(f"{self.attack}/{n}")
        shape = tuple(x.shape[1:])
        draw = {
            "Linf": lambda gen: 2 * torch.rand(shape, generator=gen) - 1,
            "L2": lambda gen: torch.randn(shape, generator=gen),
        }.get(adversary.norm)
        if draw is None:
            raise ValueError(f"no per-image start for APGD in the {adversary.norm} ball")
        t = per_image(keys, self.seed, streams, draw, x.device).to(x.dtype)
        return x + adversary.eps * torch.ones_like(x).detach() * adversary.normalize(t)


def replayed_attacks(attacks: list[str], config: dict) -> list[str]:
    """The leading attacks of an AutoAttack list (with its recorded `config`) whose every draw is made here image by
    image, or that draw nothing, so that a re-run of any sample replays them: APGD's, and FAB's when it runs one
    restart (its first starts from the image itself). In the standard version apgd-ce, apgd-t and fab-t; Square,
    whose proposals a batch shares, is the first that does not replay."""
    found = []
    for name in attacks:
        deterministic = name in ("fab", "fab-t") and (config.get(name) or {}).get("restarts") == 1
        if name not in APGD and not deterministic:
            break
        found.append(name)
    return found
