"""Per-token trend classes over the late part of training (paper §3, Eq. 1 and App. B).

A *token* is one context-token pair: one row of a model's NLL trajectory matrix (tokens x checkpoints,
columns in ascending step order). Its perplexity at a checkpoint is ``exp(nll)``.

Window. For a training fraction ``p`` the window is every checkpoint from the first one whose step is
at or after ``p * final_step`` up to the last checkpoint (``final_step`` = the step of the last
checkpoint, i.e. the end of the trajectory). The window is chosen by *step*, not by checkpoint index,
so uneven grids (Pythia's log-spaced early steps, OPT's 4K-then-20K grid, missing checkpoints) give
the same window in training time. The authors' code started the regression at the checkpoint nearest
to ``int(p * final_step)`` (possibly before it) and the stagnation rule at index ``int(p * n_ckpts)``;
here both use this one window.

Regression (one per token, all tokens at once in closed form). The response is the token's perplexity
normalised by its window-start value, ``y_i = PPL_i / PPL_start``; the regressor is one of

- ``"log_step"`` (default): ``log(step)``, as in the authors' code that produced the paper's numbers;
- ``"index"``: the checkpoint-index offset ``i - j`` of the paper's Eq. 1;
- ``"step"``: the step itself (Eq. 1's intent, "time since the window start", on any grid).

Why ``log_step`` by default: it reproduces how the published shares were computed, and it depends only
on the step values, so a missing or extra checkpoint does not stretch time the way an index offset
does. On an even grid (Pythia after step 1000, OPT inside one spacing) index and step give the same
fit; log(step) weighs the early part of the window a little more. The t test of the slope is the
usual OLS one (slope, standard error, t with n - 2 degrees of freedom, two-sided p-value).

NaNs (a checkpoint that failed for some token) are masked per row: each row is fitted on its finite
points only, and "window start" means the first finite value. A row with fewer than
``MIN_POINTS`` finite points, or a window with fewer than ``MIN_POINTS`` checkpoints, is
``unclassified`` (never an error: late fractions on a short grid are a legitimate, reportable case).
A constant row has slope 0 and an undefined p-value (NaN), which counts as not significant (a
per-token statsmodels fit returns a rounding-noise p-value there, sometimes below 0.05).

Classes (thresholds from the config, see ``TrendRules``):

- ``upward`` ("forgetting"): slope > 0 and p-value < ``p_value``;
- ``downward`` ("still learning"): slope < 0 and p-value < ``p_value``;
- ``stagnated`` ("already learned"): neither, and the first and the last perplexity are both within
  ``tolerance`` of the window's geometric-mean perplexity (``exp(mean nll)``), i.e.
  ``1 - tol <= PPL / PPL_avg <= 1 + tol`` as in the paper. Options reproduce the authors' notebook:
  ``strict`` (``<`` instead of ``<=``), ``ratio="mean_over_value"`` (``PPL_avg / PPL``) and
  ``variance_rule`` (also require ``var(PPL) < PPL_avg``);
- ``unclassified``: everything else. Shares use all tokens as the denominator.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import special

from lmtraj.errors import ConfigError, DataError

CLASSES = ("stagnated", "upward", "downward", "unclassified")
STAGNATED, UPWARD, DOWNWARD, UNCLASSIFIED = range(4)
REGRESSORS = ("log_step", "step", "index")
RATIOS = ("value_over_mean", "mean_over_value")
BLOCK_ROWS = 16_384  # rows per block in fit_trends
MIN_POINTS = 3  # a slope with a p-value needs at least one residual degree of freedom

Regressor = Literal["log_step", "step", "index"]


@dataclass(frozen=True)
class TrendWindow:
    """The checkpoints a trend at training fraction `fraction` is fitted on: columns `start:`."""

    fraction: float
    start: int
    steps: np.ndarray

    @property
    def n_checkpoints(self) -> int:
        return int(self.steps.size)

    @property
    def start_step(self) -> int:
        return int(self.steps[0]) if self.steps.size else -1

    @property
    def final_step(self) -> int:
        return int(self.steps[-1]) if self.steps.size else -1


@dataclass(frozen=True)
class OLSFit:
    """Per-row slope statistics of ``y ~ a + b x``; NaN where undefined (see `ols_slope`)."""

    slope: np.ndarray
    stderr: np.ndarray
    t: np.ndarray
    p_value: np.ndarray
    n_obs: np.ndarray


@dataclass(frozen=True)
class TrendRules:
    """Classification thresholds (the config's ``trends`` block)."""

    p_value: float = 0.05
    tolerance: float = 0.05
    variance_rule: bool = False
    strict: bool = False
    ratio: str = "value_over_mean"

    def __post_init__(self) -> None:
        if not 0 < self.p_value < 1:
            raise ConfigError(f"trends.p_value must be in (0, 1), got {self.p_value!r}")
        if not 0 <= self.tolerance < 1:
            raise ConfigError(f"trends.tolerance must be in [0, 1), got {self.tolerance!r}")
        if self.ratio not in RATIOS:
            raise ConfigError(f"trends.ratio must be one of {RATIOS}, got {self.ratio!r}")


@dataclass(frozen=True)
class TrendFit:
    """Everything the classification needs for one window, one value per token."""

    window: TrendWindow
    regressor: str
    ols: OLSFit
    log_first: np.ndarray  # NLL (= log PPL) at the first finite checkpoint of the window
    log_last: np.ndarray  # NLL at the last finite checkpoint of the window
    log_mean: np.ndarray  # mean NLL over the window = log of the geometric-mean PPL
    ppl_var: np.ndarray  # variance of the PPL series (the authors' optional variance rule)


@dataclass(frozen=True)
class TrendResult:
    fit: TrendFit
    classes: np.ndarray  # int8 codes into CLASSES


def check_steps(steps: Sequence[int] | np.ndarray) -> np.ndarray:
    """The step axis of a trajectory: non-empty, finite, non-negative, strictly increasing."""
    arr = np.asarray(steps, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise DataError(f"steps must be a non-empty 1-D sequence, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or arr[0] < 0 or np.any(np.diff(arr) <= 0):
        raise DataError(f"steps must be non-negative and strictly increasing, got {arr.tolist()}")
    return arr


def trend_window(steps: Sequence[int] | np.ndarray, fraction: float) -> TrendWindow:
    """First checkpoint at or after ``fraction * final_step``, through the last checkpoint."""
    if not 0 <= fraction <= 1:
        raise ConfigError(f"trends.fractions: each fraction must be in [0, 1], got {fraction!r}")
    arr = check_steps(steps)
    # the slack keeps e.g. 0.3 * 1000 = 300.00000000000006 from skipping the checkpoint at step 300
    target = fraction * arr[-1] - 1e-9 * max(arr[-1], 1.0)
    start = int(np.searchsorted(arr, target, side="left"))
    return TrendWindow(fraction=float(fraction), start=start, steps=arr[start:])


def regressor_values(window: TrendWindow, regressor: str) -> np.ndarray:
    """The x of the per-token regression over `window`."""
    if regressor == "index":
        return np.arange(window.n_checkpoints, dtype=np.float64)
    if regressor == "step":
        return window.steps.astype(np.float64)
    if regressor == "log_step":
        if window.steps.size and window.steps[0] <= 0:
            raise ConfigError(
                f"trends.regressor 'log_step' needs positive steps, but the window at fraction "
                f"{window.fraction} starts at step {window.start_step}; use a fraction > 0 or "
                "regressor 'index' / 'step'"
            )
        return np.log(window.steps)
    raise ConfigError(f"trends.regressor must be one of {REGRESSORS}, got {regressor!r}")


def ols_slope(y: np.ndarray, x: np.ndarray) -> OLSFit:
    """Row-wise OLS of ``y[r] ~ a + b * x`` in closed form, NaN-aware, float64 throughout.

    Non-finite entries of a row are dropped from that row's fit (statsmodels' ``missing="drop"``).
    A row with < 2 points or a constant x gets a NaN slope; with < 3 points a NaN stderr/t/p; a
    perfect fit gets stderr 0 and t = +-inf (p = 0), or t = NaN (p = NaN) when its slope is 0
    (a constant row).
    """
    y = np.asarray(y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    if y.ndim != 2 or x.shape != (y.shape[1],):
        raise DataError(f"ols_slope needs y (rows, k) and x (k,), got {y.shape} and {x.shape}")
    finite = np.isfinite(y) & np.isfinite(x)[None, :]
    complete = finite.all(axis=1)
    n_rows = y.shape[0]
    slope, sxx, ssr = (np.full(n_rows, np.nan) for _ in range(3))
    n_obs = finite.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if complete.all():
            slope, sxx, ssr = _ols_shared_x(y, x)
        else:
            if complete.any():
                slope[complete], sxx[complete], ssr[complete] = _ols_shared_x(y[complete], x)
            part = ~complete
            slope[part], sxx[part], ssr[part] = _ols_masked(y[part], x, finite[part])
        df = (n_obs - 2).astype(np.float64)
        df[df <= 0] = np.nan
        stderr = np.sqrt(ssr / df / sxx)
        t = slope / stderr
        # two-sided p of Student t: 2 * sf(|t|) = 2 * stdtr(df, -|t|) (what scipy.stats.t.sf calls)
        p_value = 2.0 * special.stdtr(np.where(np.isnan(df), 1.0, df), -np.abs(t))
    p_value[np.isnan(t)] = np.nan
    return OLSFit(slope=slope, stderr=stderr, t=t, p_value=p_value, n_obs=n_obs)


def _ols_shared_x(y: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows without NaNs share one centred x, so Sxx is a scalar and Sxy a matrix-vector product."""
    xc = x - x.mean()
    sxx = float(xc @ xc)
    resid = y - y.mean(axis=1, keepdims=True)
    slope = (resid @ xc) / sxx if sxx > 0 else np.full(y.shape[0], np.nan)
    resid -= slope[:, None] * xc[None, :]
    ssr = np.einsum("ij,ij->i", resid, resid)
    return slope, np.full(y.shape[0], sxx), ssr


def _ols_masked(
    y: np.ndarray, x: np.ndarray, mask: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = mask.sum(axis=1)
    xm = np.where(mask, x[None, :], 0.0).sum(axis=1) / n
    ym = np.where(mask, y, 0.0).sum(axis=1) / n
    xc = np.where(mask, x[None, :] - xm[:, None], 0.0)
    yc = np.where(mask, y - ym[:, None], 0.0)
    sxx = np.einsum("ij,ij->i", xc, xc)
    slope = np.einsum("ij,ij->i", xc, yc) / np.where(sxx > 0, sxx, np.nan)
    yc -= slope[:, None] * xc
    return slope, sxx, np.einsum("ij,ij->i", yc, yc)


def _first_last(w: np.ndarray, finite: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Value at the first and the last finite column of each row (NaN for an all-NaN row)."""
    rows = np.arange(w.shape[0])
    first = w[rows, np.argmax(finite, axis=1)]
    last = w[rows, w.shape[1] - 1 - np.argmax(finite[:, ::-1], axis=1)]
    empty = ~finite.any(axis=1)
    first[empty] = np.nan
    last[empty] = np.nan
    return first, last


def fit_trends(
    nll: np.ndarray,
    steps: Sequence[int] | np.ndarray,
    fraction: float,
    regressor: Regressor = "log_step",
) -> TrendFit:
    """Fit every token's trend over the window at `fraction` (see the module docstring)."""
    nll = np.asarray(nll)
    if nll.ndim != 2 or nll.shape[1] != len(steps):
        raise DataError(
            f"trajectory matrix has shape {nll.shape} but there are {len(steps)} checkpoint steps; "
            "expected (n_tokens, n_checkpoints)"
        )
    window = trend_window(steps, fraction)
    x = regressor_values(window, regressor)
    n_tokens = nll.shape[0]
    if window.n_checkpoints < MIN_POINTS or n_tokens == 0:
        nan = np.full(n_tokens, np.nan)
        ols = OLSFit(nan, nan, nan, nan, np.zeros(n_tokens, dtype=np.int64))
        return TrendFit(window, regressor, ols, nan, nan, nan, nan)
    # blocks of rows that stay in cache: measured ~30% faster than one pass over 102K x 36
    blocks = [
        _fit_block(nll[lo : lo + BLOCK_ROWS, window.start :], x)
        for lo in range(0, n_tokens, BLOCK_ROWS)
    ]
    ols_parts, first, last, mean, var = (list(part) for part in zip(*blocks, strict=True))
    fields = ("slope", "stderr", "t", "p_value", "n_obs")
    ols = OLSFit(*(np.concatenate([getattr(o, f) for o in ols_parts]) for f in fields))
    return TrendFit(
        window,
        regressor,
        ols,
        np.concatenate(first),
        np.concatenate(last),
        np.concatenate(mean),
        np.concatenate(var),
    )


def _fit_block(
    block: np.ndarray, x: np.ndarray
) -> tuple[OLSFit, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    w = block.astype(np.float64)  # our own copy: transformed in place below
    finite = np.isfinite(w)
    complete = bool(finite.all())
    with warnings.catch_warnings(), np.errstate(invalid="ignore", over="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: nanmean of nothing
        if complete:
            log_first, log_last = w[:, 0].copy(), w[:, -1].copy()
            log_mean = w.mean(axis=1)
        else:
            log_first, log_last = _first_last(w, finite)
            log_mean = np.nanmean(w, axis=1)
        # y = PPL / PPL_start
        w -= log_first[:, None]
        np.exp(w, out=w)
        ols = ols_slope(w, x)
        # var(PPL) = PPL_start^2 * var(y): avoids a second exp over the matrix
        ppl_var = np.exp(2.0 * log_first) * (w.var(axis=1) if complete else np.nanvar(w, axis=1))
    return ols, log_first, log_last, log_mean, ppl_var


def classify(fit: TrendFit, rules: TrendRules = TrendRules()) -> np.ndarray:
    """int8 class codes (indices into CLASSES) for every token of `fit`."""
    ols = fit.ols
    with np.errstate(invalid="ignore"):
        significant = ols.p_value < rules.p_value  # NaN compares False: not significant
        up = significant & (ols.slope > 0)
        down = significant & (ols.slope < 0)
        sign = 1.0 if rules.ratio == "value_over_mean" else -1.0
        ratio_first = np.exp(sign * (fit.log_first - fit.log_mean))
        ratio_last = np.exp(sign * (fit.log_last - fit.log_mean))
        lo, hi = 1.0 - rules.tolerance, 1.0 + rules.tolerance
        if rules.strict:
            near = (lo < ratio_first) & (ratio_first < hi) & (lo < ratio_last) & (ratio_last < hi)
        else:
            near = (
                (lo <= ratio_first) & (ratio_first <= hi) & (lo <= ratio_last) & (ratio_last <= hi)
            )
        stagnated = near & ~up & ~down
        if rules.variance_rule:
            stagnated &= fit.ppl_var < np.exp(fit.log_mean)
    codes = np.full(ols.slope.shape, UNCLASSIFIED, dtype=np.int8)
    codes[stagnated] = STAGNATED
    codes[up] = UPWARD
    codes[down] = DOWNWARD
    codes[ols.n_obs < MIN_POINTS] = UNCLASSIFIED
    return codes


def analyse_trends(
    nll: np.ndarray,
    steps: Sequence[int] | np.ndarray,
    fractions: Sequence[float],
    regressor: Regressor = "log_step",
    rules: TrendRules = TrendRules(),
) -> list[TrendResult]:
    """Fit and classify every token at every training fraction."""
    if len(fractions) == 0 or len(set(fractions)) != len(fractions):
        raise ConfigError(
            f"trends.fractions must be a non-empty list without repeats, got {fractions!r}"
        )
    results = []
    for fraction in fractions:
        fit = fit_trends(nll, steps, fraction, regressor)
        results.append(TrendResult(fit=fit, classes=classify(fit, rules)))
    return results


def fraction_tag(fraction: float) -> str:
    """Column suffix for a fraction: 0.1 -> 'p10', 0.125 -> 'p12.5'."""
    return f"p{round(fraction * 100, 6):g}"


def token_table(results: Sequence[TrendResult], tokens: pd.DataFrame, model: str) -> pd.DataFrame:
    """Per-token table: doc, position, token_id, then slope/p_value/class for each fraction.

    Row i is row i of `tokens` (and of the trajectory matrix), so the table aligns with the losses.
    """
    missing = {"doc", "position", "token_id"} - set(tokens.columns)
    if missing:
        raise DataError(f"tokens table lacks columns {sorted(missing)}")
    table = tokens[["doc", "position", "token_id"]].reset_index(drop=True).copy()
    table.insert(0, "model", pd.Categorical([model] * len(table)))
    for result in results:
        if result.classes.shape[0] != len(table):
            raise DataError(
                f"model {model}: {result.classes.shape[0]} classified tokens but the tokens table "
                f"has {len(table)} rows"
            )
        tag = fraction_tag(result.fit.window.fraction)
        table[f"slope_{tag}"] = result.fit.ols.slope
        table[f"p_value_{tag}"] = result.fit.ols.p_value
        table[f"class_{tag}"] = pd.Categorical.from_codes(result.classes, CLASSES)
    return table


def class_codes(table: pd.DataFrame, fraction: float) -> np.ndarray:
    """Class codes at `fraction` back from a `token_table` (e.g. read from parquet)."""
    column = f"class_{fraction_tag(fraction)}"
    if column not in table.columns:
        raise ConfigError(f"fraction {fraction} was not classified (no column {column!r})")
    return pd.Categorical(table[column], categories=CLASSES).codes.astype(np.int8)


def class_shares(results: Sequence[TrendResult], model: str) -> pd.DataFrame:
    """Share of all tokens in each class per fraction: one row per (model, fraction, class)."""
    rows = []
    for result in results:
        window = result.fit.window
        counts = np.bincount(result.classes, minlength=len(CLASSES))
        n_tokens = int(result.classes.size)
        for code, name in enumerate(CLASSES):
            rows.append(
                {
                    "model": model,
                    "fraction": window.fraction,
                    "start_step": window.start_step,
                    "final_step": window.final_step,
                    "n_checkpoints": window.n_checkpoints,
                    "regressor": result.fit.regressor,
                    "trend_class": name,
                    "n_tokens": int(counts[code]),
                    "share": counts[code] / n_tokens if n_tokens else np.nan,
                }
            )
    return pd.DataFrame(rows)


def pick_models(names: Sequence[str], models: Sequence[str], key: str) -> list[str]:
    """Models named by a ``trends.<key>`` list; an empty list means the smallest and the largest."""
    picked = list(names) or list(dict.fromkeys([models[0], models[-1]]))
    unknown = [m for m in picked if m not in models]
    if unknown:
        raise ConfigError(f"trends.{key}: {unknown} are not models of this run ({list(models)})")
    return picked


def check_fraction(value: float, fractions: Sequence[float], key: str) -> float:
    """A ``trends.<key>`` fraction must be one of ``trends.fractions`` (its classes are computed)."""
    if not any(abs(value - f) < 1e-9 for f in fractions):
        raise ConfigError(f"trends.{key}: {value} is not one of trends.fractions {list(fractions)}")
    return float(value)
