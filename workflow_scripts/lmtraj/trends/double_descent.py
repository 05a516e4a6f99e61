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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmtraj.errors import DataError
from lmtraj.trends.classes import CLASSES, trend_window

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
