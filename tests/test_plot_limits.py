"""The report's clean vs robust trade-off plot fits its axes to its points (sam_bench/report/plot_limits.py): every
point with its error bar inside, a margin around them, never the whole 0-100 when the points span a few points."""

import numpy as np
from run_records import run_record

from sam_bench.evaluation import outcomes
from sam_bench.report import plots
from sam_bench.report.plot_limits import fitted

N = 1000


def test_the_limits_contain_every_interval_with_a_margin_and_no_more_than_the_range():
    low, high = fitted([80.0, 84.5], [83.0, 86.0])
    assert 0 < low < 80 and 86 < high < 100 and high - low < 10
    assert fitted([0.0, 1.0], [2.0, 4.0])[0] == 0  # clipped at 0, an accuracy's least
    assert fitted([98.5], [99.9])[1] == 100  # and at 100, its most
    one = fitted([3.8], [3.8])  # one point without an error bar still gets an axis around it
    assert one[0] < 3.8 < one[1] and one[1] - one[0] >= 2
    assert fitted([], []) == (0.0, 100.0)
    assert fitted([10.0], [90.0]) == (2.0, 98.0)  # a margin of a tenth of the span on each side


def _record(name, method, clean, robust):
    flags = lambda k: np.arange(N) < k  # noqa: E731
    return run_record(
        {
            "name": name,
            "config": {"method": method},
            "results": {
                "clean_acc": clean / N,
                "clean_outcomes": outcomes.encode(flags(clean)),
                "dataset": {"n_examples": N},
                "evaluations": [
                    {
                        "attack": "pgd",
                        "norm": "Linf",
                        "eps": "8/255",
                        "eps_value": 8 / 255,
                        "robust_acc": robust / N,
                        "n_examples": N,
                        "outcomes": outcomes.encode(flags(robust)),
                    }
                ],
            },
        }
    )


def test_the_tradeoff_plot_fits_points_that_span_little(tmp_path, monkeypatch):
    records = [_record("ST", "standard", 820, 20), _record("SAM-0.1", "sam", 835, 45)]
    drawn = {}

    def keep(plt, fig, out, name):
        (ax,) = fig.axes
        ends = [point for c in ax.containers for bars in c[2] for segment in bars.get_segments() for point in segment]
        drawn[name] = ax.get_xlim(), ax.get_ylim(), np.array(ends)
        plt.close(fig)
        return name

    monkeypatch.setattr(plots, "save", keep)
    assert "tradeoff.png" in plots.draw(tmp_path, records, None)
    (x_low, x_high), (y_low, y_high), ends = drawn["tradeoff.png"]
    assert len(ends) == 8  # two points, each with an error bar on both axes
    assert x_low < ends[:, 0].min() and ends[:, 0].max() < x_high and x_high - x_low < 20
    assert y_low < ends[:, 1].min() and ends[:, 1].max() < y_high < 15  # 2% and 4.5% not squeezed into a 0-100 axis
