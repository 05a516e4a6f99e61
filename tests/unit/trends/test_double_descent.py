"""Group perplexity, the double-descent test and per-token patterns on hand-built trajectories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmtraj.errors import DataError
from lmtraj.trends.classes import CLASSES, DOWNWARD, STAGNATED, UPWARD
from lmtraj.trends.double_descent import (
    PATTERNS,
    double_descent_table,
    double_descent_test,
    group_curves,
    group_mean_nll,
    group_ppl,
    one_hot,
    pattern_table,
    token_patterns,
)


def test_group_ppl_is_the_geometric_mean_skipping_nans():
    nll = np.log(np.array([[2.0, 4.0], [8.0, np.nan], [1.0, 1.0]]))
    got = group_ppl(nll, np.array([True, True, False]))
    np.testing.assert_allclose(got, [4.0, 4.0])  # sqrt(2*8), then 4 alone
    assert np.isnan(group_ppl(nll, np.zeros(3, dtype=bool))).all()
    means = group_mean_nll(nll, one_hot(np.array([0, 1, -1]), 2))
    np.testing.assert_allclose(np.exp(means), [[2.0, 4.0], [8.0, np.nan]])


@pytest.mark.parametrize(
    ("curve", "expected"),
    [
        ([10.0, 12.0, 11.0, 9.0], True),  # peak 20% above the start, 33% above the end
        ([10.0, 10.3, 9.0], False),  # only 3% above the start
        ([10.0, 12.0, 11.8], False),  # 1.7% above the end: it rose and stayed
        ([12.0, 11.0, 10.0, 9.0], False),  # monotone
        ([10.0, 9.0], False),  # no interior
        ([10.0, np.nan, 12.0, 9.0], True),  # NaN interior points are skipped
    ],
)
def test_double_descent_test(curve, expected):
    assert double_descent_test(np.array(curve), 0.05).double_descent is expected


def test_double_descent_test_reports_start_peak_end():
    res = double_descent_test(np.array([10.0, 12.0, 11.0, 9.0]), 0.05)
    assert (res.start, res.peak, res.end, res.peak_index) == (10.0, 12.0, 9.0, 1)
    assert np.isnan(double_descent_test(np.array([5.0]), 0.05).peak)


def _two_models():
    """Model 'small' calls tokens 0-1 upward; on model 'large' those tokens rise, then fall."""
    steps = {
        "small": [100, 200, 300, 400, 500],
        "large": [100, 200, 300, 400, 500, 600],
    }
    checkpoints = pd.DataFrame(
        [
            {
                "model": m,
                "step": s,
                "tokens_seen": 10 * s,
                "flops": (1 if m == "small" else 4) * 60.0 * s,
                "valid_ppl": 100.0 / s,
            }
            for m, ss in steps.items()
            for s in ss
        ]
    )
    ppl_large = np.array(
        [
            [20.0, 10.0, 12.0, 16.0, 14.0, 10.0],  # rise then fall
            [20.0, 10.0, 12.0, 16.0, 14.0, 10.0],
            [5.0, 4.0, 4.0, 4.0, 4.0, 4.0],  # flat (stagnated elsewhere)
            [9.0, 8.0, 7.0, 6.0, 5.0, 4.0],  # falls throughout
        ]
    )
    nll = {"small": np.log(np.full((4, 5), 3.0)), "large": np.log(ppl_large)}
    classes = {
        "small": {0.3: np.array([UPWARD, UPWARD, STAGNATED, DOWNWARD], dtype=np.int8)},
        "large": {0.3: np.array([DOWNWARD, DOWNWARD, STAGNATED, DOWNWARD], dtype=np.int8)},
    }
    return classes, nll, checkpoints


def test_double_descent_on_hand_built_trajectories():
    classes, nll, checkpoints = _two_models()
    curves = group_curves(classes, nll, checkpoints)
    assert len(curves) == 2 * 1 * len(CLASSES) * (5 + 6)  # selectors x fractions x classes x steps
    table = double_descent_table(curves, delta=0.05)
    row = table.set_index(["selector", "trend_class", "model"]).loc[("small", "upward", "large")]
    # large's window at 30%: first step >= 180 -> 200..600; curve 10, 12, 16, 14, 10
    assert (row.start_step, row.peak_step, row.end_step) == (200, 400, 600)
    assert (row.start_ppl, row.peak_ppl, row.end_ppl) == pytest.approx((10.0, 16.0, 10.0))
    assert bool(row.double_descent)
    assert row.n_selected == 2 and row.selected_share == 0.5
    flat = table.set_index(["selector", "trend_class", "model"]).loc[
        ("small", "stagnated", "large")
    ]
    assert not bool(flat.double_descent)
    # every model's own upward group, and an empty group (large has no upward tokens): no claim
    empty = table.set_index(["selector", "trend_class", "model"]).loc[("large", "upward", "large")]
    assert empty.n_selected == 0 and not bool(empty.double_descent)

    patterns = pattern_table(
        classes,
        nll,
        checkpoints,
        table,
        delta=0.05,
        trend_classes=("upward", "downward"),
    )
    up = patterns[
        (patterns.selector == "small")
        & (patterns.model == "large")
        & (patterns.trend_class == "upward")
    ]
    assert up.set_index("pattern").loc["rise_then_fall", "share"] == 1.0
    assert up["share"].sum() == pytest.approx(1.0)
    down = patterns[
        (patterns.selector == "small")
        & (patterns.model == "large")
        & (patterns.trend_class == "downward")
    ]
    # token 3 in large's window: 8 -> 6 (at the turning point, 400) -> 4: falls twice
    assert down.set_index("pattern").loc["fall_then_fall", "n_tokens"] == 1


def test_token_patterns_and_undetermined():
    nll = np.log(
        np.array(
            [
                [10.0, 12.0, 9.0],
                [10.0, 10.1, 10.0],
                [10.0, 8.0, 9.0],
                [10.0, np.nan, 9.0],
                [10.0, 12.0, 12.2],
            ]
        )
    )
    codes = token_patterns(nll, np.ones(5, dtype=bool), (0, 1, 2), delta=0.05)
    assert [PATTERNS[c] for c in codes] == [
        "rise_then_fall",
        "flat_then_flat",
        "fall_then_rise",
        "undetermined",
        "rise_then_flat",
    ]


def test_mismatched_inputs_raise():
    classes, nll, checkpoints = _two_models()
    with pytest.raises(DataError, match="columns"):
        group_curves(classes, {"small": nll["small"], "large": nll["large"][:, :4]}, checkpoints)
    with pytest.raises(DataError, match="different token sets"):
        group_curves(classes, {"small": nll["small"], "large": nll["large"][:3]}, checkpoints)
    with pytest.raises(DataError, match="no rows"):
        group_curves(classes, nll, checkpoints[checkpoints.model == "small"])
