"""Standard AutoAttack says what it will cost before it starts (sam_bench.evaluation.autoattack_estimate): the
estimate from the timed probe before its first chunk, the cheaper APGD-CE + APGD-T suggested on a CPU."""

from __future__ import annotations

from sam_bench.evaluation import autoattack_estimate
from sam_bench.evaluation.specs import make_attacks


def test_the_estimate_scales_the_probe_to_the_images_and_suggests_the_cheaper_attacks_on_a_cpu():
    line = autoattack_estimate.estimate("autoattack Linf 8/255", 100, 4, 55.2, "cpu")
    assert line.startswith("autoattack Linf 8/255: about 23.0 minutes for 100 images here")
    assert "timed on 4 images: 55.2 s" in line
    assert "--version custom --attacks apgd-ce,apgd-t" in line
    on_gpu = autoattack_estimate.estimate("autoattack Linf 8/255", 10_000, 256, 30.0, "cuda")
    assert on_gpu.startswith("autoattack Linf 8/255: about 19.5 minutes for 10000 images")
    assert "apgd-ce,apgd-t" not in on_gpu
    assert [autoattack_estimate.duration(s) for s in (42, 600, 9000)] == ["42 s", "10.0 minutes", "2.5 hours"]


def test_only_standard_autoattack_is_announced():
    (standard,) = make_attacks("autoattack", "Linf", ["8/255"], version="standard")
    (custom,) = make_attacks("autoattack", "Linf", ["8/255"], version="custom", attacks=["apgd-ce", "apgd-t"])
    (pgd,) = make_attacks("pgd", "Linf", ["8/255"], steps=1)
    assert [autoattack_estimate.announces(s) for s in (standard, custom, pgd)] == [True, False, False]
