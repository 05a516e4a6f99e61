"""Figures and the token table of the next-token analysis (paper Figs. 2, 3, 4, 10, 11, 12; Table 3).

Every function takes the stage's tables (see `lmtraj.trends`, `lmtraj.double_descent`) and returns a
matplotlib Figure or an HTML string; writing files is the caller's job.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window on a cluster node

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.ticker import LogFormatter

from .errors import DataError
from .plots import apply_style, model_colors, set_x_axis
from .trends import CLASSES

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
        # plain numbers (480, 500) rather than 4.8x10^2; minor ticks labelled on narrow ranges only
        ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
        ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.5)))
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


def token_table_html(
    tokens: pd.DataFrame,
    classes: Mapping[str, np.ndarray],
    doc: int,
    fraction: float,
    max_tokens: int = 200,
) -> str:
    """Table 3: one validation paragraph with its tokens coloured by class, one block per model.

    `tokens` is the losses stage's tokens table (doc, position, token); `classes[model]` are the
    model's class codes at `fraction`, aligned with `tokens`' rows.
    """
    rows = np.flatnonzero(tokens["doc"].to_numpy() == doc)
    if rows.size == 0:
        raise DataError(f"document {doc} is not in the tokens table")
    rows = rows[np.argsort(tokens["position"].to_numpy()[rows], kind="stable")][:max_tokens]
    text = tokens["token"].astype(str).to_numpy()[rows]
    legend = " ".join(
        f'<span class="tok" style="background:{color}">{name}</span>'
        for name, color in CLASS_COLORS.items()
    )
    blocks = []
    for model, codes in classes.items():
        codes = np.asarray(codes)
        if codes.shape[0] != len(tokens):
            raise DataError(f"model {model}: {codes.shape[0]} class codes for {len(tokens)} tokens")
        picked = codes[rows]
        counts = ", ".join(f"{name} {np.mean(picked == i):.0%}" for i, name in enumerate(CLASSES))
        spans = []
        for piece, code in zip(text, picked, strict=True):
            name = CLASSES[code]
            style = f' style="background:{CLASS_COLORS[name]}"' if name in CLASS_COLORS else ""
            spans.append(f'<span class="tok"{style} title="{name}">{html.escape(piece)}</span>')
        blocks.append(
            f'<h2>{html.escape(model)}</h2>\n<p class="counts">{html.escape(counts)}</p>\n'
            f'<p class="para">{"".join(spans)}</p>'
        )
    title = f"Token trends after {100 * fraction:g}% of training, document {doc}"
    return (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>\n<style>"
        "body{font-family:sans-serif;max-width:60em;margin:2em auto}"
        ".para{font-family:serif;line-height:1.8;white-space:pre-wrap}"
        ".tok{border-radius:2px}.counts{color:#555;font-size:90%}"
        "</style></head><body>\n"
        f"<h1>{html.escape(title)}</h1>\n<p>{legend}; unclassified tokens are not coloured.</p>\n"
        + "\n".join(blocks)
        + "\n</body></html>\n"
    )
