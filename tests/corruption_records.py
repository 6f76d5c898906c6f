"""What the corruption pass's tests compare: two measurements of one model on one set, image by image."""

from sam_bench.evaluation import outcomes


def same_outcomes(first: dict, second: dict) -> list[str]:
    """Where two {corruption: {severity: outcomes}} of the same model and set differ image by image ("fog 3: 2 of
    500 images"), or two records holding them as `outcomes`: empty when a re-measurement matches, as it must."""
    first, second = first.get("outcomes", first), second.get("outcomes", second)
    differ = []
    for corruption, by_severity in first.items():
        for severity, record in by_severity.items():
            other = second.get(corruption, {}).get(severity)
            if other is None:
                differ.append(f"{corruption} {severity}: not measured again")
                continue
            a, b = outcomes.aligned(record, other)
            if (a != b).any():
                differ.append(f"{corruption} {severity}: {int((a != b).sum())} of {len(a)} images")
    return differ
