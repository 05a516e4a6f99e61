"""Group perplexity of token sets across models, and a measured test for double descent (paper §3).

The paper spots double descent by eye: the tokens that one model X calls *upward* after a fraction p of
training are followed through every model Y, and in larger Y their group perplexity first rises, then
falls. Here that is a number.

Group perplexity of a token set at a checkpoint: the geometric mean of the tokens' perplexities,
``exp(nanmean(nll[tokens, checkpoint]))`` (the authors' ``exp(-nanmean(scores))``); NaN entries are
skipped per checkpoint. A group is (selector X, fraction p, class c): the tokens X puts in class c at p.

Double-descent test on Y's curve for a group: take Y's own trend window at the same fraction p (first
checkpoint at or after ``p * final_step`` through the last, `lmtraj.trends.trend_window`). With
``start`` = the group PPL at the window's first checkpoint, ``end`` = at its last and ``peak`` = the
maximum over the window's interior checkpoints, Y shows double descent when
``peak >= (1 + delta) * start`` and ``peak >= (1 + delta) * end``. A window of fewer than three
checkpoints has no interior and never shows it.

Per-token pattern in Y's window, relative to the group's turning point (the interior checkpoint where
the group curve peaks): each token's PPL moves from the window start to that checkpoint
(``rise`` if it grows by at least ``delta`` relative, ``fall`` if it shrinks by the same factor,
``flat`` otherwise) and again from there to the window end. The pattern is
``"<first move>_then_<second move>"``; ``rise_then_fall`` is double descent at the token level.
Values at three fixed checkpoints are used, not each token's own maximum, because the maximum of a
noisy series always sits above its ends. Tokens with a NaN at any of the three are ``undetermined``.

Token-level double descent over the *whole* trajectory (`token_double_descent`, the findings table's
row): a token's NLL curve in a larger model Y, over every checkpoint after step 0, *rises and falls after
its first minimum* when at some checkpoint it stands at least ``log1p(token_delta)`` above the minimum
of all earlier checkpoints and at least as much above the minimum of all later ones. The share of the
tokens that the smaller selector X calls upward at fraction p showing this in Y is compared with the
same share among X's other tokens (``excess``): noise alone makes some curves rise and fall, and it does
so for both groups alike, so only an excess is evidence that X's upward tokens go through a second
descent in Y. Intervals come from a bootstrap over documents.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmtraj.errors import ConfigError, DataError
from lmtraj.regression.bootstrap import Bootstrap, cluster_weights, percentile_interval
from lmtraj.trends.classes import CLASSES, UPWARD, trend_window

MOVES = ("rise", "flat", "fall")
PATTERNS = tuple(f"{a}_then_{b}" for a in MOVES for b in MOVES) + ("undetermined",)
CURVE_COLUMNS = ("step", "tokens_seen", "flops", "valid_ppl")


def group_ppl(nll: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """Geometric-mean PPL of the `selected` rows at every checkpoint (NaN where none is finite)."""
    membership = np.asarray(selected, dtype=bool)[:, None]
    return np.exp(group_mean_nll(nll, membership)[0])


def one_hot(codes: np.ndarray, n_codes: int) -> np.ndarray:
    """(n, n_codes) boolean membership matrix of integer codes (negative codes belong nowhere)."""
    codes = np.asarray(codes)
    return codes[:, None] == np.arange(n_codes)[None, :]


def group_mean_nll(nll: np.ndarray, membership: np.ndarray) -> np.ndarray:
    """Mean finite NLL per (group, checkpoint), shape (n_groups, n_checkpoints).

    `membership` is (n_tokens, n_groups), true where a token belongs to a group; groups may overlap.
    One matrix product does every group at once (no loop over tokens or groups).
    """
    nll = np.asarray(nll)
    membership = np.asarray(membership)
    if nll.ndim != 2 or membership.ndim != 2 or membership.shape[0] != nll.shape[0]:
        raise DataError(
            "group_mean_nll needs nll (n, k) and membership (n, groups), "
            f"got {nll.shape}, {membership.shape}"
        )
    return _group_means(*_finite_parts(nll), membership)


def _finite_parts(nll: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """NLL with NaNs zeroed (float64) and the finite mask (None when every entry is finite)."""
    finite = np.isfinite(nll)
    if finite.all():
        return nll.astype(np.float64), None
    return np.where(finite, nll, 0.0).astype(np.float64), finite.astype(np.float64)


def _group_means(
    values: np.ndarray, finite: np.ndarray | None, membership: np.ndarray
) -> np.ndarray:
    weights = membership.astype(np.float64).T
    sums = weights @ values
    counts = weights.sum(axis=1, keepdims=True) if finite is None else weights @ finite
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / counts


@dataclass(frozen=True)
class DoubleDescent:
    start: float
    peak: float
    end: float
    peak_index: int  # index into the window; -1 when there is no interior
    double_descent: bool


def double_descent_test(curve: np.ndarray, delta: float) -> DoubleDescent:
    """Interior maximum at least `delta` (relative) above both ends of `curve` (one window)."""
    curve = np.asarray(curve, dtype=np.float64)
    if curve.size < 3 or not np.isfinite(curve[1:-1]).any():
        start = float(curve[0]) if curve.size else np.nan
        end = float(curve[-1]) if curve.size else np.nan
        return DoubleDescent(start, np.nan, end, -1, False)
    peak_index = 1 + int(np.nanargmax(curve[1:-1]))
    start, peak, end = float(curve[0]), float(curve[peak_index]), float(curve[-1])
    # NaN ends compare False: no claim of double descent without both ends
    found = bool(peak >= (1 + delta) * start and peak >= (1 + delta) * end)
    return DoubleDescent(start, peak, end, peak_index, found)


def _steps_by_model(checkpoints: pd.DataFrame, models: Sequence[str]) -> dict[str, pd.DataFrame]:
    out = {}
    for model in models:
        rows = checkpoints[checkpoints["model"] == model].sort_values("step")
        if rows.empty:
            raise DataError(f"checkpoints table has no rows for model {model}")
        out[model] = rows.reset_index(drop=True)
    return out


def group_curves(
    classes: Mapping[str, Mapping[float, np.ndarray]],
    nll: Mapping[str, np.ndarray],
    checkpoints: pd.DataFrame,
) -> pd.DataFrame:
    """Group PPL of every (selector, fraction, class) group over every model's whole trajectory.

    `classes[X][p]` are X's class codes (indices into `CLASSES`) at fraction p; `nll[Y]` is Y's
    trajectory matrix whose columns follow Y's rows of `checkpoints` in step order. One row per
    (selector, fraction, trend_class, model, step).
    """
    models = list(nll)
    meta = _steps_by_model(checkpoints, models)
    n_tokens = {m: np.asarray(a).shape[0] for m, a in nll.items()}
    if len(set(n_tokens.values())) != 1:
        raise DataError(
            f"trajectory matrices score different token sets: rows per model {n_tokens}"
        )
    for model, matrix in nll.items():
        if np.asarray(matrix).shape[1] != len(meta[model]):
            raise DataError(
                f"model {model}: trajectory has {np.asarray(matrix).shape[1]} columns but the "
                f"checkpoints table lists {len(meta[model])} steps"
            )
    n_classes = len(CLASSES)
    memberships = {}
    for selector, by_fraction in classes.items():
        for codes in by_fraction.values():
            if np.asarray(codes).shape != (next(iter(n_tokens.values())),):
                raise DataError(
                    f"selector {selector}: class codes do not match the trajectory rows"
                )
        # every (fraction, class) group of a selector as one membership matrix: one product per model
        memberships[selector] = np.hstack([one_hot(by_fraction[f], n_classes) for f in by_fraction])
    frames = {}
    for model in models:
        values, finite = _finite_parts(np.asarray(nll[model]))  # once per model, not per selector
        axis = meta[model][[c for c in CURVE_COLUMNS if c in meta[model]]]
        n_steps = len(axis)
        for selector, membership in memberships.items():
            fractions = np.repeat(np.asarray(list(classes[selector]), dtype=np.float64), n_classes)
            n_groups = membership.shape[1]
            counts = membership.sum(axis=0)
            frame = axis.iloc[np.tile(np.arange(n_steps), n_groups)].reset_index(drop=True)
            for name, column in [
                ("model", model),
                ("selected_share", np.repeat(counts / membership.shape[0], n_steps)),
                ("n_selected", np.repeat(counts, n_steps)),
                ("trend_class", np.repeat(np.tile(CLASSES, n_groups // n_classes), n_steps)),
                ("fraction", np.repeat(fractions, n_steps)),
                ("selector", selector),
            ]:
                frame.insert(0, name, column)
            frame["group_nll"] = _group_means(values, finite, membership).ravel()
            frame["group_ppl"] = np.exp(frame["group_nll"])
            frames[selector, model] = frame
    return pd.concat([frames[s, m] for s in memberships for m in models], ignore_index=True)


def double_descent_table(curves: pd.DataFrame, delta: float) -> pd.DataFrame:
    """One row per (selector, fraction, trend_class, model): start, peak and end of the group PPL in
    the model's window at that fraction, and whether it shows double descent."""
    if delta < 0:
        raise DataError(f"double descent delta must be >= 0, got {delta}")
    keys = ["selector", "fraction", "trend_class", "model"]
    rows = []
    for key, group in curves.groupby(keys, sort=False, observed=True):
        group = group.sort_values("step")
        steps = group["step"].to_numpy()
        window = trend_window(steps, float(key[1]))
        curve = group["group_ppl"].to_numpy()[window.start :]
        test = double_descent_test(curve, delta)
        rows.append(
            dict(zip(keys, key, strict=True))
            | {
                "n_selected": int(group["n_selected"].iloc[0]),
                "selected_share": float(group["selected_share"].iloc[0]),
                "start_step": window.start_step,
                "peak_step": int(window.steps[test.peak_index]) if test.peak_index >= 0 else -1,
                "end_step": window.final_step,
                "start_ppl": test.start,
                "peak_ppl": test.peak,
                "end_ppl": test.end,
                "double_descent": test.double_descent,
            }
        )
    return pd.DataFrame(rows)


def token_patterns(
    nll: np.ndarray,
    selected: np.ndarray,
    columns: tuple[int, int, int],
    delta: float,
) -> np.ndarray:
    """Pattern code (index into PATTERNS) of each selected token, from its NLL at the window start,
    the group's turning point and the window end (`columns` of `nll`)."""
    nll = np.asarray(nll)
    rows = np.flatnonzero(np.asarray(selected, dtype=bool))
    start, turn, end = (nll[rows, c].astype(np.float64) for c in columns)
    step = np.log1p(delta)  # a relative change of delta in PPL is log1p(delta) in NLL

    def move(a: np.ndarray, b: np.ndarray) -> np.ndarray:  # 0 rise, 1 flat, 2 fall
        diff = b - a
        return np.where(diff >= step, 0, np.where(diff <= -step, 2, 1))

    codes = move(start, turn) * len(MOVES) + move(turn, end)
    codes[~(np.isfinite(start) & np.isfinite(turn) & np.isfinite(end))] = len(PATTERNS) - 1
    return codes


def pattern_table(
    classes: Mapping[str, Mapping[float, np.ndarray]],
    nll: Mapping[str, np.ndarray],
    checkpoints: pd.DataFrame,
    table: pd.DataFrame,
    delta: float,
    trend_classes: Sequence[str] = ("upward",),
) -> pd.DataFrame:
    """Share of each selected group's tokens in each per-token pattern, per model's window.

    `table` is `double_descent_table`'s output; groups without an interior turning point are all
    ``undetermined``.
    """
    meta = _steps_by_model(checkpoints, list(nll))
    rows = []
    for rec in table[table["trend_class"].isin(trend_classes)].itertuples(index=False):
        selected = np.asarray(classes[rec.selector][rec.fraction]) == CLASSES.index(rec.trend_class)
        n = int(selected.sum())
        if rec.peak_step >= 0:
            step_to_col = {int(s): i for i, s in enumerate(meta[rec.model]["step"])}
            cols = (
                step_to_col[rec.start_step],
                step_to_col[rec.peak_step],
                step_to_col[rec.end_step],
            )
            counts = np.bincount(
                token_patterns(nll[rec.model], selected, cols, delta),
                minlength=len(PATTERNS),
            )
        else:
            counts = np.zeros(len(PATTERNS), dtype=np.int64)
            counts[-1] = n
        for code, name in enumerate(PATTERNS):
            rows.append(
                {
                    "selector": rec.selector,
                    "fraction": rec.fraction,
                    "trend_class": rec.trend_class,
                    "model": rec.model,
                    "pattern": name,
                    "n_tokens": int(counts[code]),
                    "share": counts[code] / n if n else np.nan,
                }
            )
    return pd.DataFrame(rows)


BOOTSTRAP_STREAM = 2


def rises_and_falls(nll: np.ndarray, threshold: float) -> np.ndarray:
    """Per row (columns in step order): some checkpoint lies at least `threshold` above the minimum of
    every earlier one and at least `threshold` above the minimum of every later one (NaNs skipped)."""
    nll = np.asarray(nll, dtype=np.float64)
    if nll.shape[1] < 3:
        return np.zeros(nll.shape[0], dtype=bool)
    with np.errstate(invalid="ignore"):
        before = np.fmin.accumulate(nll, axis=1)[:, :-2]  # min of columns <= t-1, for t = 1..n-2
        after = np.fmin.accumulate(nll[:, ::-1], axis=1)[:, ::-1][:, 2:]  # min of columns >= t+1
        peak = nll[:, 1:-1]
        return np.any((peak - before >= threshold) & (peak - after >= threshold), axis=1)


def default_selector(models: Sequence[str], selector: str | None) -> str:
    """The selecting model: as configured, else the second smallest (the paper's OPT-1.3B among six)
    with three or more models, the smallest with two. It must have a larger model to follow."""
    if selector is None:
        if len(models) < 2:
            raise ConfigError(
                f"trends.double_descent: needs two or more models, got {list(models)}"
            )
        return models[1] if len(models) >= 3 else models[0]
    if selector not in models:
        raise ConfigError(
            f"trends.double_descent.selector: {selector!r} is not a model of this run ({list(models)})"
        )
    if selector == models[-1]:
        raise ConfigError(
            f"trends.double_descent.selector: {selector!r} is the largest model; no larger model "
            "to follow its tokens in"
        )
    return selector


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den


def token_double_descent(
    selected: np.ndarray,
    nll: np.ndarray,
    steps: np.ndarray,
    docs: np.ndarray,
    token_delta: float,
    bootstrap: Bootstrap,
) -> dict:
    """Shares of selected and other tokens whose curve in one larger model rises and falls after its
    first minimum (`rises_and_falls` over the checkpoints after step 0), their difference
    (``excess``) and the selected share of all tokens, each with a bootstrap interval over documents."""
    if token_delta <= 0:
        raise ConfigError(f"trends.double_descent.token_delta must be > 0, got {token_delta!r}")
    selected = np.asarray(selected, dtype=bool)
    nll = np.asarray(nll)
    if selected.shape[0] != nll.shape[0] or np.asarray(docs).shape[0] != nll.shape[0]:
        raise DataError(
            f"token double descent: {selected.shape[0]} selections and {np.asarray(docs).shape[0]} "
            f"document ids for {nll.shape[0]} trajectory rows"
        )
    trained = np.asarray(steps) > 0
    pattern = rises_and_falls(nll[:, trained], np.log1p(token_delta))
    codes, index = pd.factorize(np.asarray(docs))
    n_docs = len(index)
    parts = np.stack(
        [
            np.bincount(codes, weights=w.astype(float), minlength=n_docs)
            for w in (selected & pattern, selected, ~selected & pattern, ~selected)
        ],
        axis=1,
    )  # (n_docs, 4)
    weights = cluster_weights(n_docs, bootstrap.n_boot, bootstrap.rng(BOOTSTRAP_STREAM))

    def shares(sums: np.ndarray) -> dict[str, np.ndarray]:
        dd = _ratio(sums[..., 0], sums[..., 1])
        control = _ratio(sums[..., 2], sums[..., 3])
        upward = _ratio(sums[..., 1], sums[..., 1] + sums[..., 3])
        return {
            "dd_share": dd,
            "control_share": control,
            "excess": dd - control,
            "upward_share": upward,
        }

    point, boot = shares(parts.sum(axis=0)), shares(weights @ parts)
    row = {
        "n_tokens": int(nll.shape[0]),
        "n_upward": int(selected.sum()),
        "n_dd_upward": int((selected & pattern).sum()),
        "n_dd_control": int((~selected & pattern).sum()),
        "n_checkpoints": int(trained.sum()),
        "threshold_nll": float(np.log1p(token_delta)),
    }
    for name in ("upward_share", "dd_share", "control_share", "excess"):
        low, high = percentile_interval(boot[name], bootstrap.confidence)
        row |= {name: float(point[name]), f"{name}_ci_low": low, f"{name}_ci_high": high}
    return row


def token_double_descent_table(
    classes: Mapping[str, Mapping[float, np.ndarray]],
    nll: Mapping[str, np.ndarray],
    checkpoints: pd.DataFrame,
    docs: np.ndarray,
    *,
    selector: str,
    fraction: float,
    token_delta: float,
    bootstrap: Bootstrap,
) -> pd.DataFrame:
    """One row per model larger than `selector` (models in `nll` are smallest first): the tokens
    `selector` calls upward at `fraction`, followed through that model's whole trajectory."""
    models = list(nll)
    if selector not in models:
        raise DataError(f"token double descent: selector {selector!r} not among {models}")
    meta = _steps_by_model(checkpoints, models)
    if fraction not in classes[selector]:
        raise ConfigError(
            f"trends.double_descent.fraction: {fraction} was not classified for {selector!r} "
            f"(fractions {sorted(classes[selector])})"
        )
    selected = np.asarray(classes[selector][fraction]) == UPWARD
    rows = []
    for model in models[models.index(selector) + 1 :]:
        steps = meta[model]["step"].to_numpy()
        if np.asarray(nll[model]).shape[1] != len(steps):
            raise DataError(
                f"model {model}: trajectory has {np.asarray(nll[model]).shape[1]} columns but the "
                f"checkpoints table lists {len(steps)} steps"
            )
        stats = token_double_descent(selected, nll[model], steps, docs, token_delta, bootstrap)
        rows.append(
            {"selector": selector, "fraction": float(fraction), "model": model}
            | stats
            | {"n_boot": bootstrap.n_boot, "confidence": bootstrap.confidence}
        )
    return pd.DataFrame(rows)
