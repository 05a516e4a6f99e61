"""Figure 1 of the paper: the validation-perplexity trajectory of every model."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from lmtraj.plots import apply_style, model_colors, readable_log_axis, set_x_axis


def plot_valid_ppl(table: pd.DataFrame, models: list[str], xs=("flops", "tokens_seen", "step")):
    """One panel per x axis (log scale; step 0 has no place on a log axis and is left out)."""
    apply_style()
    colors = model_colors(models)
    fig, axes = plt.subplots(1, len(xs), figsize=(4.2 * len(xs), 3.4), squeeze=False)
    for ax, x in zip(axes[0], xs):
        for model in models:
            rows = table[(table["model"] == model) & (table[x] > 0)].sort_values("step")
            ax.plot(rows[x], rows["valid_ppl"], marker="o", ms=3, color=colors[model], label=model)
        set_x_axis(ax, x)
        ax.set_yscale("log")
        readable_log_axis(ax.yaxis)
        ax.set_ylabel("validation perplexity")
    axes[0][0].legend(title="model")
    fig.tight_layout()
    return fig
