"""Regression points: one row per (model, checkpoint) with its predictors (log10 validation perplexity,
FLOPs, parameters, tokens) and responses (accuracy, option-NLL gap, trend shares); see `lmtraj.regression.fits`.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from lmtraj.errors import DataError

PREDICTOR_COLUMNS = ("log10_valid_ppl", "log10_flops", "log10_params", "log10_tokens")
MEAN = (
    "mean"  # the subset name of a response pooled over tasks (BIG-bench tasks when kinds are known)
)
CORPUS_MEAN = "corpus_mean"  # pooled over the corpus-derived tasks, reported apart from BIG-bench
POOLED = (MEAN, CORPUS_MEAN)
POINT_COLUMNS = (
    "response",
    "subset",
    "model",
    "step",
    "fraction",
    "y",
    *PREDICTOR_COLUMNS,
)

log = logging.getLogger(__name__)


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
    """``model, step, subset, y``: every task's accuracy plus their unweighted means.

    With a ``kind`` column (the bigbench stage's ``bigbench`` | ``corpus``), ``subset="mean"`` is the mean
    over the BIG-bench tasks (the paper's response) and ``subset="corpus_mean"`` the mean over the
    corpus-derived tasks, kept apart: those are built from the run's own held-out text, so they answer a
    different question. Without it every task enters ``mean``. A mean uses only checkpoints that have
    every task of its kind (the authors' rule), so it never mixes task sets.
    """
    _require(task_scores, ["model", "step", "task", value_col], "task scores")
    scores = task_scores[["model", "step", "task", value_col]].rename(columns={value_col: "y"})
    if scores.duplicated(["model", "step", "task"]).any():
        dup = scores.loc[scores.duplicated(["model", "step", "task"])].iloc[0]
        raise DataError(
            f"task scores: duplicate row for model {dup['model']!r} step {dup['step']} task {dup['task']!r}"
        )
    kinds = (
        task_scores["kind"].map({"bigbench": MEAN, "corpus": CORPUS_MEAN})
        if "kind" in task_scores.columns
        else pd.Series(MEAN, index=task_scores.index)
    )
    if kinds.isna().any():
        bad = task_scores.loc[kinds.isna(), "kind"].iloc[0]
        raise DataError(f"task scores: unknown task kind {bad!r} (bigbench | corpus)")
    means = [
        _mean_over_tasks(scores.loc[kinds == subset], subset)
        for subset in POOLED
        if (kinds == subset).any()
    ]
    tasks = scores.rename(columns={"task": "subset"})
    return pd.concat([*means, tasks], ignore_index=True)[["model", "step", "subset", "y"]]


def _mean_over_tasks(scores: pd.DataFrame, subset: str) -> pd.DataFrame:
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
            "%s accuracy: dropped %d checkpoint(s) lacking some of the %d tasks",
            subset,
            int((~complete).sum()),
            n_tasks,
        )
    return (
        per_ckpt.loc[complete, ["model", "step", "mean"]]
        .rename(columns={"mean": "y"})
        .assign(subset=subset)
    )


def option_gap_responses(task_scores: pd.DataFrame) -> pd.DataFrame:
    """``model, step, subset, y`` with y = log(incorrect PPL) - log(correct PPL), per task and pooled.

    Pooling over tasks is the paper's token-weighted geometric mean of option perplexity, applied to the
    correct and the incorrect options separately before taking the gap; without token counts each task
    weighs the same. Tasks are pooled by kind, as in `accuracy_responses`.
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
    df["pool"] = (
        df["kind"].map({"bigbench": MEAN, "corpus": CORPUS_MEAN}) if "kind" in df.columns else MEAN
    )
    sums = (
        df.groupby(["pool", "model", "step"])[["wlog_c", "w_c", "wlog_i", "w_i"]]
        .sum()
        .reset_index()
    )
    pooled = sums[["model", "step"]].assign(
        subset=sums["pool"], y=sums["wlog_i"] / sums["w_i"] - sums["wlog_c"] / sums["w_c"]
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


def pooled_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of responses pooled over tasks (subsets "mean" and "corpus_mean") and the trend-share
    rows: the headline rows of every regression table (per-task rows stay in the TSVs)."""
    return table.loc[table["subset"].isin(POOLED) | (table["response"] == "trend_share")]
