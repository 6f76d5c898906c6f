"""How far AutoAttack is through a chunk, in images, for its progress bar.

Its attacks cost very different amounts (APGD-CE is quick, FAB-T and Square take most of the time), so each is
weighed by its forward passes per image (attacks.autoattack's `forward_passes_by_attack`) times the images it
attacks; work to come is counted on the images robust now, so the bar never runs ahead nor moves backwards."""

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
