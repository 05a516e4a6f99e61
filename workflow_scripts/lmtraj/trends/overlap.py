"""Do models of different sizes learn the same tokens at the same perplexity? (abstract, finding 1)

The paper shows this only in plots. Here it is measured. For each pair of models (A, B) and each way
of lining up their checkpoints (``valid_ppl``: by validation perplexity; ``flops``: by training
compute; ``step``: by optimiser step):

1. Matching. Both models' values are compared on a log scale, over the range both cover (the overlap
   of their [min, max]). The model with fewer checkpoints inside that range is the reference. Each of
   its checkpoints in the range is paired with the other model's checkpoint nearest on the log scale.
   A pair is kept only if the partner comes strictly later in training than the previous kept
   partner, so both models move forward and no checkpoint is used twice. Non-positive values (step 0,
   zero FLOPs) have no logarithm and are left out.
2. Between consecutive matched pairs, each model's *loss reduction* per token is
   ``nll[:, earlier] - nll[:, later]``; its top-k set is the ``round(top_k * n_tokens)`` tokens with the
   largest reduction (NaN reductions never enter it).
3. The overlap of the two top-k sets is their Jaccard index. Two independent random k-subsets give
   about ``top_k / (2 - top_k)``, reported as ``jaccard_random``.

The finding holds on a run when matching by validation perplexity gives a higher mean Jaccard than
matching by FLOPs and by step (`finding_holds`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from lmtraj.errors import ConfigError, DataError

MATCHINGS = ("valid_ppl", "flops", "step")


def match_checkpoints(values_a: np.ndarray, values_b: np.ndarray) -> np.ndarray:
    """Index pairs (i into a, j into b), shape (m, 2), both increasing; see the module docstring.

    `values_a` and `values_b` follow each model's checkpoints in step order.
    """
    a = np.asarray(values_a, dtype=np.float64)
    b = np.asarray(values_b, dtype=np.float64)
    ok_a = np.isfinite(a) & (a > 0)
    ok_b = np.isfinite(b) & (b > 0)
    if not ok_a.any() or not ok_b.any():
        return np.empty((0, 2), dtype=np.int64)
    lo = max(a[ok_a].min(), b[ok_b].min())
    hi = min(a[ok_a].max(), b[ok_b].max())
    in_a = ok_a & (a >= lo) & (a <= hi)
    in_b = ok_b & (b >= lo) & (b <= hi)
    swap = in_b.sum() < in_a.sum()  # the sparser model is the reference
    ref, other = (b, a) if swap else (a, b)
    in_ref, ok_other = (in_b, ok_a) if swap else (in_a, ok_b)
    other_idx = np.flatnonzero(ok_other)
    log_other = np.log(other[other_idx])
    pairs = []
    last = -1
    for i in np.flatnonzero(in_ref):  # a few dozen checkpoints: a Python loop is fine here
        j = int(other_idx[np.argmin(np.abs(log_other - np.log(ref[i])))])
        if j > last:
            pairs.append((j, int(i)) if swap else (int(i), j))
            last = j
    return np.asarray(pairs, dtype=np.int64).reshape(-1, 2)


def top_k_sets(reductions: np.ndarray, top_k: float) -> np.ndarray:
    """Boolean (n_tokens, n_intervals): the top `top_k` share of tokens by reduction, per column."""
    if not 0 < top_k < 1:
        raise ConfigError(f"trends.overlap.top_k must be in (0, 1), got {top_k!r}")
    red = np.where(np.isfinite(reductions), reductions, -np.inf)
    n_tokens, n_cols = red.shape
    n_top = max(1, round(top_k * n_tokens))
    out = np.zeros(red.shape, dtype=bool)
    if n_cols == 0 or n_tokens == 0:
        return out
    n_top = min(n_top, n_tokens)
    top = np.argpartition(-red, n_top - 1, axis=0)[:n_top]
    out[top, np.arange(n_cols)[None, :]] = True
    out &= np.isfinite(red)  # a NaN reduction is never "among the largest"
    return out


def jaccard(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Column-wise Jaccard index of two boolean matrices (NaN for two empty columns)."""
    inter = np.logical_and(a, b).sum(axis=0)
    union = np.logical_or(a, b).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return inter / union


def _per_model(checkpoints: pd.DataFrame, model: str, n_cols: int) -> pd.DataFrame:
    rows = checkpoints[checkpoints["model"] == model].sort_values("step").reset_index(drop=True)
    if len(rows) != n_cols:
        raise DataError(
            f"model {model}: trajectory has {n_cols} columns but the checkpoints table lists "
            f"{len(rows)} steps"
        )
    return rows


def overlap_tables(
    nll: Mapping[str, np.ndarray],
    checkpoints: pd.DataFrame,
    top_k: float,
    matchings: Sequence[str] = MATCHINGS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-interval Jaccard overlaps (detail) and their means per pair and matching (summary).

    `nll[model]` is the model's trajectory matrix; all models must score the same tokens. The
    summary has one row per (model_a, model_b, matching) and one ``all``/``all`` row per matching
    (the mean over pairs); ``highest`` marks the matching with the largest mean per pair.
    """
    bad = [m for m in matchings if m not in MATCHINGS]
    if bad:
        raise ConfigError(f"trends.overlap.matchings: unknown {bad}; allowed {list(MATCHINGS)}")
    models = list(nll)
    if len({np.asarray(m).shape[0] for m in nll.values()}) > 1:
        raise DataError("trajectory matrices of different models score different token sets")
    meta = {m: _per_model(checkpoints, m, np.asarray(nll[m]).shape[1]) for m in models}
    detail = []
    for model_a, model_b in combinations(models, 2):
        for matching in matchings:
            if matching not in meta[model_a] or matching not in meta[model_b]:
                raise DataError(f"checkpoints table has no column {matching!r}")
            va = meta[model_a][matching].to_numpy(dtype=np.float64)
            vb = meta[model_b][matching].to_numpy(dtype=np.float64)
            pairs = match_checkpoints(va, vb)
            if len(pairs) < 2:
                continue
            ia, ib = pairs[:, 0], pairs[:, 1]
            red_a = nll[model_a][:, ia[:-1]].astype(np.float64) - nll[model_a][:, ia[1:]]
            red_b = nll[model_b][:, ib[:-1]].astype(np.float64) - nll[model_b][:, ib[1:]]
            overlap = jaccard(top_k_sets(red_a, top_k), top_k_sets(red_b, top_k))
            steps_a = meta[model_a]["step"].to_numpy()
            steps_b = meta[model_b]["step"].to_numpy()
            detail.append(
                pd.DataFrame(
                    {
                        "model_a": model_a,
                        "model_b": model_b,
                        "matching": matching,
                        "interval": np.arange(len(pairs) - 1),
                        "step_a_from": steps_a[ia[:-1]],
                        "step_a_to": steps_a[ia[1:]],
                        "step_b_from": steps_b[ib[:-1]],
                        "step_b_to": steps_b[ib[1:]],
                        "value_a_from": va[ia[:-1]],
                        "value_b_from": vb[ib[:-1]],
                        "log_gap": np.abs(np.log(va[ia[:-1]]) - np.log(vb[ib[:-1]])),
                        "jaccard": overlap,
                    }
                )
            )
    columns = [
        "model_a", "model_b", "matching", "interval", "step_a_from", "step_a_to",
        "step_b_from", "step_b_to", "value_a_from", "value_b_from", "log_gap", "jaccard",
    ]  # fmt: skip
    detail_df = pd.concat(detail, ignore_index=True) if detail else pd.DataFrame(columns=columns)
    return detail_df, summarise_overlap(detail_df, top_k, models, matchings)


def summarise_overlap(
    detail: pd.DataFrame, top_k: float, models: Sequence[str], matchings: Sequence[str]
) -> pd.DataFrame:
    rows = []
    for model_a, model_b in combinations(models, 2):
        for matching in matchings:
            sel = detail[
                (detail["model_a"] == model_a)
                & (detail["model_b"] == model_b)
                & (detail["matching"] == matching)
            ]
            rows.append(
                {
                    "model_a": model_a,
                    "model_b": model_b,
                    "matching": matching,
                    "n_intervals": len(sel),
                    "mean_jaccard": sel["jaccard"].mean() if len(sel) else np.nan,
                    "median_jaccard": sel["jaccard"].median() if len(sel) else np.nan,
                    "mean_log_gap": sel["log_gap"].mean() if len(sel) else np.nan,
                }
            )
    summary = pd.DataFrame(rows)
    if summary.empty:
        return summary
    overall = (
        summary.groupby("matching", sort=False)
        .agg(
            n_intervals=("n_intervals", "sum"),
            mean_jaccard=("mean_jaccard", "mean"),
            median_jaccard=("median_jaccard", "median"),
            mean_log_gap=("mean_log_gap", "mean"),
        )
        .reset_index()
    )
    overall.insert(0, "model_b", "all")
    overall.insert(0, "model_a", "all")
    summary = pd.concat([summary, overall], ignore_index=True)
    summary["jaccard_random"] = top_k / (2 - top_k)
    best = summary.groupby(["model_a", "model_b"], sort=False)["mean_jaccard"].transform("max")
    summary["highest"] = summary["mean_jaccard"].eq(best) & best.notna()
    return summary


def finding_holds(summary: pd.DataFrame) -> bool:
    """True when, over all pairs, matching by validation perplexity has the strictly highest mean."""
    overall = summary[(summary["model_a"] == "all")].set_index("matching")["mean_jaccard"]
    if "valid_ppl" not in overall or not np.isfinite(overall["valid_ppl"]):
        return False
    others = overall.drop("valid_ppl").dropna()
    return bool(len(others) and (overall["valid_ppl"] > others).all())
