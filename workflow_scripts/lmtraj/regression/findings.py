"""The findings table: does each of the abstract's three findings hold on this run, and how sure is it?

One row per checked statistic, columns `COLUMNS`: ``finding`` (1, 2, 3), ``claim``, ``statistic``,
``value_here`` (the statistic on this run's data), ``ci_low`` / ``ci_high`` (its bootstrap interval
at ``regression.findings.confidence``), ``null`` (the value the claim must exceed), ``verdict``
(``yes`` | ``no`` | ``inconclusive`` | ``not in this run``), ``paper_value_or_direction`` and
``note`` (the parts of the statistic, or why it could not be measured).

Every statistic is phrased so that the claim is "larger than the null": ``yes`` when the whole interval
lies above it, ``no`` when the whole interval lies below, ``inconclusive`` otherwise
(`lmtraj.regression.bootstrap.verdict`); finding 3's "size adds nothing" is an equivalence test
(`lmtraj.regression.finding_accuracy`). A finding whose inputs are not part of the run says ``not in
this run`` with the reason; it is never guessed.

1. Same tokens at the same perplexity: the paired comparison of checkpoint matchings
   (`lmtraj.trends.overlap`, its ``overlap_tests`` table) for the rank correlation and the Jaccard
   index of per-token loss reductions, against the best rival matching; and token-level double
   descent (`lmtraj.trends.double_descent.token_double_descent_table`).
2. Inverse scaling of p_s - p_l texts on models that did not decode them
   (`lmtraj.regression.finding_texts`).
3. Perplexity predicts accuracy (`lmtraj.regression.finding_accuracy`), BIG-bench and corpus-derived
   tasks apart.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lmtraj.errors import DataError
from lmtraj.regression.bootstrap import ABSENT, INCONCLUSIVE, NO, VERDICTS, YES, Bootstrap, verdict
from lmtraj.regression.finding_accuracy import accuracy_rows
from lmtraj.regression.finding_texts import text_rows

__all__ = ["ABSENT", "COLUMNS", "INCONCLUSIVE", "NO", "VERDICTS", "YES", "findings_table"]

COLUMNS = [
    "finding",
    "claim",
    "statistic",
    "value_here",
    "ci_low",
    "ci_high",
    "null",
    "verdict",
    "paper_value_or_direction",
    "note",
]
CLAIMS = {
    1: "At the same validation perplexity, models of different sizes improve on the same tokens; "
    "of the rest, some show double descent",
    2: "Texts favoured by the small over the large model (p_s - p_l) get higher perplexity in larger "
    "models; along training all sizes first lower their perplexity, the larger ones later raise it",
    3: "Validation perplexity predicts downstream accuracy better than model size or training compute, "
    "and size adds nothing once perplexity is known",
}
# A share compared from fewer events than this (observed among the upward tokens, or expected there
# at the other tokens' rate) has a degenerate bootstrap: resamples of zero events are all zero.
MIN_EVENTS = 5
SCORE_LABELS = {
    "rank_correlation": "rank correlation of per-token loss reductions",
    "jaccard": "Jaccard index of the most-improved token sets",
}


def _row(finding: int, statistic: str, paper: str, **cells) -> dict:
    row = {"finding": finding, "claim": CLAIMS[finding], "statistic": statistic}
    row |= {"value_here": np.nan, "ci_low": np.nan, "ci_high": np.nan, "null": ""}
    row |= {"verdict": ABSENT, "paper_value_or_direction": paper, "note": ""}
    return row | cells


def _require(table: pd.DataFrame, columns: list[str], name: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(
            f"findings: the {name} table lacks column(s) {missing}; it has {list(table.columns)}"
        )


def overlap_rows(tests: pd.DataFrame | None) -> list[dict]:
    """Finding 1, matching: valid_ppl against the best rival matching, for both scores."""
    paper = "no number; Figs. 3, 4, 12: curves of all sizes overlap against validation perplexity"
    rows = []
    for score, label in SCORE_LABELS.items():
        statistic = (
            f"paired difference in per-interval {label}: checkpoints matched by validation perplexity "
            "minus the best other matching (FLOPs, step, tokens seen)"
        )
        if tests is None:
            rows.append(_row(1, statistic, paper, note="the trends stage is not part of this run"))
            continue
        _require(tests, ["score", "rival", "estimate", "ci_low", "ci_high"], "overlap tests")
        sel = tests[(tests["score"] == score) & (tests["rival"] == "best")]
        if sel.empty or not np.isfinite(sel["estimate"].iloc[0]):
            note = "no pair of models has a reference interval that every matching covers"
            rows.append(_row(1, statistic, paper, note=note))
            continue
        rec = sel.iloc[0]
        per_rival = tests[(tests["score"] == score) & (tests["rival"] != "best")]
        parts = ", ".join(
            f"{r.rival} {r.estimate:.4g} [{r.ci_low:.4g}, {r.ci_high:.4g}]"
            for r in per_rival.itertuples(index=False)
        )
        extent = (
            f"; {int(rec['n_pairs'])} model pair(s), {int(rec['n_intervals'])} reference intervals"
            if {"n_pairs", "n_intervals"} <= set(tests.columns)
            else ""
        )
        rows.append(
            _row(
                1,
                statistic,
                paper,
                value_here=float(rec["estimate"]),
                ci_low=float(rec["ci_low"]),
                ci_high=float(rec["ci_high"]),
                null="<= 0",
                verdict=verdict(rec["ci_low"], rec["ci_high"]),
                note=f"valid_ppl minus each matching: {parts}{extent}",
            )
        )
    return rows


def double_descent_rows(table: pd.DataFrame | None) -> list[dict]:
    """Finding 1, double descent: per larger model, the excess share of the selector's upward tokens
    whose curve rises and falls after its first minimum."""
    paper = "9.4% of tokens are upward for OPT-1.3B and show double descent in larger models"
    statistic = (
        "share of upward tokens rising and falling after their first minimum in a larger model"
    )
    if table is None:
        return [_row(1, statistic, paper, note="the trends stage is not part of this run")]
    if table.empty:
        return [_row(1, statistic, paper, note="no model is larger than the selector")]
    _require(
        table,
        ["selector", "fraction", "model", "excess", "excess_ci_low", "excess_ci_high"],
        "token double-descent",
    )
    rows = []
    for rec in table.itertuples(index=False):
        stat = (
            f"{statistic}, minus the same share among the other tokens: tokens upward in "
            f"{rec.selector} after {rec.fraction:g} of training, followed in {rec.model}'s whole "
            "trajectory"
        )
        note = (
            f"{rec.dd_share:.3f} [{rec.dd_share_ci_low:.3f}, {rec.dd_share_ci_high:.3f}] of "
            f"{rec.n_upward} upward tokens vs {rec.control_share:.3f} of the others; upward tokens "
            f"are {100 * rec.upward_share:.1f}% [{100 * rec.upward_share_ci_low:.1f}, "
            f"{100 * rec.upward_share_ci_high:.1f}] of all tokens"
        )
        if rec.n_upward == 0:
            rows.append(_row(1, stat, paper, note=f"{rec.selector} has no upward token"))
            continue
        result = verdict(rec.excess_ci_low, rec.excess_ci_high)
        events = max(getattr(rec, "n_dd_upward", np.inf), rec.n_upward * rec.control_share)
        if events < MIN_EVENTS:
            result = INCONCLUSIVE
            note += (
                f"; fewer than {MIN_EVENTS} upward tokens rise and fall (observed, or expected at "
                "the other tokens' rate): too rare to compare"
            )
        rows.append(
            _row(
                1,
                stat,
                paper,
                value_here=float(rec.excess),
                ci_low=float(rec.excess_ci_low),
                ci_high=float(rec.excess_ci_high),
                null="<= 0",
                verdict=result,
                note=note,
            )
        )
    return rows


TEXT_STATS = {
    "inverse_scaling": (
        "min(slope, slope minus control slope) of final-checkpoint log PPL of {setting} texts per "
        "decade of parameters, over models that did not decode them",
        "rises with size (nucleus, 50 tokens: 41.5, 88.3, 104.1, 106.4, 120.7 for 125M...30B)",
    ),
    "trajectory": (
        "min(fall, rise, rise minus control rise) of {model}'s log PPL on {setting} texts along "
        "training (cross-fitted turning point)",
        "all sizes first fall; larger ones later rise (1.3B: 73.6 at 2K, 66.8 at 6K, 88.3 at the end)",
    ),
}


def generation_rows(
    texts: pd.DataFrame | None,
    scores: pd.DataFrame | None,
    sizes: pd.Series | None,
    models: Sequence[str],
    *,
    setting: str,
    control: str,
    start_fraction: float,
    bootstrap: Bootstrap,
) -> list[dict]:
    """Finding 2 (see `lmtraj.regression.finding_texts`)."""
    if texts is None or scores is None or sizes is None:
        note = "the generation stage is not part of this run"
        return [
            _row(2, TEXT_STATS[s][0].format(setting=setting, model="each model"), TEXT_STATS[s][1])
            | {"note": note}
            for s in TEXT_STATS
        ]
    rows = []
    for rec in text_rows(
        texts,
        scores,
        sizes,
        models,
        setting=setting,
        control=control,
        start_fraction=start_fraction,
        bootstrap=bootstrap,
    ):
        template, paper = TEXT_STATS[rec["stat"]]
        statistic = template.format(setting=setting, model=rec["model"] or "each model")
        statistic += f" ({rec['config']}; control: {control} texts)" if rec["config"] else ""
        cells = {k: rec[k] for k in ("ci_low", "ci_high", "null", "verdict", "note") if k in rec}
        rows.append(_row(2, statistic, paper, value_here=rec.get("value", np.nan), **cells))
    return rows


ACCURACY_STATS = {
    "interpolation": (
        "leave-one-size-out RMSE of mean accuracy ({response}) on interior folds: best rival "
        "(log FLOPs; log params + log tokens) minus log PPL",
        "no regression in the paper; Fig. 8: accuracy curves of all sizes overlap against valid PPL",
    ),
    "size": (
        "coefficient of log10 parameters next to log10 PPL, in-sample (accuracy per 10x parameters "
        "at fixed perplexity; {response})",
        "0: size adds nothing once perplexity is known (curves overlap)",
    ),
}


def accuracy_finding_rows(
    tasks: pd.DataFrame | None,
    items: pd.DataFrame | None,
    checkpoints: pd.DataFrame | None,
    **options,
) -> list[dict]:
    """Finding 3 (see `lmtraj.regression.finding_accuracy`)."""
    if tasks is None or items is None or checkpoints is None:
        note = "the bigbench stage is not part of this run"
        return [
            _row(3, template.format(response="BIG-bench tasks"), paper) | {"note": note}
            for template, paper in ACCURACY_STATS.values()
        ]
    rows = []
    for rec in accuracy_rows(tasks, items, checkpoints, **options):
        template, paper = ACCURACY_STATS[rec["stat"]]
        cells = {k: rec[k] for k in ("ci_low", "ci_high", "null", "verdict", "note") if k in rec}
        rows.append(
            _row(
                3,
                template.format(response=rec["response"]),
                paper,
                value_here=rec.get("value", np.nan),
                **cells,
            )
        )
    return rows


def findings_table(
    *,
    models: Sequence[str],
    bootstrap: Bootstrap,
    overlap_tests: pd.DataFrame | None = None,
    double_descent: pd.DataFrame | None = None,
    texts: pd.DataFrame | None = None,
    text_scores: pd.DataFrame | None = None,
    checkpoints: pd.DataFrame | None = None,
    tasks: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    generation_setting: str = "p_s-p_l",
    control_setting: str = "p_l",
    start_fraction: float = 0.1,
    metric: str = "acc",
    size_margin: float = 0.02,
    min_clusters: int = 4,
    params_col: str = "params_total",
) -> pd.DataFrame:
    """All rows, in the abstract's order; an input left as None is a stage not in the run."""
    sizes = None
    if checkpoints is not None:
        _require(checkpoints, ["model", params_col], "checkpoints")
        sizes = checkpoints.drop_duplicates("model").set_index("model")[params_col]
    rows = (
        overlap_rows(overlap_tests)
        + double_descent_rows(double_descent)
        + generation_rows(
            texts,
            text_scores,
            sizes,
            models,
            setting=generation_setting,
            control=control_setting,
            start_fraction=start_fraction,
            bootstrap=bootstrap,
        )
        + accuracy_finding_rows(
            tasks,
            items,
            checkpoints,
            metric=metric,
            bootstrap=bootstrap,
            size_margin=size_margin,
            min_clusters=min_clusters,
            params_col=params_col,
        )
    )
    return findings_frame(rows, "findings")


def findings_frame(rows: list[dict], what: str) -> pd.DataFrame:
    """Findings rows as a table in the findings column order; `what` names the table in the error
    raised for a verdict outside VERDICTS."""
    table = pd.DataFrame(rows, columns=COLUMNS)
    bad = set(table["verdict"]) - set(VERDICTS)
    if bad:
        raise DataError(f"{what}: unknown verdict(s) {sorted(bad)}")
    return table
