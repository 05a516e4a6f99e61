"""The findings table: does each of the abstract's three findings hold on this run?

One row per checked statistic, columns:
``finding`` (1, 2, 3), ``claim``, ``statistic``, ``value_here`` (the measured value, formatted),
``paper_value_or_direction``, ``holds`` (``yes`` | ``no`` | ``not in this run``) and ``note`` (why a
finding could not be checked, or what the comparison left out). A finding whose input table is absent
(``None``) or lacks what it needs says ``not in this run``; it is never guessed.

Inputs (the minimal columns read here; other columns are ignored):

1. **Same tokens at the same perplexity** (trends stage, `lmtraj.trends.overlap`): either its summary
   (``model_a, matching, mean_jaccard``; the ``model_a == "all"`` rows, the mean over model pairs, are
   used when present) or its detail (``matching, jaccard``, one row per interval, averaged here).
   ``matching`` is ``valid_ppl`` | ``flops`` | ``step`` (how checkpoints of two models were lined up);
   the Jaccard index is the overlap of the two models' most-improved token sets between consecutive
   matched checkpoints. Holds when matching by validation perplexity gives a strictly higher mean than
   every other matching present (as `lmtraj.trends.overlap.finding_holds`).
2. **Inverse scaling of p_s - p_l texts** (generation stage, perplexity of generated texts):
   ``model, step, setting, ppl``, one row per (model, checkpoint, setting[, configuration]); the optional
   configuration columns (`GENERATION_CONFIG_COLUMNS` that are present, e.g. decoding and length) each
   give their own rows. Two statistics per configuration, for the texts of `setting` (default
   ``p_s-p_l``, the generation stage's name): (a) Spearman's rho between model size rank and
   final-checkpoint PPL; holds when rho > 0 and the largest model's PPL exceeds the smallest's (paper,
   nucleus, 50 tokens: 41.5, 88.3, 104.1, 106.4, 120.7, rho = 1). (b) the smallest model's final PPL
   over its PPL at the first checkpoint at or after `start_fraction` of its training (by step); holds
   when < 1 (paper: 125M falls from about 74-94 at 2K steps to 41.5). Not from step 0: every model
   first collapses from vocabulary-size perplexity on any text, which says nothing about these texts;
   the paper's first checkpoint (2K steps) already lies past that collapse, and the larger models'
   later rise happens after it.
3. **Perplexity predicts behaviour better than size or compute** (`lmtraj.regression.fits` leave-one-size-out
   summary): ``response, subset, predictor, rmse_pooled, complete`` for ``response="accuracy"``,
   ``subset="mean"``. (a) Holds when ``log_ppl`` has a lower pooled RMSE than every other single-family
   predictor set (``log_flops``, ``log_params_tokens``) that could be evaluated on every fold. (b) Adding
   log parameters to log perplexity does not lower the held-out error (the paper's curves of all sizes
   overlap against perplexity, so size should add nothing).

Models are ordered smallest first (the config order, which is the size order of the run).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmtraj.errors import DataError

YES, NO, ABSENT = "yes", "no", "not in this run"
COLUMNS = [
    "finding",
    "claim",
    "statistic",
    "value_here",
    "paper_value_or_direction",
    "holds",
    "note",
]
CLAIMS = {
    1: "Checkpoints of different sizes at the same validation perplexity improve on the same tokens",
    2: "Texts favoured by the small over the large model (p_s - p_l) get higher perplexity in larger models, "
    "while the smallest model's perplexity on them falls over training",
    3: "Validation perplexity predicts downstream accuracy better than model size or training compute",
}
PPL_MATCHING = "valid_ppl"
GENERATION_CONFIG_COLUMNS = ("decoding", "max_new_tokens")
SINGLE_PREDICTORS = ("log_flops", "log_params_tokens")


def _row(finding: int, statistic: str, value: str, paper: str, holds: str, note: str = "") -> dict:
    return {
        "finding": finding,
        "claim": CLAIMS[finding],
        "statistic": statistic,
        "value_here": value,
        "paper_value_or_direction": paper,
        "holds": holds,
        "note": note,
    }


def _require(table: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            f"findings: the {name} table lacks column(s) {missing}; it has {list(table.columns)}"
        )


def overlap_finding(overlap: pd.DataFrame | None) -> list[dict]:
    """Finding 1 from the token-set overlap table (see the module docstring)."""
    statistic = "mean Jaccard overlap of most-improved token sets, by checkpoint matching"
    paper = (
        "no number; perplexity matching highest (Figs. 3, 4, 12: curves overlap against valid PPL)"
    )
    if overlap is None or overlap.empty:
        return [
            _row(
                1,
                statistic,
                "",
                paper,
                ABSENT,
                "the token-set overlap table is not part of this run",
            )
        ]
    if "mean_jaccard" in overlap.columns:
        _require(overlap, ["model_a", "matching", "mean_jaccard"], "token-set overlap summary")
        pooled = overlap.loc[overlap["model_a"] == "all"]
        means = (pooled if len(pooled) else overlap).groupby("matching")["mean_jaccard"].mean()
    else:
        _require(overlap, ["matching", "jaccard"], "token-set overlap")
        means = overlap.groupby("matching")["jaccard"].mean()
    means = means.dropna()
    value = ", ".join(f"{m} {v:.3f}" for m, v in means.sort_values(ascending=False).items())
    if PPL_MATCHING not in means.index or len(means) < 2:
        note = f"needs {PPL_MATCHING!r} and at least one other matching; have {list(means.index)}"
        return [_row(1, statistic, value, paper, ABSENT, note)]
    others = means.drop(PPL_MATCHING)
    holds = YES if means[PPL_MATCHING] > others.max() else NO
    return [_row(1, statistic, value, paper, holds)]


def generation_finding(
    generation: pd.DataFrame | None,
    models: list[str],
    setting: str = "p_s-p_l",
    start_fraction: float = 0.1,
) -> list[dict]:
    """Finding 2 (a: inverse scaling at the final checkpoint; b: the smallest model improves) per configuration."""
    stat_a = f"Spearman rho of final-checkpoint PPL of {setting} texts vs size"
    stat_b = (
        f"smallest model's final PPL on {setting} texts / its PPL at {start_fraction:g} of training"
    )
    paper_a = "rho = 1 (nucleus, 50 tokens: 41.5, 88.3, 104.1, 106.4, 120.7 for 125M...30B)"
    paper_b = "< 1 (125M falls during training; larger sizes rise)"
    if generation is None or generation.empty:
        note = "the generated-text perplexity table is not part of this run"
        return [
            _row(2, stat_a, "", paper_a, ABSENT, note),
            _row(2, stat_b, "", paper_b, ABSENT, note),
        ]
    _require(generation, ["model", "step", "setting", "ppl"], "generated-text perplexity")
    texts = generation.loc[generation["setting"] == setting]
    if texts.empty:
        note = f"no {setting!r} texts; settings present: {sorted(generation['setting'].unique())}"
        return [
            _row(2, stat_a, "", paper_a, ABSENT, note),
            _row(2, stat_b, "", paper_b, ABSENT, note),
        ]
    unknown = sorted(set(texts["model"]) - set(models))
    if unknown:
        raise DataError(
            f"findings: generated-text table has model(s) {unknown} not in the run's models {models}"
        )
    config_cols = [c for c in GENERATION_CONFIG_COLUMNS if c in texts.columns]
    groups = texts.groupby(config_cols, sort=True) if config_cols else [((), texts)]
    rows = []
    for config, group in groups:
        config = config if isinstance(config, tuple) else (config,)
        where = ", ".join(f"{c}={v}" for c, v in zip(config_cols, config, strict=True))
        suffix = f" ({where})" if where else ""
        ordered = group.sort_values("step")
        present = [m for m in models if m in set(ordered["model"])]
        rows.append(_inverse_scaling_row(ordered, present, stat_a + suffix, paper_a))
        rows.append(_smallest_falls_row(ordered, present, start_fraction, stat_b + suffix, paper_b))
    return rows


def _inverse_scaling_row(ordered: pd.DataFrame, present: list[str], stat: str, paper: str) -> dict:
    if len(present) < 2:
        return _row(2, stat, "", paper, ABSENT, f"needs 2 or more models, have {present}")
    finals = ordered.groupby("model")["ppl"].last()[present]
    rho = pd.Series(np.arange(len(present)), index=present).corr(finals, method="spearman")
    value = f"rho {rho:.2f}; " + ", ".join(f"{m} {v:.4g}" for m, v in finals.items())
    return _row(2, stat, value, paper, YES if rho > 0 and finals.iloc[-1] > finals.iloc[0] else NO)


def _smallest_falls_row(
    ordered: pd.DataFrame, present: list[str], start_fraction: float, stat: str, paper: str
) -> dict:
    if not present:
        return _row(2, stat, "", paper, ABSENT, "no model has these texts")
    smallest = present[0]
    rows = ordered.loc[ordered["model"] == smallest]
    steps = rows["step"].to_numpy()
    start = rows.loc[rows["step"] >= start_fraction * steps.max()].iloc[0]
    end = rows.iloc[-1]
    if start["step"] == end["step"]:
        note = f"{smallest!r} has no checkpoint between {start_fraction:g} of training and its last"
        return _row(2, stat, "", paper, ABSENT, note)
    ratio = end["ppl"] / start["ppl"]
    value = (
        f"{ratio:.3f} ({smallest}: {start['ppl']:.4g} at step {start['step']} -> "
        f"{end['ppl']:.4g} at step {end['step']})"
    )
    return _row(2, stat, value, paper, YES if ratio < 1 else NO)


def loso_finding(loso_summary: pd.DataFrame | None) -> list[dict]:
    """Finding 3 from the leave-one-size-out summary of `lmtraj.regression.fits` (mean accuracy)."""
    stat_a = "leave-one-size-out RMSE of mean accuracy, by predictor"
    stat_b = "leave-one-size-out RMSE of mean accuracy, log PPL + log params vs log PPL"
    paper_a = (
        "no regression in the paper; Fig. 8: accuracy curves of all sizes overlap against valid PPL"
    )
    paper_b = "size adds nothing once perplexity is known (curves overlap)"
    if loso_summary is None or loso_summary.empty:
        note = "the regression has no leave-one-size-out summary in this run"
        return [
            _row(3, stat_a, "", paper_a, ABSENT, note),
            _row(3, stat_b, "", paper_b, ABSENT, note),
        ]
    _require(
        loso_summary,
        ["response", "subset", "predictor", "rmse_pooled", "complete"],
        "leave-one-size-out",
    )
    mean = loso_summary.loc[
        (loso_summary["response"] == "accuracy") & (loso_summary["subset"] == "mean")
    ]
    rmse = (
        mean.set_index("predictor")["rmse_pooled"]
        .where(mean.set_index("predictor")["complete"])
        .dropna()
    )
    value = ", ".join(f"{p} {v:.4g}" for p, v in rmse.sort_values().items())
    skipped = [p for p in mean["predictor"] if p not in rmse.index]
    skipped_note = f"not evaluable on every fold: {skipped}" if skipped else ""
    if "log_ppl" not in rmse.index:
        note = "log_ppl has no leave-one-size-out RMSE for mean accuracy" + (
            f"; {skipped_note}" if skipped else ""
        )
        return [
            _row(3, stat_a, value, paper_a, ABSENT, note),
            _row(3, stat_b, value, paper_b, ABSENT, note),
        ]
    rivals = rmse.reindex(SINGLE_PREDICTORS).dropna()
    if rivals.empty:
        row_a = _row(
            3,
            stat_a,
            value,
            paper_a,
            ABSENT,
            "no size/compute predictor evaluable; " + skipped_note,
        )
    else:
        row_a = _row(
            3,
            stat_a,
            value,
            paper_a,
            YES if rmse["log_ppl"] < rivals.min() else NO,
            skipped_note,
        )
    if "log_ppl_params" not in rmse.index:
        note = "log_ppl_params not evaluable on every fold"
        row_b = _row(3, stat_b, "", paper_b, ABSENT, note)
    else:
        ratio = rmse["log_ppl_params"] / rmse["log_ppl"]
        both = f"log_ppl_params {rmse['log_ppl_params']:.4g} / log_ppl {rmse['log_ppl']:.4g}"
        row_b = _row(3, stat_b, f"ratio {ratio:.3f} ({both})", paper_b, YES if ratio >= 1 else NO)
    return [row_a, row_b]


def findings_table(
    *,
    models: list[str],
    overlap: pd.DataFrame | None = None,
    generation: pd.DataFrame | None = None,
    loso_summary: pd.DataFrame | None = None,
    generation_setting: str = "p_s-p_l",
    generation_start_fraction: float = 0.1,
) -> pd.DataFrame:
    """All findings rows, in the abstract's order."""
    rows = (
        overlap_finding(overlap)
        + generation_finding(generation, models, generation_setting, generation_start_fraction)
        + loso_finding(loso_summary)
    )
    return pd.DataFrame(rows, columns=COLUMNS)
