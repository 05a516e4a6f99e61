"""Figures of the bigbench stage (paper Figs. 8, 9, 17/18 and 5 right), drawn from its tidy tables.

Inputs: `means` (results/bigbench/means.tsv: model, step, group, accuracy, random_baseline,
correct_ppl, incorrect_ppl, joined with the checkpoint columns valid_ppl, flops, tokens_seen,
params_total), `tasks` (results/bigbench/tasks.tsv joined with the same checkpoint columns) and
`scaling` (results/bigbench/scaling.tsv). Accuracies are drawn in percent. Trajectories show the raw
points (alpha 0.4) and the authors' EMA along checkpoints as a line (weight 0.5 for means and option
perplexities, the latter smoothed on log10; 0.8 for single tasks); the FLOPs and tokens axes (log)
leave out step 0. Every function returns a matplotlib Figure; saving is the caller's.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import NullFormatter

from lmtraj.bigbench.metrics import ema
from lmtraj.plots import (
    apply_style,
    invert_ppl_axis,
    model_colors,
    readable_log_axis,
    set_x_axis,
)

X_AXES = ("valid_ppl", "flops", "tokens_seen", "step")
GROUP_TITLES = {
    "all": "all tasks",
    "bigbench": "BIG-bench tasks",
    "corpus": "corpus-derived tasks",
    "linearity": "linearity tasks",
    "breakthroughness": "breakthroughness tasks",
}


def _trajectory(
    ax, df: pd.DataFrame, x: str, y: str, color, label: str, weight: float, log_y=False
):
    """Raw points and their EMA along checkpoints (smoothed over all of them, step 0 included)."""
    df = df.sort_values("step")
    if df.empty:
        return
    values = df[y].to_numpy(float)
    smooth = 10 ** ema(np.log10(values), weight) if log_y else ema(values, weight)
    shown = (df[x] > 0).to_numpy() if x in ("flops", "tokens_seen") else np.ones(len(df), bool)
    ax.scatter(df[x][shown], values[shown], s=8, alpha=0.4, color=color, linewidths=0)
    ax.plot(df[x][shown], smooth[shown], color=color, label=label, lw=1.4)


def _plain_log_y(ax) -> None:
    ax.set_yscale("log")
    readable_log_axis(ax.yaxis)


def _ppl_x(ax) -> None:
    invert_ppl_axis(ax)


def _params_x(ax, params) -> None:
    """Log x axis with one tick per model size, labelled like 0.8M."""
    ax.set_xscale("log")
    ticks = sorted(set(float(p) for p in params))
    ax.set_xticks(ticks, [_human(t) for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("parameters")


def _human(n: float) -> str:
    for scale, unit in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return f"{n:g}"


def _fmt(value: float) -> str:
    return f"{value:.2g}" if np.isfinite(value) else ("n/a" if np.isnan(value) else f"{value}")


def _empty(ax, text: str) -> None:
    ax.text(
        0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=8, color="0.4"
    )
    ax.set_xticks([])
    ax.set_yticks([])


def accuracy_figure(means: pd.DataFrame, models: list[str], groups: list[str]) -> plt.Figure:
    """Fig. 8: mean accuracy per group against validation PPL, FLOPs, tokens and steps, with chance."""
    apply_style()
    colors = model_colors(models)
    groups = [g for g in groups if g in set(means["group"])] or ["all"]
    fig, axes = plt.subplots(
        len(groups), len(X_AXES), figsize=(3.2 * len(X_AXES), 2.8 * len(groups)), squeeze=False
    )
    for i, group in enumerate(groups):
        rows = means[means["group"] == group]
        for j, x in enumerate(X_AXES):
            ax = axes[i, j]
            if rows.empty:
                _empty(ax, f"no {GROUP_TITLES.get(group, group)} in this run")
                continue
            for model in models:
                part = rows[rows["model"] == model]
                _trajectory(
                    ax, part.assign(pct=100 * part["accuracy"]), x, "pct", colors[model], model, 0.5
                )
            chance = 100 * rows["random_baseline"].mean()
            ax.axhline(chance, color="0.5", ls="--", lw=1, label="random")
            set_x_axis(ax, x)
            if x == "step":
                ax.set_xlim(left=0)  # symlog would pad below step 0
            if j == 0:
                n = int(rows["n_tasks"].max())
                ax.set_ylabel(f"{GROUP_TITLES.get(group, group)} ({n})\nmean accuracy (%)")
    axes[0, -1].legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def linearity_figure(means: pd.DataFrame, models: list[str]) -> plt.Figure:
    """Fig. 9: accuracy and correct (solid) / incorrect (dashed) option PPL of both task lists vs valid PPL."""
    apply_style()
    colors = model_colors(models)
    fig, axes = plt.subplots(2, 2, figsize=(8.0, 6.0), squeeze=False)
    for j, group in enumerate(("linearity", "breakthroughness")):
        rows = means[means["group"] == group]
        top, bottom = axes[0, j], axes[1, j]
        if rows.empty:
            for ax in (top, bottom):
                _empty(ax, f"no {group} task (paper Table 9) in this run")
            continue
        for model in models:
            part = rows[rows["model"] == model]
            _trajectory(
                top,
                part.assign(pct=100 * part["accuracy"]),
                "valid_ppl",
                "pct",
                colors[model],
                model,
                0.5,
            )
            _trajectory(
                bottom, part, "valid_ppl", "correct_ppl", colors[model], model, 0.5, log_y=True
            )
            part = part.sort_values("step")
            smooth = 10 ** ema(np.log10(part["incorrect_ppl"].to_numpy(float)), 0.5)
            bottom.plot(part["valid_ppl"], smooth, color=colors[model], ls="--", lw=1.2)
        top.axhline(100 * rows["random_baseline"].mean(), color="0.5", ls="--", lw=1)
        top.set_title(f"{GROUP_TITLES[group]} ({int(rows['n_tasks'].max())})")
        top.set_ylabel("mean accuracy (%)")
        bottom.set_ylabel("option PPL (solid: correct, dashed: incorrect)")
        _plain_log_y(bottom)
        for ax in (top, bottom):
            _ppl_x(ax)
            ax.set_xlabel("validation perplexity")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def per_task_figure(
    tasks: pd.DataFrame, scaling: pd.DataFrame, models: list[str], order: list[str]
) -> plt.Figure:
    """Figs. 17/18: per task, final-checkpoint accuracy vs size (left) and the trajectory vs valid PPL."""
    apply_style()
    colors = model_colors(models)
    names = [t for t in order if t in set(tasks["task"])]
    per_row = 2
    n_rows = max(1, -(-len(names) // per_row))
    fig, axes = plt.subplots(n_rows, 2 * per_row, figsize=(12.0, 2.4 * n_rows), squeeze=False)
    shape = scaling.set_index("task")
    for k, name in enumerate(names):
        left, right = (
            axes[k // per_row, 2 * (k % per_row)],
            axes[k // per_row, 2 * (k % per_row) + 1],
        )
        rows = tasks[tasks["task"] == name]
        final = rows.loc[rows.groupby("model")["step"].idxmax()]
        final = final.set_index("model").reindex([m for m in models if m in set(final["model"])])
        left.plot(final["params_total"], 100 * final["accuracy"], color="0.3", lw=1, zorder=1)
        left.scatter(
            final["params_total"],
            100 * final["accuracy"],
            c=[colors[m] for m in final.index],
            zorder=2,
        )
        left.axhline(100 * rows["random_baseline"].mean(), color="0.5", ls="--", lw=1)
        _params_x(left, final["params_total"])
        left.set_ylabel("accuracy (%)")
        tag = ""
        if name in shape.index:
            tag = f"  L={_fmt(shape.loc[name, 'linearity'])} B={_fmt(shape.loc[name, 'breakthroughness'])}"
        left.set_title(f"{name}{tag}", fontsize=8, loc="left")
        for model in models:
            part = rows[rows["model"] == model]
            _trajectory(
                right,
                part.assign(pct=100 * part["accuracy"]),
                "valid_ppl",
                "pct",
                colors[model],
                model,
                0.8,
            )
        right.axhline(100 * rows["random_baseline"].mean(), color="0.5", ls="--", lw=1)
        _ppl_x(right)
        right.set_xlabel("validation perplexity")
    for k in range(len(names), n_rows * per_row):
        for ax in axes[k // per_row, 2 * (k % per_row) : 2 * (k % per_row) + 2]:
            ax.axis("off")
    if names:
        axes[0, 1].legend(fontsize=6)
    fig.tight_layout()
    return fig


def option_ppl_final_figure(
    means: pd.DataFrame, models: list[str], groups: list[str]
) -> plt.Figure:
    """Fig. 5 right: correct and incorrect option PPL at the final checkpoint of each size, per group."""
    apply_style()
    colors = model_colors(models)
    groups = [g for g in groups if g in set(means["group"])] or ["all"]
    fig, axes = plt.subplots(1, len(groups), figsize=(3.6 * len(groups), 3.0), squeeze=False)
    for ax, group in zip(axes[0], groups):
        rows = means[means["group"] == group]
        if rows.empty:
            _empty(ax, f"no {GROUP_TITLES.get(group, group)} in this run")
            continue
        final = rows.loc[rows.groupby("model")["step"].idxmax()].set_index("model")
        final = final.reindex([m for m in models if m in final.index])
        for col, ls, label in (
            ("correct_ppl", "-", "correct"),
            ("incorrect_ppl", "--", "incorrect"),
        ):
            ax.plot(
                final["params_total"], final[col], color="0.3", ls=ls, lw=1.2, label=label, zorder=1
            )
            ax.scatter(
                final["params_total"], final[col], c=[colors[m] for m in final.index], zorder=2
            )
        _params_x(ax, final["params_total"])
        _plain_log_y(ax)
        ax.set_xlabel("parameters (final checkpoints)")
        ax.set_ylabel("option perplexity")
        ax.set_title(GROUP_TITLES.get(group, group))
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
