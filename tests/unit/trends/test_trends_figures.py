"""The stage's figures draw what the tables hold; the token table colours and escapes tokens."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from lmtraj.errors import DataError
from lmtraj.trends.classes import DOWNWARD, STAGNATED, UNCLASSIFIED, UPWARD
from lmtraj.trends.figures import plot_class_shares, plot_group_curves
from lmtraj.trends.token_table import token_table_html

MODELS = ["small", "large"]


def _curves() -> pd.DataFrame:
    rows = []
    for selector in MODELS:
        for model in MODELS:
            for i, step in enumerate([100, 200, 300]):
                rows.append(
                    {
                        "selector": selector,
                        "fraction": 0.1,
                        "trend_class": "upward",
                        "n_selected": 3,
                        "selected_share": 0.094 if selector == "small" else 0.05,
                        "model": model,
                        "step": step,
                        "flops": 6e6 * step * (1 if model == "small" else 8),
                        "valid_ppl": 100.0 / (i + 1),
                        "group_ppl": [30.0, 35.0, 25.0][i],
                    }
                )
    return pd.DataFrame(rows)


def test_class_shares_figure_has_one_line_per_model_and_panel():
    shares = pd.DataFrame(
        [
            {"model": m, "fraction": f, "trend_class": c, "share": 0.25}
            for m in MODELS
            for f in (0.1, 0.2)
            for c in ("stagnated", "upward", "downward", "unclassified")
        ]
    )
    fig = plot_class_shares(shares, MODELS)
    assert [ax.get_title() for ax in fig.axes] == [
        "stagnated",
        "upward",
        "downward",
        "unclassified",
    ]
    line = fig.axes[1].lines[0]
    np.testing.assert_allclose(line.get_xdata(), [10, 20])
    np.testing.assert_allclose(line.get_ydata(), [25, 25])
    plt.close(fig)


@pytest.mark.parametrize("x", ["flops", "valid_ppl"])
def test_group_curves_figure_annotates_shares(x):
    fig = plot_group_curves(_curves(), MODELS, "upward", 0.1, selectors=("own", "small"), x=x)
    own, by_small = fig.axes
    assert [t.get_text() for t in own.get_legend().get_texts()] == [
        "small (9.4%)",
        "large (5.0%)",
    ]
    assert "9.4% of tokens" in by_small.get_title()
    assert len(by_small.lines) == 2
    np.testing.assert_allclose(by_small.lines[0].get_ydata(), [30.0, 35.0, 25.0])
    if x == "valid_ppl":
        assert own.xaxis_inverted()
    plt.close(fig)
    with pytest.raises(DataError, match="no group curves"):
        plot_group_curves(_curves(), MODELS, "stagnated", 0.1)


def test_token_table_html_colours_and_escapes():
    tokens = pd.DataFrame(
        {
            "doc": [0, 0, 0, 1],
            "position": [2, 1, 3, 1],
            "token_id": [5, 6, 7, 8],
            "token": ["<b>", " the", " &", "x"],
        }
    )
    classes = {
        "small": np.array([UPWARD, STAGNATED, DOWNWARD, UNCLASSIFIED]),
        "large": np.array([UNCLASSIFIED, UNCLASSIFIED, UNCLASSIFIED, UPWARD]),
    }
    page = token_table_html(tokens, classes, doc=0, fraction=0.1)
    assert "<b>" not in page.replace("<body>", "")  # token text is escaped
    assert '#fc9272" title="upward">&lt;b&gt;</span>' in page
    # tokens in position order: " the" (position 1) comes before "<b>" (position 2)
    assert page.index(" the</span>") < page.index("&lt;b&gt;</span>")
    assert "<h2>large</h2>" in page and "after 10% of training" in page
    with pytest.raises(DataError, match="document 7"):
        token_table_html(tokens, classes, doc=7, fraction=0.1)
