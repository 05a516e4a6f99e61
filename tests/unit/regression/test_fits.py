"""Tests for lmtraj.regression.fits on synthetic runs where the right answer is known by construction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmtraj.errors import DataError
from lmtraj.regression.fits import (
    EXTREME,
    INTERIOR,
    fit_points,
    fit_predictor,
    fold_position,
    leave_one_size_out,
    loso_folds,
    regression_tables,
    size_coefficient,
)
from lmtraj.regression.points import (
    CORPUS_MEAN,
    accuracy_responses,
    build_points,
    checkpoint_predictors,
    option_gap_responses,
    pooled_rows,
    trend_share_points,
)

SIZES = {"s": 1e7, "m": 1e8, "l": 1e9}


def synthetic_checkpoints(sizes: dict[str, float] = SIZES, n_steps: int = 12) -> pd.DataFrame:
    """A Chinchilla-shaped run: loss = E + A/N^a + B/D^b, so equal FLOPs do not mean equal perplexity."""
    rows = []
    for model, n in sizes.items():
        # Larger models train for fewer steps on bigger batches, as in OPT (paper Table 2).
        batch = 1e5 * (n / 1e7) ** 0.5
        for step in np.geomspace(1e3, 1e5 * (1e7 / n) ** 0.3, n_steps).round():
            tokens = batch * step
            loss = 1.69 + 406.4 / n**0.34 + 410.7 / tokens**0.28
            rows.append(
                {
                    "model": model,
                    "step": int(step),
                    "tokens_seen": tokens,
                    "flops": 6 * n * tokens,
                    "params_total": n,
                    "valid_ppl": np.exp(loss),
                }
            )
    return pd.DataFrame(rows)


def accuracy_scores(
    checkpoints: pd.DataFrame,
    size_effect: float = 0.0,
    noise: float = 0.004,
    seed: int = 0,
):
    rng = np.random.default_rng(seed)
    acc = (
        0.9
        - 0.25 * np.log10(checkpoints["valid_ppl"])
        + size_effect * np.log10(checkpoints["params_total"])
    )
    return checkpoints[["model", "step"]].assign(
        task="t1", accuracy=acc + rng.normal(0, noise, len(acc))
    )


def loso_rmse(tables, response="accuracy", subset="mean") -> pd.Series:
    s = tables.loso_summary
    return s.loc[(s["response"] == response) & (s["subset"] == subset)].set_index("predictor")[
        "rmse_pooled"
    ]


def test_perplexity_wins_leave_one_size_out_when_accuracy_depends_only_on_perplexity():
    ckpts = synthetic_checkpoints()
    tables = regression_tables(ckpts, accuracy_scores(ckpts))
    rmse = loso_rmse(tables)
    # The noise is 0.004: log_ppl recovers it; size or compute predictors miss the size-specific offsets.
    assert rmse["log_ppl"] < 0.006
    assert rmse["log_ppl"] < 0.5 * rmse["log_flops"]
    assert rmse["log_ppl"] < 0.5 * rmse["log_params_tokens"]
    summary = tables.loso_summary.set_index(["subset", "predictor"])
    assert summary.loc[("mean", "log_ppl"), "rank"] == 1
    fits = tables.fits.set_index(["subset", "predictor"])
    assert fits.loc[("mean", "log_ppl"), "r2"] > 0.99
    coefs = tables.coefficients.set_index(["subset", "predictor", "term"])
    slope = coefs.loc[("mean", "log_ppl", "log10_valid_ppl")]
    assert slope["coef"] == pytest.approx(-0.25, abs=0.01)
    assert slope["ci_low"] < -0.25 < slope["ci_high"]


def test_size_term_is_found_when_size_matters_beyond_perplexity():
    ckpts = synthetic_checkpoints()
    tables = regression_tables(ckpts, accuracy_scores(ckpts, size_effect=0.05))
    rmse = loso_rmse(tables)
    assert rmse["log_ppl_params"] < 0.5 * rmse["log_ppl"]
    coefs = tables.coefficients.set_index(["subset", "predictor", "term"])
    size = coefs.loc[("mean", "log_ppl_params", "log10_params")]
    assert size["coef"] == pytest.approx(0.05, abs=0.01)
    assert size["ci_low"] < 0.05 < size["ci_high"]
    assert size["p_value"] < 1e-3
    # Three models are too few clusters for a 3-coefficient model: HC1 fallback, and it says so.
    assert size["cov_type"] == "HC1"
    fit = tables.fits.set_index(["subset", "predictor"]).loc[("mean", "log_ppl_params")]
    assert "only 3 model(s)" in fit["cov_note"]


def test_clustered_standard_errors_match_the_sandwich_formula():
    rng = np.random.default_rng(1)
    n_models, per_model = 5, 6
    points = pd.DataFrame(
        {
            "model": np.repeat([f"m{i}" for i in range(n_models)], per_model),
            "log10_valid_ppl": rng.normal(1.0, 0.3, n_models * per_model),
        }
    )
    # A shared offset per model makes the residuals correlated within a model.
    offsets = np.repeat(rng.normal(0, 0.05, n_models), per_model)
    points["y"] = 0.8 - 0.2 * points["log10_valid_ppl"] + offsets + rng.normal(0, 0.01, len(points))
    stats, coefs = fit_predictor(points, "log_ppl")
    assert stats["cov_type"] == "cluster"
    x = np.column_stack([np.ones(len(points)), points["log10_valid_ppl"]])
    y = points["y"].to_numpy()
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    u = y - x @ beta
    meat = np.zeros((2, 2))
    for g in range(n_models):
        s = x[g * per_model : (g + 1) * per_model].T @ u[g * per_model : (g + 1) * per_model]
        meat += np.outer(s, s)
    n, k, g = len(y), 2, n_models
    cov = bread @ meat @ bread * g / (g - 1) * (n - 1) / (n - k)
    assert [c["se"] for c in coefs] == pytest.approx(np.sqrt(np.diag(cov)), rel=1e-10)
    assert coefs[1]["coef"] == pytest.approx(beta[1], rel=1e-12)
    # t with G-1 = 4 degrees of freedom: half-width = 2.776 * se.
    assert coefs[1]["ci_high"] - coefs[1]["coef"] == pytest.approx(
        2.7764451 * coefs[1]["se"], rel=1e-6
    )
    r2 = 1 - (u @ u) / np.sum((y - y.mean()) ** 2)
    assert stats["r2"] == pytest.approx(r2, rel=1e-12)
    assert stats["r2_adj"] == pytest.approx(1 - (1 - r2) * (n - 1) / (n - k), rel=1e-12)


def test_leave_one_size_out_by_hand():
    # Model a lies on y = x; model b is flat at y = 2.
    points = pd.DataFrame(
        {
            "model": ["a", "a", "a", "b", "b"],
            "log10_valid_ppl": [1.0, 2.0, 3.0, 1.5, 2.5],
            "y": [1.0, 2.0, 3.0, 2.0, 2.0],
        }
    )
    folds, predictions = leave_one_size_out(points, "log_ppl")
    by_model = {f["held_out"]: f for f in folds}
    # Held out b: predicted by y = x -> 1.5, 2.5; errors -0.5, +0.5.
    assert by_model["b"]["rmse"] == pytest.approx(0.5)
    assert by_model["b"]["bias"] == pytest.approx(0.0)
    # Held out a: predicted by y = 2 -> errors +1, 0, -1.
    assert by_model["a"]["rmse"] == pytest.approx(np.sqrt(2 / 3))
    assert predictions["predicted_loso"].tolist() == pytest.approx([2, 2, 2, 1.5, 2.5])


def test_size_predictors_are_not_identifiable_with_two_sizes():
    ckpts = synthetic_checkpoints({"s": 1e7, "l": 1e9})
    tables = regression_tables(ckpts, accuracy_scores(ckpts))
    summary = tables.loso_summary.set_index(["subset", "predictor"])
    assert not summary.loc[("mean", "log_params_tokens"), "complete"]
    assert np.isnan(summary.loc[("mean", "log_params_tokens"), "rmse_pooled"])
    assert summary.loc[("mean", "log_flops"), "complete"]
    folds = tables.loso_folds
    note = folds.loc[
        (folds["subset"] == "mean")
        & (folds["predictor"] == "log_ppl_params")
        & (folds["held_out"] == "s"),
        "note",
    ].item()
    assert "rank-deficient" in note
    # The in-sample fit still exists: two sizes identify log params.
    assert (
        tables.fits.set_index(["subset", "predictor"]).loc[("mean", "log_ppl_params"), "r2"] > 0.9
    )


def test_one_model_or_too_few_points_are_clear_errors():
    ckpts = synthetic_checkpoints({"s": 1e7})
    with pytest.raises(DataError, match="at least 2 models"):
        regression_tables(ckpts, accuracy_scores(ckpts))
    small = synthetic_checkpoints(n_steps=1)
    with pytest.raises(
        DataError,
        match=r"'accuracy' subset 'mean' predictor 'log_params_tokens'.*3 point\(s\) for 3",
    ):
        regression_tables(small, accuracy_scores(small))


def test_mean_accuracy_is_unweighted_and_drops_incomplete_checkpoints():
    scores = pd.DataFrame(
        {
            "model": ["a", "a", "a"],
            "step": [10, 10, 20],
            "task": ["t1", "t2", "t1"],
            "accuracy": [0.2, 0.6, 0.9],
        }
    )
    out = accuracy_responses(scores)
    mean = out.loc[out["subset"] == "mean"]
    assert mean["step"].tolist() == [10]
    assert mean["y"].tolist() == pytest.approx([0.4])
    assert len(out.loc[out["subset"] == "t1"]) == 2
    with pytest.raises(DataError, match="duplicate row for model 'a' step 10 task 't1'"):
        accuracy_responses(pd.concat([scores, scores.iloc[[0]]]))


def test_option_gap_is_token_weighted_log_ratio():
    scores = pd.DataFrame(
        {
            "model": ["a", "a"],
            "step": [10, 10],
            "task": ["t1", "t2"],
            "accuracy": [0.5, 0.5],
            "correct_ppl": [np.e, np.e**2],
            "incorrect_ppl": [np.e**2, np.e**4],
            "correct_tokens": [1, 3],
            "incorrect_tokens": [3, 1],
        }
    )
    out = option_gap_responses(scores).set_index("subset")["y"]
    assert out["t1"] == pytest.approx(1.0)
    assert out["t2"] == pytest.approx(2.0)
    # correct: (1*1 + 3*2) / 4 = 1.75 nats; incorrect: (3*2 + 1*4) / 4 = 2.5 nats.
    assert out["mean"] == pytest.approx(0.75)


def test_trend_shares_use_the_window_start_checkpoint():
    ckpts = pd.DataFrame(
        {
            "model": ["a"] * 4,
            "step": [10, 30, 60, 100],
            "tokens_seen": 1,
            "flops": 1,
            "params_total": 1,
            "valid_ppl": 2,
        }
    )
    shares = pd.DataFrame(
        {
            "model": ["a", "a"],
            "fraction": [0.2, 0.5],
            "trend_class": ["upward", "upward"],
            "share": [0.1, 0.05],
        }
    )
    out = trend_share_points(shares, ckpts)
    # 0.2 * 100 = 20 -> first step at or after is 30; 0.5 * 100 = 50 -> 60.
    assert out["step"].tolist() == [30, 60]


def test_too_few_trend_share_points_are_skipped_not_fatal():
    ckpts = synthetic_checkpoints({"s": 1e7, "l": 1e9})
    shares = pd.DataFrame(
        {
            "model": ["s", "l"],
            "fraction": [0.1, 0.1],
            "trend_class": ["upward", "upward"],
            "share": [0.1, 0.05],
        }
    )
    tables = regression_tables(ckpts, accuracy_scores(ckpts), shares)
    skipped = tables.fits.loc[tables.fits["response"] == "trend_share"]
    assert len(skipped) == 4
    assert skipped["cov_note"].str.contains("2 point").all()
    assert (tables.loso_summary["response"] != "trend_share").all()


def test_untrained_checkpoints_are_dropped_and_bad_ppl_is_named():
    ckpts = synthetic_checkpoints({"s": 1e7}, n_steps=3)
    ckpts.loc[0, "tokens_seen"] = 0
    assert len(checkpoint_predictors(ckpts)) == 2
    ckpts.loc[1, "valid_ppl"] = np.nan
    with pytest.raises(DataError, match="model 's' step"):
        checkpoint_predictors(ckpts)


def test_points_table_is_tidy():
    ckpts = synthetic_checkpoints()
    scores = accuracy_scores(ckpts)
    points = build_points(ckpts, scores)
    assert set(points["response"]) == {"accuracy"}
    assert set(points["subset"]) == {"mean", "t1"}
    assert len(points) == 2 * len(ckpts)
    assert not points[["y", "log10_valid_ppl", "log10_flops"]].isna().any().any()
    tables = fit_points(points)
    preds = tables.predictions
    assert len(preds) == 2 * 4 * len(ckpts)
    assert set(preds.columns) >= {"observed", "fitted", "predicted_loso"}


def test_folds_are_interior_or_extreme_by_size():
    ckpts = synthetic_checkpoints({"s": 1e7, "m": 1e8, "l": 1e9, "xl": 1e10})
    tables = regression_tables(ckpts, accuracy_scores(ckpts))
    points = tables.points.query("subset == 'mean'")
    assert fold_position(points) == {"s": EXTREME, "m": INTERIOR, "l": INTERIOR, "xl": EXTREME}
    folds = tables.loso_folds.query("subset == 'mean' and predictor == 'log_ppl'")
    assert folds.set_index("held_out")["position"].to_dict() == fold_position(points)
    summary = tables.loso_summary.query("subset == 'mean'").set_index("predictor")
    assert (summary["n_interior_folds"] == 2).all()
    # the pooled RMSE lies between those of the two kinds of fold
    for row in summary.itertuples():
        lo, hi = sorted([row.rmse_interior, row.rmse_extreme])
        assert lo - 1e-12 <= row.rmse_pooled <= hi + 1e-12


def test_fold_operators_reproduce_leave_one_size_out():
    ckpts = synthetic_checkpoints()
    points = regression_tables(ckpts, accuracy_scores(ckpts)).points.query("subset == 'mean'")
    points = points.reset_index(drop=True)
    _, predictions = leave_one_size_out(points, "log_params_tokens")
    got = np.full(len(points), np.nan)
    y = points["y"].to_numpy()
    for fold in loso_folds(points, "log_params_tokens"):
        if fold.operator is not None:
            got[fold.test] = fold.operator @ y[~fold.test]
    np.testing.assert_allclose(got, predictions["predicted_loso"].to_numpy())


def test_size_coefficient_with_and_without_a_size_effect():
    sizes = {f"m{i}": 10.0 ** (6 + i) for i in range(5)}
    ckpts = synthetic_checkpoints(sizes)
    for effect in (0.0, 0.03):
        points = regression_tables(ckpts, accuracy_scores(ckpts, size_effect=effect)).points
        fit = size_coefficient(points.query("subset == 'mean'"))
        assert fit["cov_type"] == "cluster"
        assert fit["ci_low"] < effect < fit["ci_high"]
    few = regression_tables(synthetic_checkpoints(), accuracy_scores(synthetic_checkpoints()))
    fit = size_coefficient(few.points.query("subset == 'mean'"))
    assert fit["cov_type"] == "HC1" and "need 4 to cluster" in fit["cov_note"]


def test_bigbench_and_corpus_tasks_are_pooled_apart():
    scores = pd.DataFrame(
        {
            "model": ["a"] * 4,
            "step": [10] * 4,
            "task": ["t1", "t2", "corpus_a", "corpus_b"],
            "kind": ["bigbench", "bigbench", "corpus", "corpus"],
            "accuracy": [0.2, 0.4, 0.8, 1.0],
        }
    )
    out = accuracy_responses(scores).set_index("subset")["y"]
    assert out["mean"] == pytest.approx(0.3)  # BIG-bench tasks only: the paper's response
    assert out[CORPUS_MEAN] == pytest.approx(0.9)
    assert set(pooled_rows(out.reset_index().assign(response="accuracy"))["subset"]) == {
        "mean",
        CORPUS_MEAN,
    }
    only_corpus = accuracy_responses(scores[scores["kind"] == "corpus"])
    assert "mean" not in set(only_corpus["subset"])
    with pytest.raises(DataError, match="unknown task kind 'other'"):
        accuracy_responses(scores.assign(kind="other"))
