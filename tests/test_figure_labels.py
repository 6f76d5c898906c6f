"""Labels on a scatter plot placed clear of one another and of the points (sam_bench.figure_labels): twenty
points on one spot, as every ST and SAM model of a board sits at 0% AutoAttack accuracy, stay readable."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from sam_bench import figure_labels  # noqa: E402


def test_crowded_labels_do_not_overlap_and_each_names_its_point():
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=100)
    xs = [50 + 0.3 * i for i in range(20)] + [20.0]
    ys = [0.0] * 20 + [30.0]
    ax.scatter(xs, ys)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 40)
    texts = [str(i + 1) for i in range(len(xs))]
    figure_labels.place(ax, xs, ys, texts)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    labels = [t for t in ax.texts]
    assert [t.get_text() for t in labels] == texts
    boxes = [Text.get_window_extent(t, renderer) for t in labels]  # the text alone, not its leader line
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            assert not a.overlaps(b), "two labels overlap"
    inside = ax.get_window_extent(renderer)
    assert all(inside.y0 <= box.y0 for box in boxes)  # none under the axis, over the tick labels
    assert all(t.xy == (x, y) for t, x, y in zip(labels, xs, ys))  # each tied to its own point
    plt.close(fig)
