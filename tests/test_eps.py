import pytest

from sam_bench.eps import format_eps, parse_eps
from sam_bench.errors import BadInput


@pytest.mark.parametrize(
    "text,value,written",
    [
        ("8/255", 8 / 255, "8/255"),
        ("0.5", 0.5, "0.5"),
        ("16/255", 16 / 255, "16/255"),
        ("0", 0.0, "0"),
        ("0.5/255", 0.5 / 255, "0.5/255"),
        ("0.25/255", 0.25 / 255, "0.25/255"),
        ("0.031", 0.031, "0.031"),
        (" 2/255 ", 2 / 255, "2/255"),
    ],
)
def test_parse_and_format_round_trip(text, value, written):
    assert parse_eps(text) == pytest.approx(value)
    assert format_eps(parse_eps(text)) == written


@pytest.mark.parametrize("bad", ["abc", "-1/255", "-0.1", "1/0", "", "nan", "inf"])
def test_bad_eps_is_refused(bad):
    with pytest.raises(BadInput):
        parse_eps(bad)


def test_budgets_beyond_the_image_space_are_refused():
    from sam_bench.evaluation.specs import make_attacks
    from sam_bench.threat_models import check_budget
    from sam_bench.training.loop import TrainConfig

    assert check_budget(1.0, "Linf") == 1.0 and check_budget(55.4, "L2") == 55.4
    with pytest.raises(BadInput, match=r"--eps 300/255 is beyond any two images for Linf; at most 1"):
        make_attacks("pgd", "Linf", ["300/255"])
    with pytest.raises(BadInput, match="at most 55.4"):
        make_attacks("pgd", "L2", ["56"])
    with pytest.raises(BadInput, match="--attack-eps 300/255 is beyond"):
        TrainConfig(method="at", attack_eps="300/255").validate()
    make_attacks("pgd", "L2", ["300/255"])  # fine in L2
