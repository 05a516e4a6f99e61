"""Tests for lmtraj.report.tables: escaping, rounding and the yes/no colouring of the findings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lmtraj.report.tables import html_page, table_html


def test_table_html_escapes_rounds_and_colours_holds():
    df = pd.DataFrame(
        {"statistic": ["a < b & c"], "value": [0.123456789], "missing": [np.nan], "holds": ["no"]}
    )
    out = table_html(df, digits=3, holds_column="holds")
    assert "a &lt; b &amp; c" in out
    assert ">0.123</td>" in out
    assert '"></td>' in out  # NaN is an empty cell, not "nan"
    assert 'background:#f8d7d7;">no</td>' in out
    assert out.count("<tr>") == 2  # header + one row


def test_html_page_is_standalone():
    page = html_page(
        "Findings", [("Table", pd.DataFrame({"x": [1]}), "a note"), ("Empty", pd.DataFrame(), "")]
    )
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "http" not in page
    assert "<h2>Table</h2>" in page and "a note" in page and "(no rows)" in page
