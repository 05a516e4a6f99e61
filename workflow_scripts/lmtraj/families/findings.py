"""Findings across model families: does bits per byte predict downstream accuracy better than size or
compute when the models come from several suites, each with its own tokenizer?

The paper's central claim (§5, Fig. 8, one family: OPT) is that downstream accuracy follows validation
perplexity, not model size or training compute. Across families with different tokenizers a perplexity
*per token* is not comparable (a token is a different amount of text), bits per byte is. Every trained
(family, model, checkpoint) is one point (`pooled_points`); the response is the mean BIG-bench accuracy
over tasks (the bigbench stage's ``group == "all"`` row), the predictors are log10 bits per byte, log10
perplexity per token (reported, never the claim), log10 total parameters and log10 FLOPs.

Statistics (`family_rows`), each with a percentile interval from a cluster bootstrap:

(a) **Transfer across families.** Leave one family out: OLS with intercept of accuracy on one predictor,
    fitted on the other families, predicts every checkpoint of the held-out family; the RMSE is pooled
    over all held-out points. Statistic RMSE(size) - RMSE(bpb) and RMSE(compute) - RMSE(bpb); positive
    means bits per byte transfers to an unseen family better than the rival.
(b) **Family as a factor.** OLS of accuracy ~ predictor + C(family) on the pooled points, compared by
    leave-one-model-out held-out RMSE (each (family, model) trajectory held out once): the same two
    differences. And the family coefficients of accuracy ~ log10 bpb + C(family) (treatment coding, the
    first family is the reference): the accuracy offset of a family at fixed bits per byte. "Bits per
    byte absorbs the family" is an equivalence claim: ``yes`` when the interval lies inside
    ``(-family_margin, family_margin)`` (`lmtraj.regression.bootstrap.equivalence_verdict`).

Bootstrap: the clusters are the (family, model) trajectories (the checkpoints of one model are one
trajectory, their errors are correlated); each family's models are drawn with replacement within the
family, so every resample keeps every family and its number of models. A resample is a vector of
multiplicity weights and every fit is a weighted least-squares fit, so all resamples of one fold are
solved at once. A resample in which a fit is not identifiable (e.g. every draw of a family is the same
model, so size does not vary in a training fold) gives NaN and is left out of the interval; when more
than half of the resamples are left out the interval describes too few of them and the verdict is
``inconclusive``: with two models per family a leave-one-model-out fit is identifiable only in the
resamples that keep both models of every family, i.e. the data themselves, and a size fit on a single
other family only where that family keeps both sizes.

Rows need at least two families and two models per family; otherwise every row is ``not in this run``
with the reason in ``note``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmtraj.errors import DataError
from lmtraj.families.pooled_fits import (
    cluster_codes,
    family_effects,
    held_out_rmse,
    resample_weights,
)
from lmtraj.regression.bootstrap import (
    ABSENT,
    INCONCLUSIVE,
    Bootstrap,
    equivalence_verdict,
    percentile_interval,
    verdict,
)
from lmtraj.regression.findings import findings_frame

FINDING = "families"
CHECKPOINT_COLUMNS = ["model", "step", "flops", "params_total", "valid_ppl", "valid_bpb"]
MEANS_COLUMNS = ["model", "step", "group", "accuracy"]
POINT_COLUMNS = [
    "family",
    "model",
    "step",
    "accuracy",
    "log10_valid_bpb",
    "log10_valid_ppl",
    "log10_params",
    "log10_flops",
]
PREDICTORS = {
    "bpb": "log10_valid_bpb",
    "ppl": "log10_valid_ppl",
    "size": "log10_params",
    "compute": "log10_flops",
}
LABELS = {
    "bpb": "log10 bits per byte",
    "ppl": "log10 perplexity per token",
    "size": "log10 parameters",
    "compute": "log10 FLOPs",
}
CLAIMED = "bpb"
RIVALS = ("size", "compute")
BOOTSTRAP_STREAM = 9
# Below this share of identifiable resamples the percentile interval speaks for too few of them.
MIN_USABLE_SHARE = 0.5

CLAIMS = {
    "transfer": "Bits per byte predicts the downstream accuracy of an unseen model family better than "
    "model size or training compute do (a fit on the other families transfers)",
    "factor": "With model family as a factor, bits per byte predicts the downstream accuracy of an unseen "
    "model better than model size or training compute do",
    "absorbed": "At the same bits per byte, models of different families have the same downstream "
    "accuracy (bits per byte absorbs the family)",
}
PAPER_BETTER = (
    "> 0: the paper (one family, OPT; Fig. 8) finds accuracy follows validation perplexity, not size "
    "or compute; across tokenizers that claim is about perplexity per byte"
)
PAPER_ABSORBED = "0: accuracy is a function of perplexity alone, so no family offset is left"


# ----------------------------------------------------------------------------------------------------
# Points


def _require(table: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{what} lacks column(s) {missing}; it has {list(table.columns)}")


def _positive(table: pd.DataFrame, column: str, what: str) -> None:
    """DataError naming the first (model, step) whose `column` is not a positive number."""
    bad = ~(table[column] > 0)
    if bad.any():
        first = table.loc[bad].iloc[0]
        raise DataError(
            f"{what}: {column} must be positive; model {first['model']!r} step {first['step']} "
            f"has {first[column]!r}"
        )


def family_points(family: str, checkpoints: pd.DataFrame, means: pd.DataFrame) -> pd.DataFrame:
    """One family's points (`POINT_COLUMNS`): its checkpoints joined with the ``group == "all"`` BIG-bench
    means on (model, step); checkpoints with zero FLOPs (untrained: no log) are dropped."""
    ck_what = f"family {family!r}: the checkpoints table"
    mean_what = f"family {family!r}: the BIG-bench means table"
    _require(checkpoints, CHECKPOINT_COLUMNS, ck_what)
    _require(means, MEANS_COLUMNS, mean_what)
    ck = checkpoints[CHECKPOINT_COLUMNS].assign(
        model=checkpoints["model"].astype(str), step=checkpoints["step"].astype(int)
    )
    mean = means.loc[means["group"] == "all", ["model", "step", "accuracy"]]
    mean = mean.assign(model=mean["model"].astype(str), step=mean["step"].astype(int))
    for table, what in ((ck, ck_what), (mean, mean_what + ' (group "all")')):
        dup = table.duplicated(["model", "step"])
        if dup.any():
            first = table.loc[dup].iloc[0]
            raise DataError(
                f"{what}: duplicate row for model {first['model']!r} step {first['step']}"
            )
    merged = ck.merge(mean, on=["model", "step"], how="inner")
    # Negative or missing FLOPs are a broken table, not an untrained checkpoint.
    _positive(merged.loc[merged["flops"] != 0], "flops", ck_what)
    merged = merged.loc[merged["flops"] != 0]
    if merged.empty:
        raise DataError(
            f"family {family!r}: no trained checkpoint (flops > 0) has a BIG-bench mean "
            f'(group "all") at the same model and step'
        )
    for column in ("params_total", "valid_ppl", "valid_bpb"):
        _positive(merged, column, ck_what)
    if not np.isfinite(merged["accuracy"].to_numpy(float)).all():
        first = merged.loc[~np.isfinite(merged["accuracy"].to_numpy(float))].iloc[0]
        raise DataError(
            f"{mean_what}: accuracy is missing for model {first['model']!r} step {first['step']}"
        )
    return pd.DataFrame(
        {
            "family": family,
            "model": merged["model"].to_numpy(),
            "step": merged["step"].to_numpy(),
            "accuracy": merged["accuracy"].to_numpy(float),
            "log10_valid_bpb": np.log10(merged["valid_bpb"].to_numpy(float)),
            "log10_valid_ppl": np.log10(merged["valid_ppl"].to_numpy(float)),
            "log10_params": np.log10(merged["params_total"].to_numpy(float)),
            "log10_flops": np.log10(merged["flops"].to_numpy(float)),
        }
    )[POINT_COLUMNS]


def pooled_points(tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]]) -> pd.DataFrame:
    """Every family's points (`family_points`), families in the order of `tables`; one row per
    (family, model, step). Model names may repeat across families: the key is (family, model)."""
    if not tables:
        raise DataError("families findings: no family given")
    parts = [family_points(str(f), ck, means) for f, (ck, means) in tables.items()]
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------------------------------
# Rows


def _row(claim: str, statistic: str, paper: str, **cells) -> dict:
    row = {"finding": FINDING, "claim": CLAIMS[claim], "statistic": statistic}
    row |= {"value_here": np.nan, "ci_low": np.nan, "ci_high": np.nan, "null": ""}
    row |= {"verdict": ABSENT, "paper_value_or_direction": paper, "note": ""}
    return row | cells


def _difference_statistic(claim: str, rival: str) -> str:
    if claim == "transfer":
        return (
            f"leave-one-family-out RMSE of mean BIG-bench accuracy (OLS on the other families, pooled "
            f"over the held-out families' checkpoints): {LABELS[rival]} minus {LABELS[CLAIMED]}"
        )
    return (
        f"leave-one-model-out RMSE of mean BIG-bench accuracy, OLS accuracy ~ predictor + C(family) on "
        f"the pooled families: {LABELS[rival]} minus {LABELS[CLAIMED]}"
    )


def _effect_statistic(family: str, reference: str) -> str:
    return (
        f"coefficient of family {family!r} (reference {reference!r}) in OLS accuracy ~ "
        f"{LABELS[CLAIMED]} + C(family): mean BIG-bench accuracy offset at fixed bits per byte"
    )


def not_computable(points: pd.DataFrame) -> str:
    """Why the rows cannot be computed (at least two families of at least two models each), or ''."""
    _require(points, POINT_COLUMNS, "families findings: the points table")
    n_models = points.groupby("family", sort=False)["model"].nunique()
    if len(n_models) < 2:
        return f"needs at least 2 model families, got {list(n_models.index)}"
    small = {str(f): int(n) for f, n in n_models.items() if n < 2}
    if small:
        return f"needs at least 2 models in every family; models per family: {small}"
    return ""


def _absent_rows(reason: str) -> list[dict]:
    rows = [
        _row(claim, _difference_statistic(claim, rival), PAPER_BETTER, note=reason)
        for claim in ("transfer", "factor")
        for rival in RIVALS
    ]
    effect = _effect_statistic("each family", "the first")
    return rows + [_row("absorbed", effect, PAPER_ABSORBED, note=reason)]


def _interval(samples: np.ndarray, confidence: float) -> tuple[float, float, int]:
    """Percentile interval of the resamples (row 0 of the statistic is the data) and how many of them
    were identifiable."""
    boot = samples[1:]
    low, high = percentile_interval(boot, confidence)
    return low, high, int(np.isfinite(boot).sum())


def _usable_note(usable: int, n_boot: int) -> tuple[bool, str]:
    enough = usable >= MIN_USABLE_SHARE * n_boot
    note = f"{usable} of {n_boot} resamples identifiable"
    if not enough:
        note += (
            f" (fewer than {MIN_USABLE_SHARE:.0%}: too few models per family to resample, so no "
            "verdict)"
        )
    return enough, note


def _difference_rows(
    claim: str,
    rmse: dict[str, np.ndarray],
    bootstrap: Bootstrap,
    extent: str,
) -> list[dict]:
    parts = ", ".join(f"{LABELS[p]} {rmse[p][0]:.4g}" for p in PREDICTORS)
    rows = []
    for rival in RIVALS:
        statistic = _difference_statistic(claim, rival)
        diff = rmse[rival] - rmse[CLAIMED]
        if not np.isfinite(diff[0]):
            note = f"{LABELS[rival]} or {LABELS[CLAIMED]} is not identifiable on these points"
            rows.append(_row(claim, statistic, PAPER_BETTER, note=note))
            continue
        low, high, usable = _interval(diff, bootstrap.confidence)
        enough, usable_note = _usable_note(usable, bootstrap.n_boot)
        rows.append(
            _row(
                claim,
                statistic,
                PAPER_BETTER,
                value_here=float(diff[0]),
                ci_low=low,
                ci_high=high,
                null="<= 0",
                verdict=verdict(low, high) if enough else INCONCLUSIVE,
                note=f"held-out RMSE: {parts}; {extent}; {usable_note}",
            )
        )
    return rows


def _effect_rows(
    points: pd.DataFrame, weights: np.ndarray, bootstrap: Bootstrap, margin: float, extent: str
) -> list[dict]:
    families = list(dict.fromkeys(points["family"]))
    effects = family_effects(points, weights, PREDICTORS[CLAIMED])
    rows = []
    for j, family in enumerate(families[1:]):
        statistic = _effect_statistic(family, families[0])
        if not np.isfinite(effects[0, j]):
            note = f"{LABELS[CLAIMED]} + C(family) is not identifiable on these points"
            rows.append(_row("absorbed", statistic, PAPER_ABSORBED, note=note))
            continue
        low, high, usable = _interval(effects[:, j], bootstrap.confidence)
        enough, usable_note = _usable_note(usable, bootstrap.n_boot)
        rows.append(
            _row(
                "absorbed",
                statistic,
                PAPER_ABSORBED,
                value_here=float(effects[0, j]),
                ci_low=low,
                ci_high=high,
                null=f"|coef| >= {margin:g}",
                verdict=equivalence_verdict(low, high, margin) if enough else INCONCLUSIVE,
                note=f"equivalence margin {margin:g} (accuracy); {extent}; {usable_note}",
            )
        )
    return rows


def family_rows(
    points: pd.DataFrame,
    *,
    n_boot: int,
    confidence: float,
    seed: int,
    family_margin: float = 0.02,
) -> list[dict]:
    """Findings rows (keys `COLUMNS`) of statistics (a) and (b) of the module docstring: two transfer
    rows, two family-factor rows, one family-effect row per family but the first; `family_margin` is
    the equivalence margin (accuracy units) of "bits per byte absorbs the family"."""
    bootstrap = Bootstrap(n_boot=n_boot, seed=seed, confidence=confidence)
    reason = not_computable(points)
    if reason:
        return _absent_rows(reason)
    points = points.reset_index(drop=True)
    weights = resample_weights(points, bootstrap.n_boot, bootstrap.rng(BOOTSTRAP_STREAM))
    families = list(dict.fromkeys(points["family"]))
    extent = (
        f"{len(families)} families {families}, {points.groupby(['family', 'model']).ngroups} "
        f"models, {len(points)} checkpoints"
    )
    by_family = points["family"].to_numpy()
    by_model = cluster_codes(points)
    transfer = {
        p: held_out_rmse(points, weights, c, folds=by_family, with_family=False)
        for p, c in PREDICTORS.items()
    }
    factor = {
        p: held_out_rmse(points, weights, c, folds=by_model, with_family=True)
        for p, c in PREDICTORS.items()
    }
    return (
        _difference_rows("transfer", transfer, bootstrap, extent)
        + _difference_rows("factor", factor, bootstrap, extent)
        + _effect_rows(points, weights, bootstrap, family_margin, extent)
    )


def findings_table(
    tables: dict[str, tuple[pd.DataFrame, pd.DataFrame]],
    *,
    n_boot: int,
    confidence: float,
    seed: int,
    family_margin: float = 0.02,
) -> pd.DataFrame:
    """The families' findings rows (`family_rows` on `pooled_points`) in the findings column order."""
    rows = family_rows(
        pooled_points(tables),
        n_boot=n_boot,
        confidence=confidence,
        seed=seed,
        family_margin=family_margin,
    )
    return findings_frame(rows, "families findings")
