"""Figures and the token table of the next-token analysis (paper Figs. 2, 3, 4, 10, 11, 12; Table 3).

Every function takes the stage's tables (see `lmtraj.trends.classes`, `lmtraj.trends.double_descent`) and returns a
matplotlib Figure or an HTML string; writing files is the caller's job.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lmtraj.errors import DataError
from lmtraj.plots import apply_style, model_colors, readable_log_axis, set_x_axis

matplotlib.use("Agg")  # figures are files; never open a window on a cluster node

SHARE_PANELS = ("stagnated", "upward", "downward", "unclassified")
# Table 3's colours: blue stagnated, red upward, green downward; unclassified stays plain text
CLASS_COLORS = {"stagnated": "#9ecae1", "upward": "#fc9272", "downward": "#a1d99b"}
OWN = "own"


def plot_class_shares(shares: pd.DataFrame, models: Sequence[str]) -> plt.Figure:
    """Fig. 2: percentage of tokens in each class against the training fraction p, one line per model."""
    apply_style()
    colors = model_colors(list(models))
    fig, axes = plt.subplots(
        1, len(SHARE_PANELS), figsize=(3.2 * len(SHARE_PANELS), 3.0), sharex=True
    )
    for ax, name in zip(axes, SHARE_PANELS, strict=True):
        for model in models:
            rows = shares[(shares["model"] == model) & (shares["trend_class"] == name)]
            rows = rows.sort_values("fraction")
            ax.plot(
                100 * rows["fraction"],
                100 * rows["share"],
                marker="o",
                ms=3,
                color=colors[model],
                label=model,
            )
        ax.set_title(name)
        ax.set_xlabel("window starts after p% of training")
    axes[0].set_ylabel("% of tokens")
    axes[-1].legend(loc="best", fontsize=7)
    fig.tight_layout()
    return fig


def plot_group_curves(
    curves: pd.DataFrame,
    models: Sequence[str],
    trend_class: str,
    fraction: float,
    selectors: Sequence[str] = (OWN,),
    x: str = "flops",
) -> plt.Figure:
    """Figs. 3/4/10/11 (x="flops") and 12 (x="valid_ppl"): group PPL of the tokens a model puts in
    `trend_class` after `fraction` of training, followed through every model's trajectory.

    One panel per selector: ``"own"`` gives each model's own tokens, a model name gives that model's
    tokens on every model. The share of all tokens in the group is annotated.
    """
    apply_style()
    colors = model_colors(list(models))
    fig, axes = plt.subplots(1, len(selectors), figsize=(3.6 * len(selectors), 3.2), squeeze=False)
    part = curves[(curves["trend_class"] == trend_class) & np.isclose(curves["fraction"], fraction)]
    if part.empty:
        raise DataError(f"no group curves for class {trend_class!r} at fraction {fraction}")
    for ax, selector in zip(axes[0], selectors, strict=True):
        shares = []
        for model in models:
            picked = part["selector"] == (model if selector == OWN else selector)
            rows = part[picked & (part["model"] == model)].sort_values("step")
            rows = rows[(rows[x] > 0) & np.isfinite(rows["group_ppl"])]
            if rows.empty:
                continue
            share = float(rows["selected_share"].iloc[0])
            shares.append(share)
            label = f"{model} ({100 * share:.1f}%)" if selector == OWN else model
            ax.plot(
                rows[x],
                rows["group_ppl"],
                marker="o",
                ms=2.5,
                lw=1.2,
                color=colors[model],
                label=label,
            )
        set_x_axis(ax, x)
        ax.set_yscale("log")
        readable_log_axis(ax.yaxis)
        if selector == OWN:
            ax.set_title(f"each model's own {trend_class} tokens", fontsize=9)
        else:
            pct = f"{100 * shares[0]:.1f}%" if shares else "n/a"
            ax.set_title(f"{trend_class} tokens of {selector} ({pct} of tokens)", fontsize=9)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("group perplexity (geometric mean)")
    fig.suptitle(
        f"{trend_class} tokens, selected after {100 * fraction:g}% of training",
        fontsize=10,
    )
    fig.tight_layout()
    return fig
