"""How far AutoAttack is through a chunk, in images, for its progress bar.

AutoAttack runs its attacks one after another, each on the images the ones before it left unfooled, and they
cost very different amounts: in standard AutoAttack APGD-CE is quick while FAB-T and Square take most of the
time. Moving the bar by the fraction of attacks started would make its rate and ETA wrong by minutes, so each
attack is weighed by its work: the forward passes it spends on an image (attacks.autoattack's
`forward_passes_by_attack`) times the images it attacks. Work still to come is counted on the images robust
now, the most it can be, so the bar never runs ahead of the work and never moves backwards.
"""

from __future__ import annotations


class ChunkProgress:
    """The bar position for a chunk of `images` images, given each attack's forward passes per image in the
    order AutoAttack runs them (`costs`)."""

    def __init__(self, images: int, costs: dict[str, int]):
        self.images = images
        self.costs = dict(costs)
        self.names = list(self.costs)
        self.done = 0  # forward passes spent by the attacks already finished
        self.running: tuple[str, int] | None = None  # the attack started last and the images it attacks

    def position(self, name: str, attacked: int) -> float:
        """Where the bar stands, in images, when attack `name` starts on `attacked` images (those still robust):
        the chunk's images times the work done over the work done and still to come."""
        if self.running is not None:
            started, images = self.running
            self.done += self.costs[started] * images
        self.running = (name, attacked)
        to_come = attacked * sum(self.costs[n] for n in self.names[self.names.index(name) :])
        total = self.done + to_come
        return self.images * (self.done / total if total else 1.0)
