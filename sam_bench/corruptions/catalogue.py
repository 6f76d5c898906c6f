"""The corruptions of CIFAR-10-C, their families and severities, and the names of the sets that hold them.

`CORRUPTIONS` is Hendrycks and Dietterich's order, the families theirs (noise, blur, weather, digital);
`ROBUSTBENCH_ORDER` is RobustBench's (`robustbench.data.CORRUPTIONS`), the order of the columns of its
`unaggregated_results.csv`. A severity is 1-5; in a file of 50,000 images severity s holds images
10,000 x (s - 1) .. 10,000 x s - 1, each block the test set in its order.
"""

from __future__ import annotations

from sam_bench.errors import BadInput

FAMILIES = {
    "noise": ("gaussian_noise", "shot_noise", "impulse_noise"),
    "blur": ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur"),
    "weather": ("snow", "frost", "fog", "brightness"),
    "digital": ("contrast", "elastic_transform", "pixelate", "jpeg_compression"),
}
CORRUPTIONS = tuple(c for members in FAMILIES.values() for c in members)  # theirs, family by family
ROBUSTBENCH_ORDER = tuple(
    "shot_noise motion_blur snow pixelate gaussian_noise defocus_blur brightness fog zoom_blur frost glass_blur "
    "impulse_noise contrast jpeg_compression elastic_transform".split()
)
SEVERITIES = (1, 2, 3, 4, 5)

# The corruption sets, by name. The official one is read from RobustBench's layout; the generated ones are
# made here and are never the official one: their names say so, results record it, and boards keep them apart.
OFFICIAL = "cifar10-c"
GENERATED = "cifar10-c-generated"  # from the CIFAR-10 test set
SAMPLE_GENERATED = "cifar10-sample-c-generated"  # from the bundled sample's test images (tests, quick start)
SETS = (OFFICIAL, GENERATED, SAMPLE_GENERATED)


def is_generated(set_name: str) -> bool:
    return check_set(set_name) != OFFICIAL


def check_set(name: str) -> str:
    if name not in SETS:
        raise BadInput(f"unknown corruption set {name!r}: one of {', '.join(SETS)}")
    return name


def check_corruption(name: str) -> str:
    if name not in CORRUPTIONS:
        raise BadInput(f"unknown corruption {name!r}: one of {', '.join(CORRUPTIONS)}")
    return name


def check_severity(value) -> int:
    """A severity as an int 1-5 (an int or its decimal string); anything else is bad input."""
    text = str(value).strip()
    if isinstance(value, bool) or not text.isdigit() or int(text) not in SEVERITIES:
        raise BadInput(f"corruption severity must be one of 1, 2, 3, 4, 5, got {value!r}")
    return int(text)


def parse_selection(corruptions: str | None = None, severities: str | None = None) -> tuple[tuple, tuple]:
    """The corruptions and severities a comma-separated selection names (all of either when not given)."""
    names = (
        tuple(CORRUPTIONS) if not corruptions else tuple(check_corruption(c.strip()) for c in corruptions.split(","))
    )
    levels = tuple(SEVERITIES) if not severities else tuple(check_severity(s) for s in str(severities).split(","))
    if len(set(names)) != len(names) or len(set(levels)) != len(levels):
        raise BadInput("a corruption or severity is named twice")
    return names, levels


THREAT_MODEL = "corruptions"  # RobustBench's name (robustbench.model_zoo.enums.ThreatModel.corruptions)


def board(set_record: dict) -> str:
    """The board a corruptions result ranks on: the official set's, or the generated sets' own (never both)."""
    return THREAT_MODEL + ("-generated" if set_record.get("generated", True) else "")


def check_submittable(set_record: dict) -> None:
    """RobustBench ranks corruptions on the official CIFAR-10-C: a result on a generated set is not submitted."""
    if set_record.get("generated", True) or set_record.get("name") != OFFICIAL:
        raise BadInput(
            f"corruptions measured on {set_record.get('name')!r}, a set sam-bench generated, cannot be submitted "
            f"to RobustBench: its board ranks the official CIFAR-10-C (evaluate on {OFFICIAL} from its files)"
        )
