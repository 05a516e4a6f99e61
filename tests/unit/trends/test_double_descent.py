"""Group perplexity, the double-descent test and per-token patterns on hand-built trajectories."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmtraj.errors import ConfigError, DataError
from lmtraj.regression.bootstrap import Bootstrap, verdict
from lmtraj.trends.classes import CLASSES, DOWNWARD, STAGNATED, UPWARD
from lmtraj.trends.double_descent import (
    PATTERNS,
    default_selector,
    double_descent_table,
    double_descent_test,
    group_curves,
    group_mean_nll,
    group_ppl,
    one_hot,
    pattern_table,
    rises_and_falls,
    token_double_descent,
    token_double_descent_table,
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


def test_rises_and_falls_after_the_first_minimum():
    curves = np.log(
        np.array(
            [
                [9.0, 4.0, 6.0, 3.0, 3.0],  # falls to 4, rises to 6, falls to 3
                [9.0, 4.0, 4.1, 3.9, 3.0],  # bumps by 2.5%: below the threshold
                [9.0, 4.0, 6.0, 6.0, 5.9],  # rises and stays up (upward, no second descent)
                [9.0, 6.0, 5.0, 4.0, 3.0],  # only falls
                [9.0, 4.0, np.nan, 6.0, 3.0],  # NaNs are skipped
            ]
        )
    )
    assert rises_and_falls(curves, np.log1p(0.2)).tolist() == [True, False, False, False, True]
    assert not rises_and_falls(curves[:, :2], 0.1).any()  # no interior checkpoint


BOOT = Bootstrap(n_boot=300, seed=5)


def _follow(second_descent: bool, n_docs: int = 40, per_doc: int = 50, seed: int = 0):
    """A larger model's trajectories: every token falls (learning) with noise; with `second_descent`
    the tokens the selector calls upward also rise by 0.5 nats mid-training and fall back."""
    rng = np.random.default_rng(seed)
    n = n_docs * per_doc
    steps = np.array([0, 1, 2, 4, 8, 16, 32, 48, 64, 80, 96, 112, 128])
    base = rng.uniform(1.0, 4.0, n)[:, None] + 3.0 * np.exp(-steps / 8.0)[None, :]
    selected = rng.random(n) < 0.1
    if second_descent:
        bump = 0.5 * np.exp(-(((steps - 64) / 20.0) ** 2))
        base[selected] += bump[None, :]
    nll = base + rng.normal(0, 0.1, base.shape)
    return selected, nll, steps, np.repeat(np.arange(n_docs), per_doc)


def test_token_double_descent_when_upward_tokens_descend_twice():
    row = token_double_descent(*_follow(True), token_delta=0.3, bootstrap=BOOT)
    assert row["dd_share"] > 0.8 and row["control_share"] < 0.2
    assert row["n_dd_upward"] == round(row["dd_share"] * row["n_upward"])
    assert verdict(row["excess_ci_low"], row["excess_ci_high"]) == "yes"
    assert row["upward_share_ci_low"] < row["upward_share"] < row["upward_share_ci_high"]


def test_token_double_descent_is_never_claimed_when_every_curve_only_falls():
    # noise makes some curves of both groups rise and fall; no excess
    row = token_double_descent(*_follow(False), token_delta=0.1, bootstrap=BOOT)
    assert row["control_share"] > 0.05  # the noise floor that a raw share would report
    assert verdict(row["excess_ci_low"], row["excess_ci_high"]) != "yes"
    with pytest.raises(ConfigError, match="token_delta"):
        token_double_descent(*_follow(False, 2, 5), token_delta=0.0, bootstrap=BOOT)


def test_token_double_descent_table_follows_the_selector_into_larger_models():
    selected, nll, steps, docs = _follow(True, n_docs=10, per_doc=20)
    models = ["s", "m", "l"]
    checkpoints = pd.DataFrame([{"model": m, "step": int(s)} for m in models for s in steps])
    codes = np.where(selected, UPWARD, DOWNWARD).astype(np.int8)
    classes = {m: {0.2: codes} for m in models}
    table = token_double_descent_table(
        classes,
        {m: nll for m in models},
        checkpoints,
        docs,
        selector="m",
        fraction=0.2,
        token_delta=0.3,
        bootstrap=BOOT,
    )
    assert table["model"].tolist() == ["l"]
    assert table["n_upward"].iloc[0] == selected.sum()
    assert default_selector(models, None) == "m"
    assert default_selector(models[:2], None) == "s"
    with pytest.raises(ConfigError, match="largest model"):
        default_selector(models, "l")
    with pytest.raises(ConfigError, match="was not classified"):
        token_double_descent_table(
            classes,
            {m: nll for m in models},
            checkpoints,
            docs,
            selector="m",
            fraction=0.3,
            token_delta=0.3,
            bootstrap=BOOT,
        )
