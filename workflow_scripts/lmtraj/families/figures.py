"""Figures of the families stage: several model families (each with its own tokenizer) on one scale.

Perplexity per token is not comparable across tokenizers (a token is a different amount of text); bits
per byte of the shared validation text is, so every figure here puts families side by side in bits per
byte. `plot_valid_bpb` is the families' Figure 1; `plot_cross_generation` is the paper's Fig. 7 (§4.3:
texts decoded by one family's small/large mixture, scored by every checkpoint of another family).

Each function reads the stage's tidy tables (`checkpoints.tsv`, `generation_perplexity.tsv`) and returns
a matplotlib Figure; saving is the caller's (`lmtraj.io.save_figure`: png + pdf beside it).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from lmtraj.errors import DataError
from lmtraj.plots import apply_style, readable_log_axis, set_x_axis

CHECKPOINTS = "checkpoints.tsv"
GENERATION = "generation_perplexity.tsv"

# One sequential colour map per family, so a family reads as one hue and its sizes as light to dark.
FAMILY_CMAPS = ("Blues", "Oranges", "Greens", "Purples", "Reds", "Greys", "YlOrBr", "BuGn")
# A line style per family as well: families stay apart in greyscale print and for colour-blind readers.
FAMILY_STYLES = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 3)))
# The lightest end of a sequential map is near white and vanishes on a white axis.
SHADE_RANGE = (0.45, 0.95)
# Log y once the values span this factor: below it a log axis has too few labels to read values off.
LOG_SPAN = 4.0

CHECKPOINT_COLUMNS = ("family", "model", "step", "flops", "tokens_seen", "valid_bpb")
GENERATION_COLUMNS = (
    "scorer_family",
    "model",
    "step",
    "decoder_family",
    "setting",
    "decoding",
    "max_new_tokens",
    "bits_per_byte",
)


def require_columns(table: pd.DataFrame, name: str, columns) -> None:
    """DataError naming the table and the first column it lacks (a figure of half a table misleads)."""
    for column in columns:
        if column not in table.columns:
            raise DataError(f"{name}: no column {column!r} (columns: {', '.join(table.columns)})")


def family_shades(
    families: list[str], models: dict[str, list[str]]
) -> dict[tuple[str, str], tuple]:
    """Colour of every (family, model): the family's colour map, its models (smallest first) light to dark."""
    colors = {}
    for i, family in enumerate(families):
        cmap = plt.get_cmap(FAMILY_CMAPS[i % len(FAMILY_CMAPS)])
        names = list(models.get(family, []))
        shades = np.linspace(*SHADE_RANGE, len(names)) if len(names) > 1 else [SHADE_RANGE[1]]
        colors.update({(family, m): cmap(float(s)) for m, s in zip(names, shades)})
    return colors


def family_styles(families: list[str]) -> dict[str, object]:
    """Line style of every family, in the order given."""
    return {f: FAMILY_STYLES[i % len(FAMILY_STYLES)] for i, f in enumerate(families)}


def scale_for(values) -> str:
    """'log' when the positive, finite values span at least LOG_SPAN, else 'linear'."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0 or values.min() <= 0:
        return "linear"
    return "log" if values.max() / values.min() >= LOG_SPAN else "linear"


def _set_scale(ax, axis: str, values) -> None:
    """Scale one axis for its values; log axes get the house's few, short labels."""
    scale = scale_for(values)
    (ax.set_xscale if axis == "x" else ax.set_yscale)(scale)
    if scale == "log":
        readable_log_axis(ax.xaxis if axis == "x" else ax.yaxis)


def plot_valid_bpb(
    checkpoints: pd.DataFrame,
    families: list[str],
    models: dict[str, list[str]],
    xs=("flops", "tokens_seen"),
) -> plt.Figure:
    """Validation bits per byte against FLOPs and tokens seen, one line per (family, model).

    Step 0 (no FLOPs, no tokens) has no place on a log x axis and is left out. Every listed (family,
    model) must have rows in checkpoints.tsv: a silently missing line would read as a smaller suite.
    """
    require_columns(checkpoints, CHECKPOINTS, CHECKPOINT_COLUMNS)
    for family in families:
        for model in models.get(family, []):
            if not ((checkpoints["family"] == family) & (checkpoints["model"] == model)).any():
                raise DataError(f"{CHECKPOINTS}: no rows for family {family!r}, model {model!r}")
    apply_style()
    colors, styles = family_shades(families, models), family_styles(families)
    fig, axes = plt.subplots(1, len(xs), figsize=(4.4 * len(xs), 3.6), squeeze=False)
    plotted = checkpoints[checkpoints["family"].isin(families)]
    for ax, x in zip(axes[0], xs):
        for family in families:
            for model in models.get(family, []):
                rows = plotted[
                    (plotted["family"] == family) & (plotted["model"] == model) & (plotted[x] > 0)
                ].sort_values("step")
                ax.plot(
                    rows[x],
                    rows["valid_bpb"],
                    color=colors[(family, model)],
                    ls=styles[family],
                    marker="o",
                    ms=3,
                    label=f"{family}: {model}",
                )
        set_x_axis(ax, x)
        readable_log_axis(ax.xaxis)  # few short labels (1e+10, 20k), as on every log axis here
        _set_scale(ax, "y", plotted.loc[plotted[x] > 0, "valid_bpb"])
        ax.set_ylabel("validation bits per byte")
    axes[0][-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.suptitle("validation bits per byte, all families")
    fig.tight_layout()
    return fig


def select_generation(
    table: pd.DataFrame, setting: str, decoding: str, max_new_tokens: int
) -> pd.DataFrame:
    """The rows of one (setting, decoding, max_new_tokens); DataError naming all three when none."""
    require_columns(table, GENERATION, GENERATION_COLUMNS)
    rows = table[
        (table["setting"] == setting)
        & (table["decoding"] == decoding)
        & (table["max_new_tokens"] == int(max_new_tokens))
    ]
    if rows.empty:
        raise DataError(
            f"{GENERATION}: no rows for setting {setting!r}, decoding {decoding!r}, "
            f"max_new_tokens {int(max_new_tokens)}"
        )
    return rows


def join_valid_bpb(rows: pd.DataFrame, checkpoints: pd.DataFrame) -> pd.DataFrame:
    """`rows` with the scoring checkpoint's valid_bpb (checkpoints family == scorer_family, model, step).

    A scoring checkpoint absent from checkpoints.tsv is a DataError naming it: its point has no x.
    """
    require_columns(checkpoints, CHECKPOINTS, CHECKPOINT_COLUMNS)
    keys = checkpoints[["family", "model", "step"]]
    if keys.duplicated().any():
        dup = keys[keys.duplicated()].iloc[0]
        raise DataError(
            f"{CHECKPOINTS}: family {dup['family']!r}, model {dup['model']!r}, step {dup['step']} "
            "is listed twice"
        )
    valid = checkpoints[["family", "model", "step", "valid_bpb"]].rename(
        columns={"family": "scorer_family"}
    )
    joined = rows.merge(valid, on=["scorer_family", "model", "step"], how="left", validate="m:1")
    missing = joined[joined["valid_bpb"].isna()]
    if not missing.empty:
        first = missing.iloc[0]
        raise DataError(
            f"{GENERATION}: scorer_family {first['scorer_family']!r}, model {first['model']!r}, "
            f"step {first['step']} has no valid_bpb in {CHECKPOINTS}"
        )
    return joined


def plot_cross_generation(
    table: pd.DataFrame,
    checkpoints: pd.DataFrame,
    setting: str,
    decoding: str,
    max_new_tokens: int,
) -> plt.Figure:
    """Paper Fig. 7 across families: one panel per (decoder_family -> scorer_family) pair present.

    x is the scoring checkpoint's validation bits per byte, high to low (training runs left to right);
    y is the bits per byte the checkpoint gives the decoder family's texts; one line per scoring model,
    coloured as in `plot_valid_bpb` (the scorer family's colour map, sizes light to dark).
    """
    rows = join_valid_bpb(select_generation(table, setting, decoding, max_new_tokens), checkpoints)
    families = list(dict.fromkeys(checkpoints["family"]))
    models = {
        f: list(dict.fromkeys(checkpoints.loc[checkpoints["family"] == f, "model"]))
        for f in families
    }
    colors, styles = family_shades(families, models), family_styles(families)
    order = {f: i for i, f in enumerate(families)}
    pairs = sorted(
        set(zip(rows["decoder_family"], rows["scorer_family"])),
        key=lambda p: (order.get(p[0], len(order)), order[p[1]], p[0]),
    )
    apply_style()
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.6 * len(pairs) + 1.4, 3.4), squeeze=False)
    for ax, (decoder, scorer) in zip(axes[0], pairs):
        panel = rows[(rows["decoder_family"] == decoder) & (rows["scorer_family"] == scorer)]
        for model in models[scorer]:
            sub = panel[panel["model"] == model].sort_values("step")
            if sub.empty:
                continue
            ax.plot(
                sub["valid_bpb"],
                sub["bits_per_byte"],
                color=colors[(scorer, model)],
                ls=styles[scorer],
                marker=".",
                ms=4,
                lw=1,
                label=model,
            )
        _set_scale(ax, "x", panel["valid_bpb"])
        if not ax.xaxis_inverted():
            ax.invert_xaxis()
        _set_scale(ax, "y", panel["bits_per_byte"])
        ax.set_title(f"{decoder} \u2192 {scorer} ({setting})", fontsize=9)
        ax.set_xlabel(f"validation bits per byte ({scorer})")
        ax.set_ylabel(f"bits per byte of {decoder} texts")
        ax.legend(title=f"scored by {scorer}", fontsize=7, loc="best")
    fig.suptitle(
        f"texts decoded by one family ({setting}, {decoding}, {int(max_new_tokens)} new tokens), "
        "scored by another"
    )
    fig.tight_layout()
    return fig
