"""AutoAttack's versions and attacks, and what a gradient costs in forward passes: torch-free facts that the
attack table (evaluation/attack_table.py) and the CLI's choices read; attacks/autoattack.py runs them."""

VERSIONS = ("standard", "plus", "rand", "custom")
FORWARDS_PER_GRADIENT = 3  # a forward pass and its backward, the backward counted as two forwards
ATTACK_NAMES = ("apgd-ce", "apgd-dlr", "fab", "square", "apgd-t", "fab-t")
