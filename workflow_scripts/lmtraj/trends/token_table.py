"""The paper's Table 3 as an HTML page: example tokens of each trend class, in their context."""

from __future__ import annotations

import html
from collections.abc import Mapping

import numpy as np
import pandas as pd

from lmtraj.errors import DataError
from lmtraj.trends.classes import CLASSES
from lmtraj.trends.figures import CLASS_COLORS


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
