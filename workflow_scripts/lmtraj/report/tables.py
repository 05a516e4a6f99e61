"""Small tables as standalone HTML pages, for the Snakemake report.

The report shows HTML and images inline but offers TSV files only as downloads, so the tables a reader
should see at a glance (the findings, the regression summary) are also written as one self-contained
page each: no scripts, no external stylesheet, numbers rounded for reading (the TSV keeps full precision).
Tables carry inline styles, so the same <table> also reads well when embedded in another page (the
report's front page embeds the findings table).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import pandas as pd

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size: 13px; margin: 1em; }
h1 { font-size: 1.3em; } h2 { font-size: 1.1em; margin-top: 1.5em; }
p.note { color: #555; max-width: 60em; }
"""
CELL = "border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top;"
HOLDS_STYLE = {
    "yes": "background:#d9f2d9;",
    "no": "background:#f8d7d7;",
    "inconclusive": "background:#fff3cd;",
    "not in this run": "color:#666;",
}


def table_html(df: pd.DataFrame, digits: int = 4, holds_column: str | None = None) -> str:
    """One <table>; floats to `digits` significant digits; `holds_column` cells coloured yes/no/absent."""
    header = "".join(
        f'<th style="{CELL}background:#f2f2f2;">{html.escape(str(c))}</th>' for c in df.columns
    )
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for column, value in zip(df.columns, row, strict=True):
            extra = HOLDS_STYLE.get(str(value), "") if column == holds_column else ""
            cells.append(f'<td style="{CELL}{extra}">{html.escape(_format(value, digits))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<table style="border-collapse:collapse;margin:0.5em 0;">'
        f"<thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _format(value: object, digits: int) -> str:
    if isinstance(value, float):
        return "" if pd.isna(value) else f"{value:.{digits}g}"
    return "" if value is None else str(value)


def html_page(
    title: str, sections: Sequence[tuple[str, pd.DataFrame, str]], intro: str = "", **kwargs
) -> str:
    """A standalone page: title, intro paragraph, then (heading, table, note) sections."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    if intro:
        parts.append(f'<p class="note">{html.escape(intro)}</p>')
    for heading, df, note in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        parts.append(table_html(df, **kwargs) if len(df) else "<p>(no rows)</p>")
        if note:
            parts.append(f'<p class="note">{html.escape(note)}</p>')
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(parts) + "\n</body></html>\n"
    )
