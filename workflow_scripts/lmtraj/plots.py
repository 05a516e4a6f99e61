"""Plot conventions shared by every figure: one colour per model (size order), log axes, inverted PPL axes."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window on a cluster node

import math  # noqa: E402

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, Locator, MaxNLocator, NullFormatter  # noqa: E402

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


class ReadableLogLocator(Locator):
    """Major ticks of a log axis that fit its length: decades first, then 1-3, 1-2-5, 1-1.5-2-3-5-7.

    The sparsest set that gives at least `min_ticks` labels is used, never more labels than fit side by
    side (matplotlib's own estimate, `Axis.get_tick_space`, for labels of up to five characters). A span
    under a decade where no set gives `min_ticks` labels (250 to 600, 12 to 14) gets round linear ticks.
    Plain `LogLocator(subs=...)` puts every sub-tick of every decade on the axis, so the labels of a
    narrow panel run together ("5000300020001500...").
    """

    SUBS = ((1.0,), (1.0, 3.0), (1.0, 2.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0))

    def __init__(self, max_ticks: int | None = None, min_ticks: int = 3):
        self.max_ticks = max_ticks
        self.min_ticks = min_ticks

    def _budget(self) -> int:
        if self.max_ticks is not None:
            return self.max_ticks
        if self.axis is None:
            return 5
        # get_tick_space assumes labels three characters wide; ours ("1500", "20k") reach five.
        return max(2, min(6, self.axis.get_tick_space() * 3 // 5))

    def __call__(self):
        vmin, vmax = self.axis.get_view_interval()
        return self.tick_values(vmin, vmax)

    def tick_values(self, vmin, vmax):
        vmin, vmax = sorted((float(vmin), float(vmax)))
        if vmax <= 0:
            return []
        if vmin <= 0:  # a log axis's view can start at 0 before autoscaling
            vmin = vmax * 1e-12
        budget = self._budget()
        lo, hi = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
        slack = 1e-9 * (vmax - vmin)

        def inside(subs, stride=1):
            ticks = [s * 10.0**e for e in range(lo, hi + 1, stride) for s in subs]
            return [t for t in ticks if vmin - slack <= t <= vmax + slack]

        chosen: list[float] = []
        for subs in self.SUBS:
            ticks = inside(subs)
            if len(ticks) > budget:
                break
            chosen = ticks
            if len(ticks) >= self.min_ticks:
                break
        if not chosen:  # even the decades are too many: every 2nd, 3rd, 5th, 10th, ... decade
            for stride in (2, 3, 5, 10, 20, 50, 100):
                chosen = inside((1.0,), stride)
                if len(chosen) <= budget:
                    break
        if len(chosen) < self.min_ticks and vmax < 10 * vmin:  # under a decade: round linear ticks
            linear = MaxNLocator(nbins=max(1, budget - 1), steps=[1, 2, 2.5, 5, 10])
            ticks = [t for t in linear.tick_values(vmin, vmax) if vmin - slack <= t <= vmax + slack]
            if len(ticks) > len(chosen):
                chosen = ticks
        return chosen


def _plain(value: float, _pos=None) -> str:
    """1500 -> '1500', 20000 -> '20k', 1.5 -> '1.5', 3e18 -> '3e+18': short labels for log axes."""
    if 1e4 <= value < 1e6:
        return f"{value / 1e3:g}k"
    return f"{value:.4g}" if value < 1e6 else f"{value:.3g}"


def readable_log_axis(axis) -> None:
    """Few, short, non-overlapping labels on a log `ax.xaxis`/`ax.yaxis`; minor ticks unlabelled."""
    axis.set_major_locator(ReadableLogLocator())
    axis.set_major_formatter(FuncFormatter(_plain))
    axis.set_minor_formatter(NullFormatter())


def invert_ppl_axis(ax, axis: str = "x") -> None:
    """Validation-perplexity axes run from high to low (training goes left to right), log scale."""
    set_scale = ax.set_xscale if axis == "x" else ax.set_yscale
    set_scale("log")
    readable_log_axis(ax.xaxis if axis == "x" else ax.yaxis)
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
