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
  Folds are *interior* (the held-out size lies between two training sizes: interpolation) or *extreme*
  (the smallest or largest size: extrapolation in log parameters, which penalises every predictor that
  uses size; with three sizes two of three folds are extreme). The summary pools each kind separately
  (``rmse_interior``, ``rmse_extreme``) besides all folds together (`fold_position`).
- **Size coefficient** (`size_coefficient`): the in-sample coefficient of log10 parameters next to log10
  perplexity, with its interval (clustered by model when there are enough models, else HC1 and a
  note): does size add anything once perplexity is known?

Input tables (all tidy, snake_case):

- ``checkpoints`` (``results/losses/checkpoints.tsv``): ``model, step, tokens_seen, flops,
  params_total, valid_ppl`` (``params_non_embedding`` if chosen with ``params_col``).
- ``task_scores`` (the bigbench stage's per-task table, `lmtraj.bigbench.metrics.task_table`): ``model, step,
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
from lmtraj.regression.points import build_points

log = logging.getLogger(__name__)

PREDICTORS: dict[str, tuple[str, ...]] = {
    "log_ppl": ("log10_valid_ppl",),
    "log_flops": ("log10_flops",),
    "log_params_tokens": ("log10_params", "log10_tokens"),
    "log_ppl_params": ("log10_valid_ppl", "log10_params"),
}


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
# Fits


def design(points: pd.DataFrame, predictor: str) -> np.ndarray:
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
    x = design(points, predictor)
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


INTERIOR, EXTREME = "interior", "extreme"


def fold_position(points: pd.DataFrame) -> dict[str, str]:
    """Each model's fold kind: ``extreme`` for the smallest and largest parameter counts, else
    ``interior``. Sizes come from ``log10_params`` when present, else from the order of appearance."""
    models = list(dict.fromkeys(points["model"]))
    if "log10_params" in points.columns:
        size = points.groupby("model", sort=False)["log10_params"].first()
    else:
        size = pd.Series(np.arange(len(models), dtype=float), index=models)
    lo, hi = size.min(), size.max()
    return {m: EXTREME if size[m] in (lo, hi) else INTERIOR for m in models}


@dataclass(frozen=True)
class Fold:
    """One leave-one-size-out fold as a linear map: held-out predictions = ``operator @ y[train]``
    (None when the training design is rank-deficient), so many responses share one fit."""

    held_out: str
    position: str
    test: np.ndarray  # boolean mask of the held-out points
    operator: np.ndarray | None  # (n_test, n_train)


def loso_folds(points: pd.DataFrame, predictor: str) -> list[Fold]:
    """The folds of `leave_one_size_out` as linear operators (for bootstrapped responses)."""
    x = design(points, predictor)
    model_col = points["model"].to_numpy()
    positions = fold_position(points)
    folds = []
    for held_out in dict.fromkeys(model_col):
        test = model_col == held_out
        x_train = x[~test]
        operator = None
        if np.linalg.matrix_rank(x_train) == x_train.shape[1]:
            operator = x[test] @ np.linalg.pinv(x_train)
        folds.append(Fold(held_out, positions[held_out], test, operator))
    return folds


def size_coefficient(points: pd.DataFrame, *, min_clusters: int = 4, alpha: float = 0.05) -> dict:
    """The in-sample log10-parameters coefficient of ``log_ppl_params`` with its interval, the
    covariance used and its note (`fit_predictor`); NaN coefficient when it cannot be fitted."""
    try:
        stats, coefs = fit_predictor(
            points, "log_ppl_params", min_clusters=min_clusters, alpha=alpha
        )
    except DataError as err:
        return {
            "coef": np.nan,
            "ci_low": np.nan,
            "ci_high": np.nan,
            "cov_type": "",
            "cov_note": str(err),
        }
    row = next((c for c in coefs if c["term"] == "log10_params"), None)
    if row is None:
        return {"coef": np.nan, "ci_low": np.nan, "ci_high": np.nan} | {
            "cov_type": "",
            "cov_note": stats["cov_note"],
        }
    return {k: row[k] for k in ("coef", "ci_low", "ci_high", "cov_type")} | {
        "cov_note": stats["cov_note"],
        "n_models": stats["n_models"],
    }


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
    x_all = design(points, predictor)
    y_all = points["y"].to_numpy(float)
    model_col = points["model"].to_numpy()
    positions = fold_position(points)
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
                "position": positions[held_out],
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
            position = group["model"].map(fold_position(group)).to_numpy()
            summaries.append(
                {
                    **key,
                    "n_folds": int(fold_table["rmse"].notna().sum()),
                    "n_points": int(usable.sum()),
                    "rmse_pooled": _rmse(err, usable),
                    "rmse_mean_fold": float(fold_table["rmse"].mean()),
                    "complete": bool(usable.all()),
                    "n_interior_folds": int((fold_table["position"] == INTERIOR).sum()),
                    "rmse_interior": _rmse(err, position == INTERIOR),
                    "rmse_extreme": _rmse(err, position == EXTREME),
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


def _rmse(err: np.ndarray, where: np.ndarray) -> float:
    """Pooled RMSE of `err` over `where`; NaN when empty or when any selected fold is missing."""
    chosen = err[where]
    if chosen.size == 0 or np.isnan(chosen).any():
        return np.nan
    return float(np.sqrt(np.mean(chosen**2)))


def _fitted(group: pd.DataFrame, predictor: str) -> np.ndarray:
    x = design(group, predictor)
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
