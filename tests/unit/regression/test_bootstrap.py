"""The bootstrap helpers and the verdict rule of the findings table."""

from __future__ import annotations

import numpy as np
import pytest

from lmtraj.errors import ConfigError
from lmtraj.regression.bootstrap import (
    Bootstrap,
    bootstrap_params,
    cluster_weights,
    equivalence_verdict,
    percentile_interval,
    two_folds,
    verdict,
)


def test_cluster_weights_are_multiplicities_of_a_draw_with_replacement():
    w = cluster_weights(7, 500, np.random.default_rng(0))
    assert w.shape == (500, 7)
    assert np.all(w.sum(axis=1) == 7) and np.all(w >= 0)
    # each cluster is drawn once per resample on average
    assert w.mean() == pytest.approx(1.0)
    assert np.array_equal(w, cluster_weights(7, 500, np.random.default_rng(0)))


def test_weighted_mean_interval_covers_the_truth_and_shrinks_with_more_clusters():
    rng = np.random.default_rng(1)
    widths = []
    for n in (20, 400):
        x = rng.normal(3.0, 1.0, n)
        boot = cluster_weights(n, 1000, rng) @ x / n
        low, high = percentile_interval(boot, 0.95)
        assert low < 3.0 < high
        widths.append(high - low)
        # about 2 x 1.96 x sd / sqrt(n), the normal-theory interval of a mean
        assert widths[-1] == pytest.approx(2 * 1.96 * x.std() / np.sqrt(n), rel=0.15)
    assert widths[1] < widths[0]


def test_percentile_interval_ignores_nans_and_needs_two_values():
    assert percentile_interval(np.array([np.nan, 1.0, 2.0, 3.0]), 0.5) == pytest.approx((1.5, 2.5))
    assert np.isnan(percentile_interval(np.array([np.nan, 1.0]), 0.9)).all()


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0.1, 0.3, "yes"),
        (-0.3, -0.1, "no"),
        (-0.1, 0.2, "inconclusive"),
        (0.0, 0.2, "inconclusive"),
    ],
)
def test_verdict(low, high, expected):
    assert verdict(low, high) == expected


def test_verdict_of_a_missing_interval_is_never_yes():
    assert verdict(np.nan, 0.5) == "inconclusive"


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (-0.01, 0.015, "yes"),  # inside the margin: negligible
        (0.005, 0.015, "yes"),  # non-zero but negligible
        (0.01, 0.05, "no"),  # excludes 0 and reaches past the margin
        (-0.01, 0.05, "inconclusive"),
    ],
)
def test_equivalence_verdict(low, high, expected):
    assert equivalence_verdict(low, high, 0.02) == expected
    with pytest.raises(ConfigError, match="margin"):
        equivalence_verdict(low, high, 0.0)


def test_two_folds_split_in_halves():
    mask = two_folds(9, np.random.default_rng(0))
    assert mask.sum() == 4 and mask.size == 9


def test_configuration():
    assert bootstrap_params({"bootstrap": 10, "seed": None, "confidence": 0.9}, 7) == {
        "n_boot": 10,
        "seed": 7,
        "confidence": 0.9,
    }
    assert bootstrap_params({"bootstrap": 10, "seed": 3, "confidence": 0.9}, 7)["seed"] == 3
    with pytest.raises(ConfigError, match="bootstrap"):
        Bootstrap(n_boot=0)
    with pytest.raises(ConfigError, match="confidence"):
        Bootstrap(confidence=1.0)
    # the same seed and stream give the same resamples; another stream another
    a, b = Bootstrap(seed=4).rng(1).random(3), Bootstrap(seed=4).rng(1).random(3)
    assert np.array_equal(a, b) and not np.array_equal(a, Bootstrap(seed=4).rng(2).random(3))
