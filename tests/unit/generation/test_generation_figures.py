"""Generation figures: panel layout and plotted values on a small hand-made table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmtraj.errors import DataError
from lmtraj.generation.figures import against_valid_ppl, corrupted, trajectories

MODELS = ["small", "large"]


def ppl_table() -> pd.DataFrame:
    rows = []
    for model, params in [("small", 1e5), ("large", 1e6)]:
        for step in [0, 10, 20]:
            for setting in ["p_s-p_l", "p_l"]:
                rows.append(
                    {
                        "model": model,
                        "step": step,
                        "setting": setting,
                        "decoding": "greedy",
                        "max_new_tokens": 50,
                        "ppl": 10.0 + step + (params > 1e5),
                        "params_total": params,
                        "flops": 6 * params * step * 100,
                        "valid_ppl": 100.0 - step,
                    }
                )
    return pd.DataFrame(rows)


def test_trajectories_layout_and_values():
    fig = trajectories(ppl_table(), MODELS, "greedy", 50)
    axes = fig.axes
    assert len(axes) == 4 and axes[0].get_title() == "p_s-p_l"
    # Row 1: final checkpoint (step 20) against parameters, small then large.
    x, y = axes[0].lines[0].get_data()
    assert list(x) == [1e5, 1e6] and list(y) == [30.0, 31.0]
    # Row 2: one line per model; step 0 (no FLOPs) is left off the log axis.
    lines = axes[2].lines
    assert [line.get_label() for line in lines] == MODELS
    assert list(lines[0].get_ydata()) == [20.0, 30.0]


def test_against_valid_ppl_and_missing_selection():
    fig = against_valid_ppl(ppl_table(), MODELS, "greedy", 50)
    assert len(fig.axes) == 2
    assert list(fig.axes[0].lines[1].get_xdata()) == [100.0, 90.0, 80.0]
    assert fig.axes[0].xaxis_inverted()
    with pytest.raises(DataError, match="decoding 'nucleus', length 50"):
        trajectories(ppl_table(), MODELS, "nucleus", 50)


def test_corrupted_one_line_per_level():
    table = pd.DataFrame(
        {
            "model": ["small", "large"] * 2,
            "level_percent": [20.0, 20.0, 100.0, 100.0],
            "ppl": [50.0, 40.0, 500.0, 400.0],
            "params_total": [1e5, 1e6] * 2,
            "vocab_size": [512] * 4,
        }
    )
    fig = corrupted(table, MODELS)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["20%", "100%", "uniform (512)"]
    np.testing.assert_array_equal(ax.lines[1].get_ydata(), [500.0, 400.0])
