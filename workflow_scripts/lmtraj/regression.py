"""Is validation perplexity a better predictor of behaviour than model size or compute?

The paper (§5, Fig. 8) shows only plots: against validation perplexity the accuracy curves of all sizes
overlap. This module turns that claim into numbers. Every (model, checkpoint) point of a run is one
observation; a *response* (mean 2-shot accuracy, one task's accuracy, the option perplexity gap, a trend
class share) is regressed by OLS on four *predictor sets*:

============================  ==================================================================
``log_ppl``                   log10 validation perplexity
``log_flops``                 log10 training FLOPs (6 N D)
``log_params_tokens``         log10 parameters + log10 tokens seen (size and data, separately)
``log_ppl_params``            log10 validation perplexity + log10 parameters (does size add anything?)
============================  ==================================================================

Two kinds of evidence come out:

- **In-sample fits** (`fit_points`): R², adjusted R², AIC, BIC and coefficients with confidence
  intervals. Points of one model are one trajectory and their residuals are correlated, so standard
  errors are clustered by model (statsmodels ``cov_type="cluster"``, t with G-1 degrees of freedom).
  With few clusters a cluster-robust covariance is not usable: its rank is at most G-1, so it is singular
  once the number of coefficients k reaches G, and its small-sample bias is large. We therefore cluster
  only when G >= max(``min_clusters``, k + 1) (default ``min_clusters`` = 4) and otherwise fall back to
  HC1 (heteroskedasticity-robust, t with n-k degrees of freedom). HC1 ignores the within-model
  correlation, so its intervals are too narrow; the ``cov_type`` and ``cov_note`` columns say which one a
  row used.
- **Leave-one-size-out** (`leave_one_size_out`): fit on every model but one, predict the held-out model's
  whole trajectory, RMSE per fold and pooled over all held-out points. This is the honest test of "the
  same perplexity means the same behaviour, whatever the size": a predictor that needs the size to be
  seen in training cannot pass it. A predictor set whose design matrix is rank-deficient on a training
  fold (e.g. ``log_params`` when the training fold holds a single size) gets NaN and a note, not a guess.

Input tables (all tidy, snake_case):

- ``checkpoints`` (``results/losses/checkpoints.tsv``): ``model, step, tokens_seen, flops,
  params_total, valid_ppl`` (``params_non_embedding`` if chosen with ``params_col``).
- ``task_scores`` (the bigbench stage's per-task table, `lmtraj.mc_metrics.task_table`): ``model, step,
  task`` and an accuracy column (``accuracy``, the headline metric chosen by ``bigbench.metric``, unless
  `accuracy_col` names another, e.g. ``acc_sum``); optional ``correct_ppl, incorrect_ppl`` (option perplexities) and
  ``correct_tokens, incorrect_tokens`` (their token counts, used as weights when tasks are pooled, as in
  the paper's Fig. 9).
- ``trend_shares`` (the trends stage's summary): ``model, fraction, trend_class, share``; optional
  ``start_step`` (the window's first checkpoint; derived from ``checkpoints`` when absent).

Responses built here (column ``response``, with ``subset`` naming the task or class):

- ``accuracy``: ``subset="mean"`` is the unweighted mean over tasks; a checkpoint that lacks any task is
  dropped, as in the authors' code. Every task is also its own subset. Units are those of the input.
- ``option_nll_gap``: log(incorrect option PPL) - log(correct option PPL), i.e. the mean per-token NLL of
  incorrect minus correct options in nats. The gap is taken on the log scale because option perplexities
  span orders of magnitude across training; the paper plots them on a log axis. ``subset="mean"`` pools
  tasks by token-weighted geometric mean (the paper's aggregation).
- ``trend_share``: share of tokens in a trend class (subset = class) for the window starting at training
  fraction p. A (model, p) pair is one point, described by the checkpoint at the window start: this asks
  whether how far a model has got (its perplexity) explains how many tokens are still moving better than
  its compute does. There are few such points, so subsets that are too small are skipped with a note.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import statsmodels.api as sm

from lmtraj.errors import DataError

log = logging.getLogger(__name__)

PREDICTORS: dict[str, tuple[str, ...]] = {
    "log_ppl": ("log10_valid_ppl",),
    "log_flops": ("log10_flops",),
    "log_params_tokens": ("log10_params", "log10_tokens"),
    "log_ppl_params": ("log10_valid_ppl", "log10_params"),
}
PREDICTOR_COLUMNS = ("log10_valid_ppl", "log10_flops", "log10_params", "log10_tokens")
MEAN = "mean"  # the subset name of a response pooled over tasks
POINT_COLUMNS = (
    "response",
    "subset",
    "model",
    "step",
    "fraction",
    "y",
    *PREDICTOR_COLUMNS,
)


@dataclass(frozen=True)
class RegressionTables:
    """Every output of `regression_tables`, each a tidy DataFrame."""

    points: pd.DataFrame  # one row per (response, subset, model, step[, fraction])
    fits: pd.DataFrame  # one row per (response, subset, predictor)
    coefficients: pd.DataFrame  # one row per (response, subset, predictor, term)
    loso_folds: pd.DataFrame  # one row per (response, subset, predictor, held_out)
    loso_summary: pd.DataFrame  # one row per (response, subset, predictor)
    predictions: pd.DataFrame  # one row per (response, subset, predictor, model, step)


# ----------------------------------------------------------------------------------------------------
# Points


def checkpoint_predictors(
    checkpoints: pd.DataFrame, params_col: str = "params_total"
) -> pd.DataFrame:
    """``model, step`` plus the log10 predictor columns of every checkpoint with tokens_seen > 0.

    Checkpoints before any training (step 0) have no log tokens or log FLOPs, so they are dropped and
    the count is logged.
    """
    needed = ["model", "step", "tokens_seen", "flops", params_col, "valid_ppl"]
    missing = [c for c in needed if c not in checkpoints.columns]
    if missing:
        raise DataError(
            f"checkpoints table lacks column(s) {missing}; it has {list(checkpoints.columns)}"
        )
    table = checkpoints[needed].copy()
    bad_ppl = ~(table["valid_ppl"] > 0)
    if bad_ppl.any():
        first = table.loc[bad_ppl].iloc[0]
        raise DataError(
            f"checkpoints table: valid_ppl must be positive; model {first['model']!r} step {first['step']} "
            f"has {first['valid_ppl']!r}"
        )
    untrained = table["tokens_seen"] <= 0
    if untrained.any():
        log.info(
            "dropped %d checkpoint(s) with tokens_seen <= 0 (no log FLOPs)",
            int(untrained.sum()),
        )
        table = table.loc[~untrained]
    return pd.DataFrame(
        {
            "model": table["model"].astype(str).to_numpy(),
            "step": table["step"].astype(int).to_numpy(),
            "log10_valid_ppl": np.log10(table["valid_ppl"].to_numpy(float)),
            "log10_flops": np.log10(table["flops"].to_numpy(float)),
            "log10_params": np.log10(table[params_col].to_numpy(float)),
            "log10_tokens": np.log10(table["tokens_seen"].to_numpy(float)),
        }
    )


def _require(table: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{name} table lacks column(s) {missing}; it has {list(table.columns)}")


def accuracy_responses(task_scores: pd.DataFrame, value_col: str = "accuracy") -> pd.DataFrame:
    """``model, step, subset, y``: every task's accuracy plus their unweighted mean (``subset="mean"``).

    The mean uses only checkpoints that have every task (the authors' rule), so it never mixes task sets.
    """
    _require(task_scores, ["model", "step", "task", value_col], "task scores")
    scores = task_scores[["model", "step", "task", value_col]].rename(columns={value_col: "y"})
    if scores.duplicated(["model", "step", "task"]).any():
        dup = scores.loc[scores.duplicated(["model", "step", "task"])].iloc[0]
        raise DataError(
            f"task scores: duplicate row for model {dup['model']!r} step {dup['step']} task {dup['task']!r}"
        )
    n_tasks = scores["task"].nunique()
    per_ckpt = (
        scores.dropna(subset=["y"])
        .groupby(["model", "step"])["y"]
        .agg(["mean", "count"])
        .reset_index()
    )
    complete = per_ckpt["count"] == n_tasks
    if (~complete).any():
        log.warning(
            "mean accuracy: dropped %d checkpoint(s) lacking some of the %d tasks",
            int((~complete).sum()),
            n_tasks,
        )
    mean = (
        per_ckpt.loc[complete, ["model", "step", "mean"]]
        .rename(columns={"mean": "y"})
        .assign(subset=MEAN)
    )
    tasks = scores.rename(columns={"task": "subset"})
    return pd.concat([mean, tasks], ignore_index=True)[["model", "step", "subset", "y"]]


def option_gap_responses(task_scores: pd.DataFrame) -> pd.DataFrame:
    """``model, step, subset, y`` with y = log(incorrect PPL) - log(correct PPL), per task and pooled.

    Pooling over tasks is the paper's token-weighted geometric mean of option perplexity, applied to the
    correct and the incorrect options separately before taking the gap; without token counts each task
    weighs the same.
    """
    _require(
        task_scores,
        ["model", "step", "task", "correct_ppl", "incorrect_ppl"],
        "task scores",
    )
    df = task_scores.dropna(subset=["correct_ppl", "incorrect_ppl"]).copy()
    if ((df["correct_ppl"] <= 0) | (df["incorrect_ppl"] <= 0)).any():
        raise DataError("task scores: option perplexities must be positive")
    df["log_c"] = np.log(df["correct_ppl"].to_numpy(float))
    df["log_i"] = np.log(df["incorrect_ppl"].to_numpy(float))
    weighted = {"correct_tokens", "incorrect_tokens"} <= set(df.columns)
    df["w_c"] = df["correct_tokens"].astype(float) if weighted else 1.0
    df["w_i"] = df["incorrect_tokens"].astype(float) if weighted else 1.0
    df["wlog_c"] = df["w_c"] * df["log_c"]
    df["wlog_i"] = df["w_i"] * df["log_i"]
    sums = df.groupby(["model", "step"])[["wlog_c", "w_c", "wlog_i", "w_i"]].sum().reset_index()
    pooled = sums[["model", "step"]].assign(
        subset=MEAN, y=sums["wlog_i"] / sums["w_i"] - sums["wlog_c"] / sums["w_c"]
    )
    tasks = df[["model", "step"]].assign(subset=df["task"], y=df["log_i"] - df["log_c"])
    return pd.concat([pooled, tasks], ignore_index=True)


def trend_share_points(trend_shares: pd.DataFrame, checkpoints: pd.DataFrame) -> pd.DataFrame:
    """``model, step, fraction, subset, y``: each (model, p, class) share, at the window-start checkpoint.

    Without a ``start_step`` column the window start is the first checkpoint at or after p of the model's
    final step (the trends stage's step-based rule).
    """
    _require(trend_shares, ["model", "fraction", "trend_class", "share"], "trend shares")
    shares = trend_shares.rename(columns={"trend_class": "subset", "share": "y"})
    if "start_step" not in shares.columns:
        steps = checkpoints[["model", "step"]].sort_values(["model", "step"])
        final = steps.groupby("model")["step"].max()
        starts = []
        for (model, fraction), _ in shares.groupby(["model", "fraction"]):
            if model not in final.index:
                raise DataError(f"trend shares: model {model!r} is not in the checkpoints table")
            model_steps = steps.loc[steps["model"] == model, "step"].to_numpy()
            after = model_steps[model_steps >= fraction * final[model]]
            starts.append({"model": model, "fraction": fraction, "start_step": int(after[0])})
        shares = shares.merge(pd.DataFrame(starts), on=["model", "fraction"])
    out = shares[["model", "fraction", "subset", "y", "start_step"]].rename(
        columns={"start_step": "step"}
    )
    return out.astype({"step": int})


def build_points(
    checkpoints: pd.DataFrame,
    task_scores: pd.DataFrame | None = None,
    trend_shares: pd.DataFrame | None = None,
    *,
    params_col: str = "params_total",
    accuracy_col: str = "accuracy",
) -> pd.DataFrame:
    """One long table of every (response, subset, point) with its predictors (`POINT_COLUMNS`).

    Responses whose input is absent (None, or no option-perplexity columns) are simply not built.
    """
    predictors = checkpoint_predictors(checkpoints, params_col)
    parts = []
    if task_scores is not None:
        parts.append(accuracy_responses(task_scores, accuracy_col).assign(response="accuracy"))
        if {"correct_ppl", "incorrect_ppl"} <= set(task_scores.columns):
            parts.append(option_gap_responses(task_scores).assign(response="option_nll_gap"))
    if trend_shares is not None:
        parts.append(trend_share_points(trend_shares, checkpoints).assign(response="trend_share"))
    if not parts:
        raise DataError("regression: no response table given (need task scores or trend shares)")
    responses = pd.concat(parts, ignore_index=True)
    if "fraction" not in responses.columns:
        responses["fraction"] = np.nan
    responses["model"] = responses["model"].astype(str)
    responses["step"] = responses["step"].astype(int)
    points = responses.merge(predictors, on=["model", "step"], how="inner", validate="many_to_one")
    lost = len(responses) - len(points)
    if lost:
        log.info(
            "regression: %d response row(s) have no trained checkpoint in checkpoints.tsv",
            lost,
        )
    points = points.dropna(subset=["y"])
    return points[list(POINT_COLUMNS)].reset_index(drop=True)


# ----------------------------------------------------------------------------------------------------
# Fits


def _design(points: pd.DataFrame, predictor: str) -> np.ndarray:
    return sm.add_constant(points[list(PREDICTORS[predictor])].to_numpy(float), has_constant="add")


def _label(response: str, subset: str, predictor: str) -> str:
    return f"response {response!r} subset {subset!r} predictor {predictor!r}"


def fit_predictor(
    points: pd.DataFrame,
    predictor: str,
    *,
    min_clusters: int = 4,
    alpha: float = 0.05,
    label: str = "",
) -> tuple[dict, list[dict]]:
    """OLS of ``y`` on one predictor set over `points`: (fit statistics, coefficient rows).

    Raises DataError when there are fewer points than coefficients + 1 (no residual degrees of freedom).
    """
    if predictor not in PREDICTORS:
        raise DataError(f"unknown predictor {predictor!r}; choose from {list(PREDICTORS)}")
    x = _design(points, predictor)
    y = points["y"].to_numpy(float)
    n, k = x.shape
    if n <= k:
        raise DataError(
            f"regression {label or predictor}: {n} point(s) for {k} coefficients; need at least {k + 1}"
        )
    groups = pd.factorize(points["model"])[0]
    n_clusters = int(groups.max()) + 1
    if np.linalg.matrix_rank(x) < k:
        stats = {
            "n_points": n,
            "n_models": n_clusters,
            "cov_type": "",
            "cov_note": "design matrix is rank-deficient",
        }
        return stats, []
    needed = max(min_clusters, k + 1)
    if n_clusters >= needed:
        cov_type, cov_note = (
            "cluster",
            f"clustered by model ({n_clusters} clusters, t with {n_clusters - 1} df)",
        )
        result = sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    else:
        cov_type = "HC1"
        cov_note = (
            f"only {n_clusters} model(s), need {needed} to cluster; HC1 ignores within-model correlation "
            "so intervals are too narrow"
        )
        result = sm.OLS(y, x).fit(cov_type="HC1", use_t=True)
    resid = result.resid
    stats = {
        "n_points": n,
        "n_models": n_clusters,
        "r2": float(result.rsquared),
        "r2_adj": float(result.rsquared_adj),
        "aic": float(result.aic),
        "bic": float(result.bic),
        "rmse_in_sample": float(np.sqrt(np.mean(resid**2))),
        "cov_type": cov_type,
        "cov_note": cov_note,
    }
    ci = result.conf_int(alpha)
    terms = ("intercept", *PREDICTORS[predictor])
    coefs = [
        {
            "term": term,
            "coef": float(result.params[i]),
            "se": float(result.bse[i]),
            "ci_low": float(ci[i, 0]),
            "ci_high": float(ci[i, 1]),
            "p_value": float(result.pvalues[i]),
            "cov_type": cov_type,
        }
        for i, term in enumerate(terms)
    ]
    return stats, coefs


def _ols_coef(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.linalg.lstsq(x, y, rcond=None)[0]


def leave_one_size_out(
    points: pd.DataFrame, predictor: str, *, label: str = ""
) -> tuple[list[dict], pd.DataFrame]:
    """Fold rows (one per held-out model) and the held-out predictions of one predictor set.

    Every model is held out once; the fit uses all other models' points, the prediction covers all of the
    held-out model's points. A fold whose training design is rank-deficient gets NaN and a note.
    Raises DataError with fewer than two models.
    """
    models = list(dict.fromkeys(points["model"]))
    if len(models) < 2:
        raise DataError(
            f"leave-one-size-out {label or predictor}: needs at least 2 models, got {models}"
        )
    x_all = _design(points, predictor)
    y_all = points["y"].to_numpy(float)
    model_col = points["model"].to_numpy()
    predicted = np.full(len(points), np.nan)
    folds = []
    for held_out in models:
        test = model_col == held_out
        x_train, y_train = x_all[~test], y_all[~test]
        note = ""
        if np.linalg.matrix_rank(x_train) < x_train.shape[1]:
            note = f"not identifiable without {held_out!r}: training design is rank-deficient"
        else:
            predicted[test] = x_all[test] @ _ols_coef(x_train, y_train)
        err = predicted[test] - y_all[test]
        folds.append(
            {
                "held_out": held_out,
                "n_train": int((~test).sum()),
                "n_test": int(test.sum()),
                "rmse": float(np.sqrt(np.mean(err**2))) if not note else np.nan,
                "bias": float(np.mean(err)) if not note else np.nan,
                "note": note,
            }
        )
    return folds, pd.DataFrame({"index": points.index, "predicted_loso": predicted})


def fit_points(
    points: pd.DataFrame,
    *,
    predictors: tuple[str, ...] = tuple(PREDICTORS),
    min_clusters: int = 4,
    alpha: float = 0.05,
    skip_small: tuple[str, ...] = ("trend_share",),
) -> RegressionTables:
    """Fit every predictor set to every (response, subset) of `points`, in sample and leave-one-size-out.

    Responses named in `skip_small` that have too few points or models get a note row instead of an
    error; for every other response too few points or fewer than two models raise DataError.
    """
    fits, coefs, folds, summaries, preds = [], [], [], [], []
    for (response, subset), group in points.groupby(["response", "subset"], sort=False):
        group = group.reset_index(drop=True)
        for predictor in predictors:
            label = _label(response, subset, predictor)
            key = {"response": response, "subset": subset, "predictor": predictor}
            try:
                stats, coef_rows = fit_predictor(
                    group,
                    predictor,
                    min_clusters=min_clusters,
                    alpha=alpha,
                    label=label,
                )
                fold_rows, loso = leave_one_size_out(group, predictor, label=label)
            except DataError as err:
                if response not in skip_small:
                    raise
                log.warning("skipped %s: %s", label, err)
                fits.append(
                    {
                        **key,
                        "n_points": len(group),
                        "n_models": group["model"].nunique(),
                        "cov_note": str(err),
                    }
                )
                continue
            fits.append({**key, **stats})
            coefs.extend({**key, **row} for row in coef_rows)
            folds.extend({**key, **row} for row in fold_rows)
            fold_table = pd.DataFrame(fold_rows)
            err = loso["predicted_loso"].to_numpy() - group["y"].to_numpy()
            usable = ~np.isnan(err)
            summaries.append(
                {
                    **key,
                    "n_folds": int(fold_table["rmse"].notna().sum()),
                    "n_points": int(usable.sum()),
                    "rmse_pooled": float(np.sqrt(np.mean(err[usable] ** 2)))
                    if usable.any()
                    else np.nan,
                    "rmse_mean_fold": float(fold_table["rmse"].mean()),
                    "complete": bool(usable.all()),
                }
            )
            fitted = _fitted(group, predictor)
            preds.append(
                group[["model", "step", "fraction", "y"]]
                .rename(columns={"y": "observed"})
                .assign(
                    **key,
                    fitted=fitted,
                    predicted_loso=loso["predicted_loso"].to_numpy(),
                )
            )
    summary = pd.DataFrame(summaries)
    if len(summary):
        summary = _rank(summary)
    return RegressionTables(
        points=points,
        fits=pd.DataFrame(fits),
        coefficients=pd.DataFrame(coefs),
        loso_folds=pd.DataFrame(folds),
        loso_summary=summary,
        predictions=pd.concat(preds, ignore_index=True)[
            [
                "response",
                "subset",
                "predictor",
                "model",
                "step",
                "fraction",
                "observed",
                "fitted",
                "predicted_loso",
            ]
        ]
        if preds
        else pd.DataFrame(),
    )


def _fitted(group: pd.DataFrame, predictor: str) -> np.ndarray:
    x = _design(group, predictor)
    if np.linalg.matrix_rank(x) < x.shape[1]:
        return np.full(len(group), np.nan)
    return x @ _ols_coef(x, group["y"].to_numpy(float))


def _rank(summary: pd.DataFrame) -> pd.DataFrame:
    """Add the rank of each predictor's pooled LOSO RMSE within its (response, subset); complete folds only."""
    comparable = summary["rmse_pooled"].where(summary["complete"])
    summary = summary.assign(_r=comparable)
    summary["rank"] = summary.groupby(["response", "subset"])["_r"].rank(method="min")
    best = summary.groupby(["response", "subset"])["_r"].transform("min")
    summary["rmse_ratio_to_best"] = summary["_r"] / best
    return summary.drop(columns="_r")


def regression_tables(
    checkpoints: pd.DataFrame,
    task_scores: pd.DataFrame | None = None,
    trend_shares: pd.DataFrame | None = None,
    *,
    params_col: str = "params_total",
    accuracy_col: str = "accuracy",
    predictors: tuple[str, ...] = tuple(PREDICTORS),
    min_clusters: int = 4,
    alpha: float = 0.05,
) -> RegressionTables:
    """Build the points of every available response and fit them (the whole stage in one call).

    Raises DataError when the run has fewer than two models: a comparison across sizes needs sizes.
    """
    unknown = [p for p in predictors if p not in PREDICTORS]
    if unknown:
        raise DataError(f"unknown predictor(s) {unknown}; choose from {list(PREDICTORS)}")
    points = build_points(
        checkpoints,
        task_scores,
        trend_shares,
        params_col=params_col,
        accuracy_col=accuracy_col,
    )
    models = points["model"].unique().tolist()
    if len(models) < 2:
        raise DataError(
            f"regression needs at least 2 models (sizes) with trained checkpoints; got {models}"
        )
    return fit_points(points, predictors=predictors, min_clusters=min_clusters, alpha=alpha)
