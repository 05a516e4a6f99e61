"""Finding 2: texts a small model favours over a large one (p_s - p_l) scale inversely, measured only
on models that took no part in decoding them.

The texts were decoded from the small and the large model's checkpoints named in ``texts.jsonl``
(``small_model``, ``large_model``); every generated token has p_s > p_l there by construction, so
scoring those two models says nothing. Both statistics use only the *other* models of the run, and
compare the target texts (``setting``, default ``p_s-p_l``) with control texts of normal scaling
(``control``, default ``p_l``) decoded from the same prompts: a size effect that every text shares
(e.g. untrained models of growing width, whose perplexity on any text grows with size) cancels.

Perplexity of a set of texts: ``exp(sum NLL / sum generated tokens)`` over the texts, the generation
stage's token-weighted perplexity. Intervals: bootstrap over prompts (the texts of one prompt, in every
setting, go together), one row per (decoding, length) configuration.

(a) **Inverse scaling** at the final checkpoint: the OLS slope of log perplexity on log10 parameters
    over the non-decoding models, for the target (``slope``) and the control (``slope_control``);
    statistic ``min(slope, slope - slope_control)``, positive when the target texts get harder with
    size *and* more so than normal texts. Needs two or more non-decoding sizes.
(b) **Fall, then rise** along each non-decoding model's trajectory, from its first checkpoint at or
    after ``start_fraction`` of training (past the collapse from vocabulary-size perplexity that every
    text shows) to its last. The turning point is the checkpoint of lowest perplexity, chosen on one
    random half of the prompts and measured on the other (and the other way round, averaged):
    cross-fitting keeps the noise that placed the minimum from also making the curve look as if it
    turned. ``fall`` = log PPL at the start minus at the turning point, ``rise`` = at the end minus at
    the turning point, ``rise_control`` = the same for the control texts; statistic
    ``min(fall, rise, rise - rise_control)``: it first falls, later rises, and rises more than normal
    text does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lmtraj.errors import DataError
from lmtraj.regression.bootstrap import (
    ABSENT,
    Bootstrap,
    cluster_weights,
    percentile_interval,
    two_folds,
    verdict,
)

CONFIG_COLUMNS = ("decoding", "max_new_tokens")
SCORE_COLUMNS = ["text_id", "model", "step", "nll_sum", "n_tokens"]
BOOTSTRAP_STREAM = 3


def decoders(texts: pd.DataFrame) -> list[str]:
    """The models whose checkpoints decoded the texts (``small_model``, ``large_model``)."""
    missing = [c for c in ("small_model", "large_model") if c not in texts.columns]
    if missing:
        raise DataError(
            f"findings: the generated texts lack column(s) {missing}: which models decoded them?"
        )
    return sorted(set(texts["small_model"]) | set(texts["large_model"]))


def prompt_arrays(
    scores: pd.DataFrame, texts: pd.DataFrame, model: str, steps: Sequence[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(nll, tokens), each (n_prompts, len(steps)): sums over the prompt's texts at every step.

    `texts` holds one configuration's texts of one setting; prompts are its ``prompt_doc`` values."""
    prompts = pd.Index(pd.unique(texts["prompt_doc"]))
    rows = scores[(scores["model"] == model) & scores["text_id"].isin(texts["text_id"])]
    rows = rows.merge(texts[["text_id", "prompt_doc"]], on="text_id", validate="many_to_one")
    sums = rows.groupby(["prompt_doc", "step"])[["nll_sum", "n_tokens"]].sum()
    full = pd.MultiIndex.from_product([prompts, list(steps)], names=["prompt_doc", "step"])
    sums = sums.reindex(full)
    if sums["n_tokens"].isna().any():
        gap = sums[sums["n_tokens"].isna()].index[0]
        raise DataError(
            f"findings: model {model!r} has no score for prompt {gap[0]} at step {gap[1]}"
        )
    shape = (len(prompts), len(steps))
    return sums["nll_sum"].to_numpy().reshape(shape), sums["n_tokens"].to_numpy().reshape(shape)


def log_ppl(weights: np.ndarray, nll: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """(n_weightings, n_steps) log perplexity of the weighted prompts (NaN without tokens)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return (weights @ nll) / (weights @ tokens)


def _slope(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """OLS slope of each row of y (R, n) on x (n,)."""
    xc = x - x.mean()
    return (y - y.mean(axis=1, keepdims=True)) @ xc / (xc @ xc)


def _row(config: str, stat: str, model: str = "", **cells) -> dict:
    return {"config": config, "stat": stat, "model": model} | cells


def text_rows(
    texts: pd.DataFrame,
    scores: pd.DataFrame,
    sizes: pd.Series,
    models: Sequence[str],
    *,
    setting: str,
    control: str,
    start_fraction: float,
    bootstrap: Bootstrap,
) -> list[dict]:
    """Statistic dicts for `lmtraj.regression.findings` (config, stat ``inverse_scaling`` |
    ``trajectory``, model, value, ci_low, ci_high, null, verdict, note). `sizes` maps a model to its
    parameter count."""
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise DataError(f"findings: the generated-text scores lack column(s) {missing}")
    used = decoders(texts)
    scored = set(scores["model"])
    others = [m for m in models if m not in used and m in scored]
    config_cols = [c for c in CONFIG_COLUMNS if c in texts.columns]
    groups = texts.groupby(config_cols, sort=True) if config_cols else [((), texts)]
    rows = []
    for c, (values, group) in enumerate(groups):
        values = values if isinstance(values, tuple) else (values,)
        config = ", ".join(f"{k}={v}" for k, v in zip(config_cols, values, strict=True))
        present = set(group["setting"])
        lacking = [s for s in (setting, control) if s not in present]
        if lacking:
            note = f"no {lacking} texts; settings present: {sorted(present)}"
            rows += [_row(config, "inverse_scaling", verdict=ABSENT, note=note)]
            rows += [_row(config, "trajectory", verdict=ABSENT, note=note)]
            continue
        target = group[group["setting"] == setting]
        ctrl = group[group["setting"] == control]
        n_prompts = target["prompt_doc"].nunique()
        weights = np.vstack(
            [
                np.ones((1, n_prompts)),
                cluster_weights(n_prompts, bootstrap.n_boot, bootstrap.rng(BOOTSTRAP_STREAM, c)),
            ]
        )
        why = (
            f"decoded by {used}; the other models scored: {others or 'none'} "
            f"(decoding models are excluded: p_s > p_l holds on their own texts by construction)"
        )
        rows.append(_inverse_scaling(config, target, ctrl, scores, sizes, others, weights, why))
        if not others:
            rows.append(_row(config, "trajectory", verdict=ABSENT, note=why))
        folds = two_folds(n_prompts, bootstrap.rng(BOOTSTRAP_STREAM, c, 1))
        for model in others:
            rows.append(
                _trajectory(config, model, target, ctrl, scores, start_fraction, weights, folds)
            )
    return [_finish(row, bootstrap.confidence) for row in rows]


def _finish(row: dict, confidence: float) -> dict:
    """The interval and verdict of a measured row (one with resamples); absent rows pass through."""
    boot = row.pop("_boot", None)
    if boot is None:
        return row
    low, high = percentile_interval(boot, confidence)
    return row | {"ci_low": low, "ci_high": high, "verdict": verdict(low, high)}


def _final_step(scores: pd.DataFrame, model: str) -> int:
    return int(scores.loc[scores["model"] == model, "step"].max())


def _inverse_scaling(config, target, ctrl, scores, sizes, others, weights, why) -> dict:
    if len(others) < 2 or len({sizes[m] for m in others}) < 2:
        return _row(
            config,
            "inverse_scaling",
            verdict=ABSENT,
            note=f"needs two or more sizes that took no part in decoding; {why}",
        )
    curves = {}
    for name, texts in (("target", target), ("control", ctrl)):
        per_model = []
        for model in others:
            nll, tok = prompt_arrays(scores, texts, model, [_final_step(scores, model)])
            per_model.append(log_ppl(weights, nll, tok)[:, 0])
        curves[name] = np.stack(per_model, axis=1)  # (1 + n_boot, n_models)
    x = np.log10(np.array([sizes[m] for m in others], dtype=float))
    slope, slope_control = _slope(x, curves["target"]), _slope(x, curves["control"])
    stat = np.minimum(slope, slope - slope_control)
    finals = ", ".join(
        f"{m} {np.exp(curves['target'][0, i]):.4g} (control {np.exp(curves['control'][0, i]):.4g})"
        for i, m in enumerate(others)
    )
    return _row(
        config,
        "inverse_scaling",
        value=float(stat[0]),
        null="<= 0",
        _boot=stat[1:],
        note=f"slope of log PPL per decade of parameters {slope[0]:.4g}, control "
        f"{slope_control[0]:.4g}; final PPL {finals}; {why}",
    )


def _trajectory(config, model, target, ctrl, scores, start_fraction, weights, folds) -> dict:
    steps = np.sort(scores.loc[scores["model"] == model, "step"].unique())
    window = steps[(steps >= start_fraction * steps[-1] - 1e-9) & (steps > 0)]
    if window.size < 3:
        return _row(
            config,
            "trajectory",
            model,
            verdict=ABSENT,
            note=f"{model!r} has {window.size} checkpoint(s) from {start_fraction:g} of training on; "
            "a fall and a rise need three",
        )
    if folds.all() or not folds.any():
        return _row(config, "trajectory", model, verdict=ABSENT, note="needs two or more prompts")
    nll_t, tok_t = prompt_arrays(scores, target, model, window)
    nll_c, tok_c = prompt_arrays(scores, ctrl, model, window)
    parts = []
    for chooser in (folds, ~folds):
        pick = log_ppl(weights * chooser, nll_t, tok_t)
        t = log_ppl(weights * ~chooser, nll_t, tok_t)
        k = log_ppl(weights * ~chooser, nll_c, tok_c)
        turn = np.argmin(np.where(np.isfinite(pick), pick, np.inf), axis=1)
        at = np.arange(len(turn))
        parts.append(
            np.stack(
                [t[:, 0] - t[at, turn], t[:, -1] - t[at, turn], k[:, -1] - k[at, turn]], axis=1
            )
        )
    fall, rise, rise_control = np.moveaxis((parts[0] + parts[1]) / 2, 1, 0)
    stat = np.minimum.reduce([fall, rise, rise - rise_control])
    full = log_ppl(weights[:1], nll_t, tok_t)[0]
    curve = ", ".join(f"{s}: {np.exp(v):.4g}" for s, v in zip(window, full, strict=True))
    return _row(
        config,
        "trajectory",
        model,
        value=float(stat[0]),
        null="<= 0",
        _boot=stat[1:],
        note=f"fall {fall[0]:.4g}, rise {rise[0]:.4g}, control rise {rise_control[0]:.4g} (log PPL, "
        f"cross-fitted turning point); PPL by step {curve}",
    )
