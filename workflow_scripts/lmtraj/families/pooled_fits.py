"""Pooled least-squares fits over model families, for their findings (`lmtraj.families.findings`):
accuracy on one predictor with or without a family factor, held-out RMSE by fold, family offsets, and
the within-family cluster bootstrap that weights every fit.

A resample is a vector of multiplicity weights over the points, so every fit is a weighted
least-squares fit and all resamples of one fold are solved at once; a resample whose design is
rank-deficient gives NaN coefficients instead of an arbitrary solution.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmtraj.regression.bootstrap import cluster_weights

# Smallest eigenvalue of a weighted Gram matrix relative to its largest below which the design counts as
# rank-deficient: columns are standardised, so a genuine design is far above it, while an exactly
# collinear one (a constant predictor next to the intercept) is at rounding level.
RANK_TOL = 1e-10


def cluster_codes(points: pd.DataFrame) -> np.ndarray:
    """Each point's (family, model) cluster, numbered in order of appearance."""
    return points.groupby(["family", "model"], sort=False).ngroup().to_numpy()


def resample_weights(points: pd.DataFrame, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(1 + n_boot, n_points) multiplicity weights: row 0 is the data (all ones), then one row per
    resample of the (family, model) clusters drawn with replacement within each family."""
    codes = cluster_codes(points)
    family_of = points.groupby(codes, sort=True)["family"].first().to_numpy()
    per_cluster = np.zeros((n_boot, len(family_of)))
    for family in dict.fromkeys(points["family"]):
        ids = np.flatnonzero(family_of == family)
        per_cluster[:, ids] = cluster_weights(len(ids), n_boot, rng)
    return np.vstack([np.ones(len(points)), per_cluster[:, codes]])


def design(points: pd.DataFrame, column: str, *, with_family: bool) -> np.ndarray:
    """Intercept, the standardised predictor (`column`) and, `with_family`, one 0/1 column per family but the first
    (treatment coding, as ``C(family)``). Standardising changes no prediction nor family coefficient
    (the intercept absorbs the shift) and keeps the Gram matrices well conditioned."""
    value = points[column].to_numpy(float)
    scale = value.std()
    columns = [np.ones(len(points)), (value - value.mean()) / (scale if scale > 0 else 1.0)]
    if with_family:
        families = list(dict.fromkeys(points["family"]))
        columns += [(points["family"] == f).to_numpy(float) for f in families[1:]]
    return np.column_stack(columns)


def weighted_ols(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(B, k) least-squares coefficients of `y` on `x` for each row of `weights` (B, n); a NaN row where
    the weighted design is rank-deficient (a coefficient the resample cannot identify)."""
    gram = np.einsum("bn,ni,nj->bij", weights, x, x)
    moment = np.einsum("bn,ni,n->bi", weights, x, y)
    eig = np.linalg.eigvalsh(gram)
    ok = eig[:, 0] > RANK_TOL * np.maximum(eig[:, -1], np.finfo(float).tiny)
    coef = np.full((len(weights), x.shape[1]), np.nan)
    if ok.any():
        coef[ok] = np.linalg.solve(gram[ok], moment[ok][:, :, None])[:, :, 0]
    return coef


def held_out_rmse(
    points: pd.DataFrame,
    weights: np.ndarray,
    column: str,
    *,
    folds: np.ndarray,
    with_family: bool,
) -> np.ndarray:
    """(B,) RMSE of accuracy pooled over every held-out point, one fold per distinct value of `folds`
    (fit on the other folds, weighted by each resample's multiplicities); NaN where a fold that the
    resample holds out with positive weight is not identifiable."""
    x = design(points, column, with_family=with_family)
    y = points["accuracy"].to_numpy(float)
    sse = np.zeros(len(weights))
    for value in dict.fromkeys(folds):
        test = folds == value
        coef = weighted_ols(x[~test], y[~test], weights[:, ~test])
        err = coef @ x[test].T - y[test]
        w = weights[:, test]
        # A fold this resample did not draw adds nothing, even when its fit is not identifiable.
        sse += np.where(w > 0, w * err**2, 0.0).sum(axis=1)
    return np.sqrt(sse / weights.sum(axis=1))


def family_effects(points: pd.DataFrame, weights: np.ndarray, column: str) -> np.ndarray:
    """(B, n_families - 1) family coefficients of accuracy ~ `column` + C(family), first family the
    reference: each family's accuracy offset at a fixed predictor, per resample."""
    x = design(points, column, with_family=True)
    return weighted_ols(x, points["accuracy"].to_numpy(float), weights)[:, 2:]
