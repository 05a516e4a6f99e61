"""Finding 3: does validation perplexity predict downstream accuracy better than size or compute?

The response is the mean accuracy over tasks at every trained checkpoint, built from the per-item
table (``model, step, task, subtask, item`` and the accuracy metric's 0/1 column) exactly as the
bigbench stage builds it: items -> subtask means -> task means -> the unweighted mean over tasks. The
BIG-bench tasks are the response; the corpus-derived tasks (``kind == "corpus"`` in the task table)
are a second, separate response. A checkpoint that lacks any item of the kind is dropped.

Intervals come from a two-stage bootstrap: tasks are drawn with replacement, and the items of every
subtask are drawn with replacement (one item draw per task and resample, shared when a task is drawn
twice). Every resample gives a new response series; the fits are linear in the response, so each
fold's fit is applied to all resamples at once (`lmtraj.regression.fits.loso_folds`).

Two statistics:

(a) **Interpolation**: leave-one-size-out RMSE pooled over the *interior* folds only (held-out sizes
    between two training sizes), ``min over rivals (RMSE_rival - RMSE_log_ppl)`` with rivals
    ``log_flops`` and ``log_params_tokens``. Positive = perplexity predicts an unseen size better than
    every rival. Extreme folds (extrapolation in log parameters, which penalises every predictor that
    uses size) are reported in the note, not in the verdict. Needs three or more sizes.
(b) **Size adds nothing**: the in-sample coefficient of log10 parameters next to log10 perplexity
    (accuracy per 10x parameters at fixed perplexity). Its interval is the envelope of the
    model-clustered interval (`lmtraj.regression.fits.size_coefficient`) and the task/item bootstrap
    interval, so both the trajectory-level and the task-level noise count. The claim is an equivalence:
    ``yes`` when the interval lies inside ``(-size_margin, size_margin)``, ``no`` when it excludes 0,
    else ``inconclusive``. With too few models to cluster, the HC1 interval ignores the correlation
    within a trajectory and is too narrow; the verdict is then ``inconclusive`` and the note says why.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmtraj.errors import DataError
from lmtraj.regression.bootstrap import (
    INCONCLUSIVE,
    Bootstrap,
    cluster_weights,
    equivalence_verdict,
    percentile_interval,
    verdict,
)
from lmtraj.regression.fits import INTERIOR, PREDICTORS, design, loso_folds, size_coefficient
from lmtraj.regression.points import checkpoint_predictors

KINDS = {"bigbench": "BIG-bench tasks", "corpus": "corpus-derived tasks"}
RIVALS = ("log_flops", "log_params_tokens")
CLAIMED = "log_ppl"
BOOTSTRAP_STREAM = 4
ITEM_KEYS = ["task", "subtask", "item"]


def item_matrix(items: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(item keys, checkpoints, X): X[i, k] is item i's 0/1 score at checkpoint k; checkpoints that
    lack an item are dropped (a mean over a different item set is not the same response)."""
    needed = ["model", "step", *ITEM_KEYS, metric]
    missing = [c for c in needed if c not in items.columns]
    if missing:
        raise DataError(f"findings: the item table lacks column(s) {missing}")
    table = items[needed].copy()
    table["subtask"] = table["subtask"].fillna("")
    wide = table.pivot_table(
        index=ITEM_KEYS, columns=["model", "step"], values=metric, aggfunc="first", sort=True
    )
    wide = wide.loc[:, wide.notna().all(axis=0)]
    ckpts = wide.columns.to_frame(index=False)
    return wide.index.to_frame(index=False), ckpts, wide.to_numpy(dtype=np.float64)


def task_means(
    keys: pd.DataFrame, x: np.ndarray, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Mean over tasks of (mean over subtasks of item means): the point (K,) and its two-stage
    bootstrap resamples (n_boot, K)."""
    tasks = list(dict.fromkeys(keys["task"]))
    n_ckpt = x.shape[1]
    point = np.zeros((len(tasks), n_ckpt))
    boot = np.zeros((n_boot, len(tasks), n_ckpt))
    for t, task in enumerate(tasks):
        rows = keys["task"].to_numpy() == task
        subtasks = keys.loc[rows, "subtask"].to_numpy()
        names = list(dict.fromkeys(subtasks))
        for sub in names:
            xs = x[rows][subtasks == sub]
            w = cluster_weights(len(xs), n_boot, rng)
            point[t] += xs.mean(axis=0) / len(names)
            boot[:, t] += (w @ xs) / len(xs) / len(names)
    task_draws = cluster_weights(len(tasks), n_boot, rng)
    return point.mean(axis=0), np.einsum("bt,btk->bk", task_draws, boot) / len(tasks)


def _points(ckpts: pd.DataFrame, checkpoints: pd.DataFrame, params_col: str) -> pd.DataFrame:
    predictors = checkpoint_predictors(checkpoints, params_col)
    merged = ckpts.assign(_col=np.arange(len(ckpts))).merge(
        predictors, on=["model", "step"], how="inner", validate="one_to_one"
    )
    return merged.sort_values("_col").reset_index(drop=True)


def _held_out_rmse(points: pd.DataFrame, ys: np.ndarray, predictor: str) -> dict:
    """RMSE per fold kind for every response row of `ys` (R, n); NaN where a fold is not identifiable."""
    pred = np.full_like(ys, np.nan)
    identifiable = {INTERIOR: True, "extreme": True}
    for fold in loso_folds(points, predictor):
        if fold.operator is None:
            identifiable[fold.position] = False
            continue
        pred[:, fold.test] = ys[:, ~fold.test] @ fold.operator.T
    position = points["model"].map({f.held_out: f.position for f in loso_folds(points, predictor)})
    out = {}
    for kind in (INTERIOR, "extreme"):
        where = (position == kind).to_numpy()
        if not where.any() or not identifiable[kind]:
            out[kind] = np.full(len(ys), np.nan)
        else:
            out[kind] = np.sqrt(np.mean((pred[:, where] - ys[:, where]) ** 2, axis=1))
    return out


def accuracy_rows(
    tasks: pd.DataFrame,
    items: pd.DataFrame,
    checkpoints: pd.DataFrame,
    *,
    metric: str,
    bootstrap: Bootstrap,
    size_margin: float,
    min_clusters: int = 4,
    params_col: str = "params_total",
) -> list[dict]:
    """Statistic dicts for `lmtraj.regression.findings` (keys: response, stat, value, ci_low,
    ci_high, null, verdict, note); see the module docstring."""
    if "kind" not in tasks.columns:
        tasks = tasks.assign(kind="bigbench")
    kind_of = tasks.drop_duplicates("task").set_index("task")["kind"]
    rows = []
    for s, (kind, label) in enumerate(KINDS.items()):
        names = kind_of.index[kind_of == kind]
        part = items[items["task"].isin(names)]
        if part.empty:
            reason = f"no {label} in this run"
            rows += [_absent(label, "interpolation", reason), _absent(label, "size", reason)]
            continue
        keys, ckpts, x = item_matrix(part, metric)
        points = _points(ckpts, checkpoints, params_col)
        rng = bootstrap.rng(BOOTSTRAP_STREAM, s)
        point, boot = task_means(keys, x[:, points["_col"].to_numpy()], bootstrap.n_boot, rng)
        points = points.assign(y=point)
        n_tasks = keys["task"].nunique()
        rows.append(_interpolation(points, boot, label, n_tasks, bootstrap))
        rows.append(_size(points, boot, label, n_tasks, bootstrap, size_margin, min_clusters))
    return rows


def _absent(label: str, stat: str, reason: str) -> dict:
    return {"response": label, "stat": stat, "verdict": "not in this run", "note": reason}


def _interpolation(
    points: pd.DataFrame, boot: np.ndarray, label: str, n_tasks: int, bootstrap: Bootstrap
) -> dict:
    models = points["model"].nunique()
    positions = {f.held_out: f.position for f in loso_folds(points, CLAIMED)}
    interior = [m for m, p in positions.items() if p == INTERIOR]
    if not interior:
        return _absent(
            label,
            "interpolation",
            f"{models} sizes: every held-out size is the smallest or the largest (extrapolation); "
            "an interior fold needs three or more sizes",
        )
    ys = np.vstack([points["y"].to_numpy()[None, :], boot])
    rmse = {p: _held_out_rmse(points, ys, p) for p in (CLAIMED, *RIVALS)}
    rivals = [r for r in RIVALS if np.isfinite(rmse[r][INTERIOR][0])]
    if not np.isfinite(rmse[CLAIMED][INTERIOR][0]) or not rivals:
        return _absent(label, "interpolation", "log_ppl or every rival is not identifiable")
    diff = np.min([rmse[r][INTERIOR] - rmse[CLAIMED][INTERIOR] for r in rivals], axis=0)
    low, high = percentile_interval(diff[1:], bootstrap.confidence)
    details = "; ".join(
        f"{p} interior {rmse[p][INTERIOR][0]:.4g}, extreme {rmse[p]['extreme'][0]:.4g}"
        for p in (CLAIMED, *RIVALS)
    )
    return {
        "response": label,
        "stat": "interpolation",
        "value": float(diff[0]),
        "ci_low": low,
        "ci_high": high,
        "null": "<= 0",
        "verdict": verdict(low, high),
        "note": f"held-out RMSE: {details}; interior folds {interior}; {n_tasks} tasks; "
        f"rivals {rivals}",
    }


def _size(
    points: pd.DataFrame,
    boot: np.ndarray,
    label: str,
    n_tasks: int,
    bootstrap: Bootstrap,
    margin: float,
    min_clusters: int,
) -> dict:
    alpha = 1 - bootstrap.confidence
    fit = size_coefficient(points, min_clusters=min_clusters, alpha=alpha)
    if not np.isfinite(fit["coef"]):
        return _absent(label, "size", f"log_ppl_params cannot be fitted: {fit['cov_note']}")
    x = design(points, "log_ppl_params")
    term = 1 + PREDICTORS["log_ppl_params"].index("log10_params")
    boot_coef = (boot @ np.linalg.pinv(x).T)[:, term]
    b_low, b_high = percentile_interval(boot_coef, bootstrap.confidence)
    low, high = min(fit["ci_low"], b_low), max(fit["ci_high"], b_high)
    result = equivalence_verdict(low, high, margin)
    note = (
        f"model-level interval [{fit['ci_low']:.4g}, {fit['ci_high']:.4g}] ({fit['cov_note']}); "
        f"task/item bootstrap [{b_low:.4g}, {b_high:.4g}] over {n_tasks} tasks"
    )
    if fit["cov_type"] != "cluster":
        result = INCONCLUSIVE
        note += "; too few models for a cluster-robust interval, so no verdict"
    return {
        "response": label,
        "stat": "size",
        "value": float(fit["coef"]),
        "ci_low": low,
        "ci_high": high,
        "null": f"|coef| >= {margin:g}",
        "verdict": result,
        "note": note,
    }
