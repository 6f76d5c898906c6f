"""What standard AutoAttack will cost (on a CPU many minutes for a hundred images), said before it starts: from the
timed probe before its first chunk, how long it is expected to take here, and on a CPU the cheaper APGD-CE + APGD-T."""

from __future__ import annotations

CHEAPER = "--version custom --attacks apgd-ce,apgd-t"


def announces(spec) -> bool:
    """Whether an attack gets the estimate: standard AutoAttack, the long one."""
    return spec.attack == "autoattack" and spec.params.version == "standard"


def duration(seconds: float, minutes: str = "minutes", hours: str = "hours") -> str:
    """42 s, 3.5 minutes, 2.1 hours (the units' names as given: "min", "h" for a progress line)."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.1f} {minutes}"
    return f"{seconds / 3600:.1f} {hours}"


def estimate(label: str, images: int, probe_images: int, probe_seconds: float, device_type: str) -> str:
    """The line said before standard AutoAttack starts on `images` images, from its timed probe."""
    expected = probe_seconds / probe_images * images
    line = (
        f"{label}: about {duration(expected)} for {images} images here (the whole suite timed on {probe_images} "
        f"image{'s' if probe_images != 1 else ''}: {probe_seconds:.1f} s; a more robust model takes longer)"
    )
    if device_type == "cpu":
        line += (
            f"; on a CPU, APGD-CE + APGD-T alone ({CHEAPER}) skip FAB-T and Square, most of standard's time, "
            "though RobustBench's board takes standard results only"
        )
    return line
