"""Trend windows, the vectorised OLS (checked against statsmodels) and the class rules."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from lmtraj.errors import ConfigError, DataError
from lmtraj.trends.classes import (
    CLASSES,
    DOWNWARD,
    STAGNATED,
    UNCLASSIFIED,
    UPWARD,
    OLSFit,
    TrendFit,
    TrendRules,
    analyse_trends,
    class_codes,
    class_shares,
    classify,
    fit_trends,
    fraction_tag,
    ols_slope,
    token_table,
    trend_window,
)

STEPS = np.arange(1, 11) * 1000  # an even grid, 1K..10K


def _statsmodels(y: np.ndarray, x: np.ndarray) -> tuple[float, float, float, float]:
    keep = np.isfinite(y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = sm.OLS(y[keep], sm.add_constant(x[keep])).fit()
    return res.params[1], res.bse[1], res.tvalues[1], res.pvalues[1]


def test_ols_matches_statsmodels_with_nans_and_constant_rows():
    rng = np.random.default_rng(7)
    x = np.log(np.array([2, 6, 10, 14, 18, 22, 26, 30, 34, 38, 40, 60, 80, 100]) * 1000.0)
    y = rng.lognormal(0.0, 0.3, size=(80, x.size)) + 0.05 * rng.normal(size=(80, 1)) * x
    y[3, [0, 5, 9]] = np.nan  # scattered NaNs, including the first column
    y[4, 2:] = np.nan  # two points left: no p-value
    y[5, ::2] = np.nan
    y[6] = 1.0  # constant row
    y[7, :] = np.nan
    fit = ols_slope(y, x)
    for r in range(y.shape[0]):
        if np.isfinite(y[r]).sum() < 3 or r == 6:
            continue
        slope, se, t, p = _statsmodels(y[r], x)
        np.testing.assert_allclose(fit.slope[r], slope, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(fit.stderr[r], se, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(fit.t[r], t, rtol=1e-8, atol=1e-12)
        np.testing.assert_allclose(fit.p_value[r], p, rtol=1e-8, atol=1e-12)
    # constant row: statsmodels' slope is 0 up to rounding; its p-value is noise (often < 0.05!)
    assert fit.slope[6] == 0.0
    assert abs(_statsmodels(y[6], x)[0]) < 1e-8
    assert np.isnan(fit.p_value[6])
    # two points: a slope but no test; no points: nothing
    assert np.isfinite(fit.slope[4]) and np.isnan(fit.p_value[4]) and fit.n_obs[4] == 2
    assert np.isnan(fit.slope[7]) and fit.n_obs[7] == 0
    assert fit.n_obs[3] == x.size - 3


def test_fit_trends_is_the_authors_regression_on_normalised_ppl():
    """The authors' intent: y = PPL / PPL_start on log(step), NaNs dropped, window by step."""
    rng = np.random.default_rng(1)
    steps = np.array([2, 6, 10, 14, 18, 22, 26, 30, 34, 38, 40, 60, 80, 100, 120]) * 1000
    nll = rng.normal(3.0, 0.4, size=(30, steps.size)).astype(np.float32)
    nll[2, 9] = np.nan  # the window's first checkpoint
    fit = fit_trends(nll, steps, 0.3, regressor="log_step")
    start = int(np.argmax(steps >= 0.3 * 120_000))  # 36K -> the checkpoint at 38K
    assert fit.window.start == start == 9 and fit.window.start_step == 38_000
    for r in range(nll.shape[0]):
        ppl = np.exp(nll[r, start:].astype(np.float64))
        first = ppl[np.isfinite(ppl)][0]  # row 2 lacks the window start: its first finite value
        slope, _, _, p = _statsmodels(ppl / first, np.log(steps[start:]))
        np.testing.assert_allclose(fit.ols.slope[r], slope, rtol=1e-8)
        np.testing.assert_allclose(fit.ols.p_value[r], p, rtol=1e-8)


def test_window_is_chosen_by_step_not_index():
    pythia_like = [
        0,
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        512,
        1000,
        2000,
        3000,
        4000,
        5000,
    ]
    window = trend_window(pythia_like, 0.2)  # 0.2 * 5000 = 1000
    assert window.start_step == 1000 and window.n_checkpoints == 5
    # 0.3 * 1000 is 300.00000000000006 in floating point; step 300 must still open the window
    assert trend_window([100, 200, 300, 400, 1000], 0.3).start_step == 300
    # a missing checkpoint moves the start to the next one that exists
    assert trend_window([100, 200, 400, 500], 0.5).start_step == 400
    assert trend_window(STEPS, 0.0).start == 0


def test_hand_built_trajectories_get_their_classes():
    rows = {
        "upward": np.linspace(2.0, 2.5, 10),
        "downward": np.linspace(2.5, 2.0, 10),
        "stagnated": 2.0 + 0.01 * np.array([0, 1, -1, 1, -1, 1, -1, 1, -1, 0]),
        "wavy": np.tile([1.0, 3.0], 5),  # no trend, far from its mean: unclassified
        "constant": np.full(10, 2.0),  # slope 0, p-value NaN: stagnated
        "upward_nan": np.where(np.arange(10) % 3 == 1, np.nan, np.linspace(2.0, 2.5, 10)),
        "two_points": np.r_[2.0, 2.5, np.full(8, np.nan)],
        "all_nan": np.full(10, np.nan),
    }
    nll = np.array(list(rows.values()), dtype=np.float32)
    for regressor in ("log_step", "step", "index"):
        fit = fit_trends(nll, STEPS, 0.0, regressor=regressor)
        got = dict(zip(rows, (CLASSES[c] for c in classify(fit)), strict=True))
        assert got == {
            "upward": "upward",
            "downward": "downward",
            "stagnated": "stagnated",
            "wavy": "unclassified",
            "constant": "stagnated",
            "upward_nan": "upward",
            "two_points": "unclassified",
            "all_nan": "unclassified",
        }, regressor


def test_index_and_step_regressors_agree_on_an_even_grid_only():
    rng = np.random.default_rng(3)
    nll = rng.normal(2.0, 0.3, size=(20, 10))
    by_index = fit_trends(nll, STEPS, 0.0, "index").ols.p_value
    by_step = fit_trends(nll, STEPS, 0.0, "step").ols.p_value
    np.testing.assert_allclose(by_index, by_step, rtol=1e-10)  # x affine in index: same t
    uneven = np.r_[STEPS[:5], STEPS[5:] + 20_000]
    assert not np.allclose(
        fit_trends(nll, uneven, 0.0, "index").ols.p_value,
        fit_trends(nll, uneven, 0.0, "step").ols.p_value,
    )


@pytest.mark.parametrize("fraction", [1.0, 0.85])
def test_window_of_one_or_two_checkpoints_is_all_unclassified(fraction):
    nll = np.tile(np.linspace(2.0, 2.5, 10), (4, 1))
    [result] = analyse_trends(nll, STEPS, [fraction])
    assert result.fit.window.n_checkpoints == (1 if fraction == 1.0 else 2)
    assert np.all(result.classes == UNCLASSIFIED)
    shares = class_shares([result], "m")
    assert shares.set_index("trend_class").loc["unclassified", "share"] == 1.0
    assert (shares["n_checkpoints"] == result.fit.window.n_checkpoints).all()


def _fit(log_first, log_last, log_mean, slope=0.0, p=0.5, ppl_var=0.0, n_obs=10) -> TrendFit:
    def arr(v):
        return np.atleast_1d(np.asarray(v, dtype=np.float64))

    ols = OLSFit(arr(slope), arr(np.nan), arr(np.nan), arr(p), np.atleast_1d(n_obs))
    return TrendFit(
        trend_window(STEPS, 0.0),
        "log_step",
        ols,
        arr(log_first),
        arr(log_last),
        arr(log_mean),
        arr(ppl_var),
    )


def test_stagnation_rule_options():
    # PPL first/mean = 0.951: inside [0.95, 1.05], but mean/first = 1.0515 is outside (authors' ratio)
    fit = _fit(np.log(0.951), 0.0, 0.0)
    assert classify(fit)[0] == STAGNATED
    assert classify(fit, TrendRules(ratio="mean_over_value"))[0] == UNCLASSIFIED
    # ratio exactly 1 with tolerance 0: inside with <=, outside with <
    exact = _fit(0.0, 0.0, 0.0)
    assert classify(exact, TrendRules(tolerance=0.0))[0] == STAGNATED
    assert classify(exact, TrendRules(tolerance=0.0, strict=True))[0] == UNCLASSIFIED
    # the authors' variance rule: var(PPL) must stay below the geometric-mean PPL (here e^2 = 7.39)
    assert classify(_fit(2.0, 2.0, 2.0, ppl_var=8.0))[0] == STAGNATED
    assert (
        classify(_fit(2.0, 2.0, 2.0, ppl_var=8.0), TrendRules(variance_rule=True))[0]
        == UNCLASSIFIED
    )
    assert (
        classify(_fit(2.0, 2.0, 2.0, ppl_var=7.0), TrendRules(variance_rule=True))[0] == STAGNATED
    )
    # the significance threshold comes from the rules; a trend beats the stagnation rule
    assert classify(_fit(0.0, 0.0, 0.0, slope=0.1, p=0.03))[0] == UPWARD
    assert classify(_fit(0.0, 0.0, 0.0, slope=-0.1, p=0.03))[0] == DOWNWARD
    assert (
        classify(_fit(0.0, 0.0, 0.0, slope=-0.1, p=0.03), TrendRules(p_value=0.01))[0] == STAGNATED
    )
    # fewer than three points is never classified, whatever the statistics say
    assert classify(_fit(0.0, 0.0, 0.0, slope=0.1, p=0.0, n_obs=2))[0] == UNCLASSIFIED


def test_tables_align_with_tokens_and_shares_sum_to_one():
    rng = np.random.default_rng(0)
    nll = rng.normal(2.0, 0.2, size=(50, 10)) + np.linspace(0, 1, 50)[:, None] * np.linspace(
        -1, 1, 10
    )
    tokens = pd.DataFrame(
        {
            "doc": np.repeat([0, 1], 25),
            "position": np.tile(np.arange(1, 26), 2),
            "token_id": np.arange(50),
        }
    )
    results = analyse_trends(nll, STEPS, [0.1, 0.5])
    table = token_table(results, tokens, "m")
    assert list(table.columns[:4]) == ["model", "doc", "position", "token_id"]
    assert {"slope_p10", "p_value_p50", "class_p50"} <= set(table.columns)
    np.testing.assert_array_equal(class_codes(table, 0.5), results[1].classes)
    np.testing.assert_array_equal(table["slope_p10"], results[0].fit.ols.slope)
    shares = class_shares(results, "m")
    assert shares.groupby("fraction")["share"].sum().tolist() == pytest.approx([1.0, 1.0])
    assert shares.groupby("fraction")["n_tokens"].sum().tolist() == [50, 50]
    assert set(shares["start_step"]) == {1000, 5000}
    assert fraction_tag(0.125) == "p12.5"


def test_bad_input_gives_clear_errors():
    nll = np.zeros((3, 10))
    with pytest.raises(ConfigError, match="fraction"):
        fit_trends(nll, STEPS, 1.5)
    with pytest.raises(ConfigError, match="regressor"):
        fit_trends(nll, STEPS, 0.1, regressor="sqrt")
    with pytest.raises(ConfigError, match="step 0"):
        fit_trends(nll, np.arange(10) * 1000, 0.0, regressor="log_step")
    with pytest.raises(DataError, match="shape"):
        fit_trends(nll[:, :5], STEPS, 0.1)
    with pytest.raises(DataError, match="increasing"):
        fit_trends(nll, STEPS[::-1], 0.1)
    with pytest.raises(ConfigError, match="p_value"):
        TrendRules(p_value=0.0)
    with pytest.raises(ConfigError, match="fractions"):
        analyse_trends(nll, STEPS, [0.1, 0.1])
    with pytest.raises(ConfigError, match="not classified"):
        class_codes(pd.DataFrame({"class_p10": []}), 0.2)


def test_blocks_give_the_same_fit_as_one_pass(monkeypatch):
    from lmtraj.trends import classes as trends

    rng = np.random.default_rng(5)
    nll = rng.normal(2.0, 0.3, size=(20, 10))
    nll[[2, 13], [4, 0]] = np.nan  # NaNs in some blocks only
    whole = fit_trends(nll, STEPS, 0.2)
    monkeypatch.setattr(trends, "BLOCK_ROWS", 3)
    parts = fit_trends(nll, STEPS, 0.2)
    for name in (
        "slope",
        "stderr",
        "t",
        "p_value",
        "n_obs",
    ):  # BLAS may round differently
        np.testing.assert_allclose(getattr(parts.ols, name), getattr(whole.ols, name), rtol=1e-12)
    np.testing.assert_allclose(parts.ppl_var, whole.ppl_var, rtol=1e-12)
    np.testing.assert_array_equal(parts.log_first, whole.log_first)


def test_config_helpers_of_the_rules_file():
    from lmtraj.trends.classes import check_fraction, pick_models

    models = ["s", "m", "l"]
    assert pick_models([], models, "figures.selectors") == ["s", "l"]
    assert pick_models([], ["only"], "figures.selectors") == ["only"]
    assert pick_models(["m"], models, "figures.selectors") == ["m"]
    with pytest.raises(ConfigError, match=r"trends.token_table.models: \['xl'\]"):
        pick_models(["xl"], models, "token_table.models")
    assert check_fraction(0.1, [0.1, 0.2], "figures.fraction") == 0.1
    with pytest.raises(ConfigError, match="trends.figures.fraction: 0.15"):
        check_fraction(0.15, [0.1, 0.2], "figures.fraction")
