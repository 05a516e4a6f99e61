"""Plot conventions shared by every figure: one colour per model (size order), log axes, inverted PPL axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window on a cluster node

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator  # noqa: E402

X_LABELS = {
    "flops": "FLOPs",
    "tokens_seen": "tokens seen",
    "step": "training step",
    "valid_ppl": "validation perplexity",
}


def model_colors(models: list[str]) -> dict[str, tuple]:
    """The paper's palette: tab20 even indices in size order (models are listed smallest first)."""
    cmap = plt.get_cmap("tab20")
    return {m: cmap((2 * i) % 20) for i, m in enumerate(models)}


def apply_style() -> None:
    plt.rcParams.update(
        {
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "figure.dpi": 100,
            "legend.frameon": False,
            "font.size": 9,
        }
    )


def invert_ppl_axis(ax, axis: str = "x") -> None:
    """Validation-perplexity axes run from high to low (training goes left to right), log scale."""
    set_scale = ax.set_xscale if axis == "x" else ax.set_yscale
    set_scale("log")
    target = ax.xaxis if axis == "x" else ax.yaxis
    target.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
    target.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    target.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    if axis == "x":
        if not ax.xaxis_inverted():
            ax.invert_xaxis()
    elif not ax.yaxis_inverted():
        ax.invert_yaxis()


def set_x_axis(ax, x: str) -> None:
    """Label and scale an x axis named by a checkpoints.tsv column."""
    ax.set_xlabel(X_LABELS.get(x, x))
    if x == "valid_ppl":
        invert_ppl_axis(ax, "x")
    else:
        ax.set_xscale(
            "symlog" if x == "step" else "log",
            **({"linthresh": 1} if x == "step" else {}),
        )
