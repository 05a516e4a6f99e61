"""Figures of the regression stage: observed vs predicted accuracy per predictor, and held-out errors.

Both read the tidy tables of `lmtraj.regression.fits` (``predictions`` and ``loso_summary``) and return a
matplotlib Figure; saving is the caller's (`lmtraj.io.save_figure`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lmtraj.errors import DataError
from lmtraj.plots import apply_style, model_colors
from lmtraj.regression.points import pooled_rows

PREDICTOR_LABELS = {
    "log_ppl": "log valid PPL",
    "log_flops": "log FLOPs",
    "log_params_tokens": "log params + log tokens",
    "log_ppl_params": "log valid PPL + log params",
}


def observed_vs_predicted(
    predictions: pd.DataFrame,
    models: list[str],
    *,
    response: str = "accuracy",
    subset: str = "mean",
) -> plt.Figure:
    """One column per predictor set; top row in-sample fit, bottom row leave-one-size-out prediction.

    Points are (model, checkpoint) pairs coloured by model (size order); the diagonal is a perfect
    prediction, and each panel's title gives its RMSE.
    """
    rows = predictions.loc[
        (predictions["response"] == response) & (predictions["subset"] == subset)
    ]
    if rows.empty:
        raise DataError(
            f"regression figure: no predictions for response {response!r} subset {subset!r}"
        )
    apply_style()
    colors = model_colors(models)
    predictors = list(dict.fromkeys(rows["predictor"]))
    fig, axes = plt.subplots(
        2,
        len(predictors),
        figsize=(3.0 * len(predictors), 6.0),
        squeeze=False,
        sharex=True,
        sharey=True,
    )
    lo = np.nanmin(rows[["observed", "fitted", "predicted_loso"]].to_numpy(float))
    hi = np.nanmax(rows[["observed", "fitted", "predicted_loso"]].to_numpy(float))
    pad = 0.05 * (hi - lo or 1.0)
    limits = (lo - pad, hi + pad)
    for j, predictor in enumerate(predictors):
        sub = rows.loc[rows["predictor"] == predictor]
        for i, (column, kind) in enumerate(
            (("fitted", "in sample"), ("predicted_loso", "leave one size out"))
        ):
            ax = axes[i, j]
            ax.plot(limits, limits, color="0.6", lw=0.8, ls="--", zorder=0)
            for model in models:
                points = sub.loc[sub["model"] == model]
                if not points.empty:
                    ax.scatter(
                        points["observed"],
                        points[column],
                        s=14,
                        alpha=0.8,
                        color=colors[model],
                        label=model,
                    )
            if sub[column].isna().all():
                ax.text(
                    0.5,
                    0.5,
                    "not identifiable:\nthe other models\nhave a single size",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    fontsize=8,
                    color="0.4",
                )
            err = (sub[column] - sub["observed"]).to_numpy(float)
            rmse = np.sqrt(np.nanmean(err**2)) if np.isfinite(err).any() else np.nan
            ax.set_title(
                f"{PREDICTOR_LABELS.get(predictor, predictor)}\n{kind}, RMSE {rmse:.3g}",
                fontsize=8,
            )
            ax.set_xlim(limits)
            ax.set_ylim(limits)
            if i == 1:
                ax.set_xlabel(f"observed {response}")
            if j == 0:
                ax.set_ylabel(f"predicted {response}")
    axes[0, -1].legend(loc="lower right", fontsize=7)
    fig.suptitle(f"{response} ({subset}): observed vs predicted", fontsize=10)
    fig.tight_layout()
    return fig


def default_panels(loso_summary: pd.DataFrame) -> list[tuple[str, str]]:
    """The (response, subset) panels worth a bar chart: every pooled response, and every trend class."""
    keys = loso_summary[["response", "subset"]].drop_duplicates()
    chosen = pooled_rows(keys)
    return list(chosen.itertuples(index=False, name=None))


def loso_rmse_bars(
    loso_summary: pd.DataFrame, panels: list[tuple[str, str]] | None = None
) -> plt.Figure:
    """Pooled leave-one-size-out RMSE per predictor, one panel per (response, subset).

    The lowest bar of each panel is the predictor that generalises best to an unseen size. Bars of
    predictors not evaluable on every fold are hatched and labelled "incomplete".
    """
    panels = default_panels(loso_summary) if panels is None else panels
    if not panels:
        raise DataError("regression figure: no leave-one-size-out rows to plot")
    apply_style()
    n_cols = min(4, len(panels))
    n_rows = -(-len(panels) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(3.2 * n_cols, 3.0 * n_rows), squeeze=False)
    palette = plt.get_cmap("tab10")
    for ax in axes.flat[len(panels) :]:
        ax.set_visible(False)
    for ax, (response, subset) in zip(axes.flat, panels, strict=False):
        sub = loso_summary.loc[
            (loso_summary["response"] == response) & (loso_summary["subset"] == subset)
        ]
        if sub.empty:
            raise DataError(
                f"regression figure: no leave-one-size-out rows for {response!r} {subset!r}"
            )
        x = np.arange(len(sub))
        heights = sub["rmse_pooled"].fillna(0).to_numpy(float)
        bars = ax.bar(x, heights, color=[palette(i) for i in range(len(sub))])
        for bar, complete in zip(bars, sub["complete"], strict=True):
            if not complete:
                bar.set_hatch("//")
                bar.set_alpha(0.4)
                ax.annotate(
                    "incomplete",
                    (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
        ax.set_xticks(
            x,
            [PREDICTOR_LABELS.get(p, p) for p in sub["predictor"]],
            rotation=30,
            ha="right",
            fontsize=7,
        )
        ax.set_title(f"{response} ({subset})", fontsize=9)
        ax.set_ylabel("held-out RMSE")
    fig.tight_layout()
    return fig
