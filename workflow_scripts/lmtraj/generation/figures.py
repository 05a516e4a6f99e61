"""Figures of the generation stage (Xia et al. 2023, Fig. 5 left, 6, 14-16).

Each function reads the tidy tables written by the stage (`perplexity.tsv`, `corrupted.tsv`) and returns a
matplotlib Figure; saving is the caller's (`lmtraj.io.save_figure`).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import FuncFormatter

from lmtraj.errors import DataError
from lmtraj.plots import apply_style, model_colors, readable_log_axis, set_x_axis


def _count(value: float) -> str:
    """Parameter counts the way model names give them: 24k, 3.2M, 1.3B."""
    for scale, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.3g}"


def _log_axis(axis, counts: bool = False) -> None:
    """Log scale with few plain labels (lmtraj.plots.readable_log_axis); counts read like 1.2k."""
    readable_log_axis(axis)
    if counts:
        axis.set_major_formatter(FuncFormatter(lambda v, _: _count(v)))


def _select(ppl: pd.DataFrame, decoding: str, length: int) -> pd.DataFrame:
    rows = ppl[(ppl["decoding"] == decoding) & (ppl["max_new_tokens"] == int(length))]
    if rows.empty:
        raise DataError(
            f"generation figure: no perplexities for decoding {decoding!r}, length {length}"
        )
    return rows


def _final(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["step"] == rows.groupby("model")["step"].transform("max")]


def trajectories(
    ppl: pd.DataFrame, models: list[str], decoding: str, length: int, x: str = "flops"
) -> plt.Figure:
    """One column per setting. Row 1: final-checkpoint perplexity against model size (total parameters).
    Row 2: perplexity over training against `x` (a checkpoints.tsv column), one line per model."""
    rows = _select(ppl, decoding, length)
    apply_style()
    colors = model_colors(models)
    settings = list(dict.fromkeys(rows["setting"]))
    fig, axes = plt.subplots(2, len(settings), figsize=(2.8 * len(settings), 5.6), squeeze=False)
    final = _final(rows)
    for j, setting in enumerate(settings):
        top, bottom = axes[0, j], axes[1, j]
        sub = (
            final[final["setting"] == setting]
            .set_index("model")
            .reindex(models)
            .dropna(subset=["ppl"])
        )
        top.plot(sub["params_total"], sub["ppl"], color="0.6", lw=1, zorder=1)
        top.scatter(sub["params_total"], sub["ppl"], c=[colors[m] for m in sub.index], zorder=2)
        top.set_xscale("log")
        top.set_yscale("log")
        _log_axis(top.xaxis, counts=True)
        _log_axis(top.yaxis)
        top.set_title(setting)
        top.set_xlabel("parameters")
        _trajectory_panel(bottom, rows[rows["setting"] == setting], models, colors, x)
    axes[0, 0].set_ylabel("final-checkpoint PPL")
    axes[1, 0].set_ylabel("PPL of generated tokens")
    _legend(fig, axes[1, -1], models, colors)
    fig.suptitle(f"{decoding}, {length} new tokens")
    fig.tight_layout()
    return fig


def against_valid_ppl(
    ppl: pd.DataFrame, models: list[str], decoding: str, length: int
) -> plt.Figure:
    """One panel per setting: perplexity of the generated tokens against validation perplexity."""
    rows = _select(ppl, decoding, length)
    apply_style()
    colors = model_colors(models)
    settings = list(dict.fromkeys(rows["setting"]))
    fig, axes = plt.subplots(1, len(settings), figsize=(2.8 * len(settings), 3.0), squeeze=False)
    for j, setting in enumerate(settings):
        ax = axes[0, j]
        _trajectory_panel(ax, rows[rows["setting"] == setting], models, colors, "valid_ppl")
        ax.set_title(setting)
    axes[0, 0].set_ylabel("PPL of generated tokens")
    _legend(fig, axes[0, -1], models, colors)
    fig.suptitle(f"{decoding}, {length} new tokens, against validation perplexity")
    fig.tight_layout()
    return fig


def _trajectory_panel(ax, rows: pd.DataFrame, models: list[str], colors: dict, x: str) -> None:
    for model in models:
        sub = rows[rows["model"] == model].sort_values("step")
        if x in ("flops", "tokens_seen"):
            sub = sub[sub[x] > 0]  # step 0 has no place on a log axis
        ax.plot(sub[x], sub["ppl"], color=colors[model], marker=".", ms=3, lw=1, label=model)
    set_x_axis(ax, x)
    ax.set_yscale("log")
    _log_axis(ax.yaxis)


def _legend(fig, ax, models: list[str], colors: dict) -> None:
    handles = [plt.Line2D([], [], color=colors[m], marker="o", lw=1) for m in models]
    ax.legend(handles, models, fontsize=7, loc="best")


def corrupted(table: pd.DataFrame, models: list[str]) -> plt.Figure:
    """Fig. 5 left: final-checkpoint perplexity of corrupted text against model size, one line per level."""
    if table.empty:
        raise DataError("generation figure: the corrupted-text table is empty")
    apply_style()
    levels = sorted(table["level_percent"].unique())
    cmap = plt.get_cmap("viridis")
    fig, ax = plt.subplots(figsize=(5.2, 3.4))
    for i, level in enumerate(levels):
        sub = (
            table[table["level_percent"] == level]
            .set_index("model")
            .reindex(models)
            .dropna(subset=["ppl"])
        )
        color = cmap(i / max(1, len(levels) - 1))
        ax.plot(
            sub["params_total"],
            sub["ppl"],
            marker="o",
            color=color,
            label=f"{level:g}%",
        )
    vocab = table["vocab_size"].max() if "vocab_size" in table else np.nan
    if np.isfinite(vocab):
        ax.axhline(vocab, color="0.5", ls="--", lw=1, label=f"uniform ({int(vocab)})")
    ax.set_xscale("log")
    ax.set_yscale("log")
    _log_axis(ax.xaxis, counts=True)
    _log_axis(ax.yaxis)
    ax.set_xlabel("parameters")
    ax.set_ylabel("PPL (final checkpoint)")
    ax.legend(title="tokens replaced", fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    return fig
