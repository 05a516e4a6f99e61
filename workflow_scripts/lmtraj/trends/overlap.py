"""Do models of different sizes improve on the same tokens at the same perplexity? (abstract, finding 1)

The paper shows this only in plots. Here it is a paired comparison of ways to line up two models'
training (``matching``): ``valid_ppl`` (the claim), ``flops``, ``step`` and ``tokens_seen`` (the data
seen: for suites with different batch sizes, a step is not the same amount of data).

Paired design. For each pair of models, the smaller one is the *reference* (its perplexity range lies
inside the larger model's, so most of its checkpoints have a partner). Every reference checkpoint gets,
for every matching, the partner's per-token NLL *at the same value of that axis*: the partner's
checkpoints are interpolated linearly in NLL at the reference value on a log scale of the axis
(`partner_positions`; the partner's validation perplexity is read at its first crossing of the value, as
perplexity is not monotone at the end of training). The *intervals* are the reference model's
consecutive checkpoints whose both ends have a partner under every matching, so every matching is
scored on exactly the same intervals, with the same number, width and phase of training; step 0 (no
logarithm of step, tokens or FLOPs) is never an end.

Per interval, the loss reduction of a token is ``nll[from] - nll[to]`` in the reference and in the
interpolated partner, and two scores compare the two models' reductions over all tokens:

- ``rank_correlation``: Spearman's rho of the two reductions (all tokens, not only the top);
- ``jaccard``: the Jaccard index of the two top-``top_k`` sets (the tokens that improve most);
  two independent random sets give about ``top_k / (2 - top_k)`` (``jaccard_random``).

A pair's score under a matching is the mean over its intervals; ``all`` is the mean over pairs with at
least one interval. The claim is the paired difference ``score(valid_ppl) - score(rival)`` for each
other matching (rival ``best``: the smallest of those differences, i.e. perplexity against the
strongest rival), which is positive when perplexity lines up the models' learning better.

Intervals come from a bootstrap over documents (the tokens of a document are not independent): each
resample reweights documents by how often they were drawn; the ranks and top-k sets are those of the
full data, and every score is recomputed from weighted per-document sums. When every per-token
dynamic depends on the step alone and larger models are only offset, step matching pairs identical
dynamics and the difference against ``step`` is negative: the claim fails, as it should.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
import pandas as pd

from lmtraj.errors import ConfigError, DataError
from lmtraj.regression.bootstrap import Bootstrap, cluster_weights, percentile_interval

MATCHINGS = ("valid_ppl", "flops", "step", "tokens_seen")
CLAIMED = "valid_ppl"
SCORES = ("rank_correlation", "jaccard")
BEST = "best"
BOOTSTRAP_STREAM = 1
# per-document sums per interval: n, Σu, Σv, Σu², Σv², Σuv (ranks), |top ∩ top|, |top ∪ top|
N_STATS = 8
DETAIL_COLUMNS = [
    "model_a", "model_b", "matching", "interval", "step_from", "step_to", "value_from",
    "value_to", "partner_step_from", "partner_step_to", "n_tokens", *SCORES,
]  # fmt: skip


def partner_positions(reference: np.ndarray, partner: np.ndarray, matching: str) -> np.ndarray:
    """Fractional column index at which the partner reaches each reference value (NaN if never).

    ``valid_ppl`` falls with training: the partner's first crossing of the value, interpolated in log
    perplexity between the two checkpoints around it. Every other axis grows with training: linear
    interpolation in the log of the axis over the partner's positive values.
    """
    ref = np.asarray(reference, dtype=np.float64)
    par = np.asarray(partner, dtype=np.float64)
    out = np.full(ref.shape, np.nan)
    good = np.isfinite(ref) & (ref > 0)
    if matching == "valid_ppl":
        log_par = np.log(np.where(par > 0, par, np.nan))
        for i in np.flatnonzero(good):  # a few dozen reference checkpoints
            target = np.log(ref[i])
            below = np.flatnonzero(log_par <= target)
            if below.size == 0:
                continue
            j = int(below[0])
            if j == 0:
                out[i] = 0.0 if np.isclose(log_par[0], target) else np.nan
                continue
            out[i] = (j - 1) + (log_par[j - 1] - target) / (log_par[j - 1] - log_par[j])
        return out
    positive = np.flatnonzero(np.isfinite(par) & (par > 0))
    if positive.size == 0:
        return out
    x = np.log(par[positive])
    if np.any(np.diff(x) <= 0):
        raise DataError(f"matching by {matching}: the partner's values do not increase with step")
    target = np.log(np.where(good, ref, np.nan))
    inside = good & (target >= x[0] - 1e-12) & (target <= x[-1] + 1e-12)
    out[inside] = np.interp(target[inside], x, positive.astype(np.float64))
    return out


def interpolate_columns(nll: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """(n_tokens, len(positions)) NLL at fractional column positions (linear between neighbours);
    NaN columns where the position is NaN."""
    nll = np.asarray(nll, dtype=np.float64)
    pos = np.asarray(positions, dtype=np.float64)
    known = np.isfinite(pos)
    lo = np.clip(np.floor(np.where(known, pos, 0)), 0, nll.shape[1] - 1).astype(np.int64)
    hi = np.minimum(lo + 1, nll.shape[1] - 1)
    frac = np.where(known, pos, 0) - lo
    out = nll[:, lo] * (1 - frac) + nll[:, hi] * frac
    out[:, ~known] = np.nan
    return out


def top_k_sets(reductions: np.ndarray, top_k: float) -> np.ndarray:
    """Boolean (n_tokens, n_intervals): the top `top_k` share of tokens by reduction, per column."""
    if not 0 < top_k < 1:
        raise ConfigError(f"trends.overlap.top_k must be in (0, 1), got {top_k!r}")
    red = np.where(np.isfinite(reductions), reductions, -np.inf)
    n_tokens, n_cols = red.shape
    out = np.zeros(red.shape, dtype=bool)
    if n_cols == 0 or n_tokens == 0:
        return out
    n_top = min(max(1, round(top_k * n_tokens)), n_tokens)
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


def average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-D array, ties sharing their mean rank (as scipy's rankdata, but without its
    per-call overhead, which dominates here: hundreds of intervals of tens of thousands of tokens)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    mean_rank = (starts + ends + 1) / 2.0  # ranks starts+1 .. ends, averaged
    ranks = np.empty(values.size)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def interval_stats(
    red_ref: np.ndarray, red_par: np.ndarray, docs: np.ndarray, n_docs: int, top_k: float
) -> np.ndarray:
    """(n_docs, n_intervals, N_STATS) per-document sums from which both scores are computed."""
    n_tokens, n_intervals = red_ref.shape
    stats = np.zeros((n_docs, n_intervals, N_STATS))
    top_ref, top_par = top_k_sets(red_ref, top_k), top_k_sets(red_par, top_k)
    for k in range(n_intervals):
        ok = np.isfinite(red_ref[:, k]) & np.isfinite(red_par[:, k])
        n = int(ok.sum())
        if n < 2:
            continue
        # ranks scaled to (0, 1] keep the per-document sums of squares small
        u = average_ranks(red_ref[ok, k]) / n
        v = average_ranks(red_par[ok, k]) / n
        d = docs[ok]
        for s, values in enumerate((np.ones(n), u, v, u * u, v * v, u * v)):
            stats[:, k, s] = np.bincount(d, weights=values, minlength=n_docs)
        both = top_ref[:, k] & top_par[:, k]
        either = top_ref[:, k] | top_par[:, k]
        stats[:, k, 6] = np.bincount(docs, weights=both.astype(float), minlength=n_docs)
        stats[:, k, 7] = np.bincount(docs, weights=either.astype(float), minlength=n_docs)
    return stats


def scores_from_sums(sums: np.ndarray) -> np.ndarray:
    """(..., 2) rank correlation and Jaccard index from (..., N_STATS) weighted sums."""
    n, su, sv, suu, svv, suv, inter, union = np.moveaxis(sums, -1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = suv / n - (su / n) * (sv / n)
        var_u = suu / n - (su / n) ** 2
        var_v = svv / n - (sv / n) ** 2
        rho = cov / np.sqrt(var_u * var_v)
        jac = inter / union
    return np.stack([rho, jac], axis=-1)


def _per_model(checkpoints: pd.DataFrame, model: str, n_cols: int) -> pd.DataFrame:
    rows = checkpoints[checkpoints["model"] == model].sort_values("step").reset_index(drop=True)
    if len(rows) != n_cols:
        raise DataError(
            f"model {model}: trajectory has {n_cols} columns but the checkpoints table lists "
            f"{len(rows)} steps"
        )
    return rows


def check_matchings(matchings: Sequence[str]) -> list[str]:
    bad = [m for m in matchings if m not in MATCHINGS]
    if bad:
        raise ConfigError(f"trends.overlap.matchings: unknown {bad}; allowed {list(MATCHINGS)}")
    if CLAIMED not in matchings:
        raise ConfigError(
            f"trends.overlap.matchings must include {CLAIMED!r} (the matching the finding claims), "
            f"got {list(matchings)}"
        )
    return list(matchings)


def paired_intervals(
    ref: pd.DataFrame, par: pd.DataFrame, matchings: Sequence[str]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Reference interval starts (column i: interval i -> i+1) covered by every matching, and the
    partner's fractional positions of every reference checkpoint per matching."""
    positions = {}
    for matching in matchings:
        for table, role in ((ref, "reference"), (par, "partner")):
            if matching not in table.columns:
                raise DataError(f"checkpoints table has no column {matching!r} ({role})")
        positions[matching] = partner_positions(
            ref[matching].to_numpy(), par[matching].to_numpy(), matching
        )
    covered = np.logical_and.reduce([np.isfinite(p) for p in positions.values()])
    starts = np.flatnonzero(covered[:-1] & covered[1:])
    return starts, positions


def overlap_tables(
    nll: Mapping[str, np.ndarray],
    checkpoints: pd.DataFrame,
    docs: np.ndarray,
    top_k: float,
    matchings: Sequence[str] = MATCHINGS,
    bootstrap: Bootstrap | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(detail, summary, tests) of the paired comparison; see the module docstring.

    `nll[model]` is the model's trajectory matrix (models smallest first, all scoring the same
    tokens); `docs` gives each token's document (the bootstrap's clusters).
    """
    matchings = check_matchings(matchings)
    bootstrap = bootstrap or Bootstrap()
    models = list(nll)
    shapes = {m: np.asarray(a).shape for m, a in nll.items()}
    if len({s[0] for s in shapes.values()}) > 1:
        raise DataError(f"trajectory matrices score different token sets: {shapes}")
    docs = np.asarray(docs)
    if docs.shape[0] != next(iter(shapes.values()))[0]:
        raise DataError(
            f"{docs.shape[0]} document ids for {next(iter(shapes.values()))[0]} trajectory rows"
        )
    doc_codes, doc_index = pd.factorize(docs)
    n_docs = len(doc_index)
    meta = {m: _per_model(checkpoints, m, shapes[m][1]) for m in models}
    detail, units, stats = [], [], []
    for model_a, model_b in combinations(models, 2):
        ref, par = meta[model_a], meta[model_b]
        starts, positions = paired_intervals(ref, par, matchings)
        if starts.size == 0:
            continue
        nll_a = np.asarray(nll[model_a], dtype=np.float64)
        red_ref = nll_a[:, starts] - nll_a[:, starts + 1]
        for matching in matchings:
            at = interpolate_columns(nll[model_b], positions[matching])
            red_par = at[:, starts] - at[:, starts + 1]
            stats.append(interval_stats(red_ref, red_par, doc_codes, n_docs, top_k))
            point = scores_from_sums(stats[-1].sum(axis=0))
            partner_steps = np.interp(
                positions[matching], np.arange(len(par)), par["step"].to_numpy(float)
            )
            detail.append(
                pd.DataFrame(
                    {
                        "model_a": model_a,
                        "model_b": model_b,
                        "matching": matching,
                        "interval": np.arange(starts.size),
                        "step_from": ref["step"].to_numpy()[starts],
                        "step_to": ref["step"].to_numpy()[starts + 1],
                        "value_from": ref[matching].to_numpy(float)[starts],
                        "value_to": ref[matching].to_numpy(float)[starts + 1],
                        "partner_step_from": partner_steps[starts],
                        "partner_step_to": partner_steps[starts + 1],
                        "n_tokens": stats[-1][:, :, 0].sum(axis=0).astype(int),
                        "rank_correlation": point[:, 0],
                        "jaccard": point[:, 1],
                    }
                )
            )
            units.extend((model_a, model_b, matching) for _ in starts)
    detail_df = (
        pd.concat(detail, ignore_index=True) if detail else pd.DataFrame(columns=DETAIL_COLUMNS)
    )
    if not stats:
        return detail_df, _summary_frame([], top_k), _tests_frame([])
    all_stats = np.concatenate(stats, axis=1)  # (n_docs, n_units, N_STATS)
    weights = cluster_weights(n_docs, bootstrap.n_boot, bootstrap.rng(BOOTSTRAP_STREAM))
    point = scores_from_sums(all_stats.sum(axis=0))  # (n_units, 2)
    resampled = scores_from_sums(np.einsum("bd,dus->bus", weights, all_stats))  # (B, n_units, 2)
    keys = pd.DataFrame(units, columns=["model_a", "model_b", "matching"])
    return detail_df, *summarise(keys, point, resampled, matchings, top_k, bootstrap)


def _pair_means(keys: pd.DataFrame, scores: np.ndarray) -> tuple[list, np.ndarray]:
    """Mean over each (pair, matching)'s intervals: (group keys, array (..., n_groups, 2))."""
    groups = keys.groupby(["model_a", "model_b", "matching"], sort=False).indices
    means = np.stack([np.nanmean(scores[..., idx, :], axis=-2) for idx in groups.values()], -2)
    return list(groups), means


def summarise(
    keys: pd.DataFrame,
    point: np.ndarray,
    resampled: np.ndarray,
    matchings: Sequence[str],
    top_k: float,
    bootstrap: Bootstrap,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-(pair, matching) and pooled (``all``) scores with intervals, and the paired tests."""
    with warnings.catch_warnings():
        # a pair or resample without a finite score gives NaN, not a warning per call
        warnings.simplefilter("ignore", RuntimeWarning)
        groups, point_means = _pair_means(keys, point)
        _, boot_means = _pair_means(keys, resampled)
        n_intervals = keys.groupby(["model_a", "model_b", "matching"], sort=False).size()
        rows = []
        for g, (model_a, model_b, matching) in enumerate(groups):
            rows.append(
                {"model_a": model_a, "model_b": model_b, "matching": matching}
                | {"n_intervals": int(n_intervals[model_a, model_b, matching])}
                | _score_cells(point_means[g], boot_means[:, g], bootstrap.confidence)
            )
        by_matching = {m: [g for g, key in enumerate(groups) if key[2] == m] for m in matchings}
        pooled_point = {m: np.nanmean(point_means[idx], axis=0) for m, idx in by_matching.items()}
        pooled_boot = {m: np.nanmean(boot_means[:, idx], axis=1) for m, idx in by_matching.items()}
        n_pairs = len(by_matching[CLAIMED])
        for matching in matchings:
            rows.append(
                {"model_a": "all", "model_b": "all", "matching": matching}
                | {"n_intervals": int(sum(n_intervals[groups[g]] for g in by_matching[matching]))}
                | _score_cells(pooled_point[matching], pooled_boot[matching], bootstrap.confidence)
            )
        tests = []
        rivals = [m for m in matchings if m != CLAIMED]
        n_units = int(n_intervals.sum() // len(matchings))
        for s, score in enumerate(SCORES):
            diffs_point = {r: pooled_point[CLAIMED][s] - pooled_point[r][s] for r in rivals}
            diffs_boot = {r: pooled_boot[CLAIMED][:, s] - pooled_boot[r][:, s] for r in rivals}
            if rivals:
                diffs_point[BEST] = min(diffs_point.values())
                diffs_boot[BEST] = np.min(np.stack(list(diffs_boot.values())), axis=0)
            for rival in diffs_point:
                low, high = percentile_interval(diffs_boot[rival], bootstrap.confidence)
                tests.append(
                    {
                        "score": score,
                        "claimed": CLAIMED,
                        "rival": rival,
                        "estimate": float(diffs_point[rival]),
                        "ci_low": low,
                        "ci_high": high,
                        "n_pairs": n_pairs,
                        "n_intervals": n_units,
                        "n_boot": bootstrap.n_boot,
                        "confidence": bootstrap.confidence,
                    }
                )
    return _summary_frame(rows, top_k), _tests_frame(tests)


def _score_cells(point: np.ndarray, boot: np.ndarray, confidence: float) -> dict:
    cells = {}
    for s, score in enumerate(SCORES):
        low, high = percentile_interval(boot[:, s], confidence)
        cells |= {score: float(point[s]), f"{score}_ci_low": low, f"{score}_ci_high": high}
    return cells


def _summary_frame(rows: list[dict], top_k: float) -> pd.DataFrame:
    columns = ["model_a", "model_b", "matching", "n_intervals"] + [
        f"{s}{suffix}" for s in SCORES for suffix in ("", "_ci_low", "_ci_high")
    ]
    return pd.DataFrame(rows, columns=columns).assign(jaccard_random=top_k / (2 - top_k))


def _tests_frame(rows: list[dict]) -> pd.DataFrame:
    columns = ["score", "claimed", "rival", "estimate", "ci_low", "ci_high", "n_pairs"]
    columns += ["n_intervals", "n_boot", "confidence"]
    return pd.DataFrame(rows, columns=columns)
