"""End to end: the trends stage's outputs of the smoke run are complete and agree with each other."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SMOKE_CONFIG

from lmtraj.trends.classes import CLASSES, MIN_POINTS, TrendRules, analyse_trends, class_codes
from lmtraj.trends.overlap import MATCHINGS

SMOKE = yaml.safe_load(SMOKE_CONFIG.read_text())
MODELS = list(SMOKE["models"])
FRACTIONS = SMOKE["trends"]["fractions"]


@pytest.fixture(scope="module")
def trends(smoke_run):
    return smoke_run / "results" / "trends"


def test_class_shares_cover_every_model_and_fraction(trends):
    shares = pd.read_csv(trends / "shares.tsv", sep="\t")
    assert set(shares["model"]) == set(MODELS)
    assert sorted(set(shares["fraction"])) == pytest.approx(sorted(FRACTIONS))
    assert set(shares["trend_class"]) == set(CLASSES)
    totals = shares.groupby(["model", "fraction"])["share"].sum()
    np.testing.assert_allclose(totals, 1.0, atol=1e-5)
    short = shares[
        (shares["n_checkpoints"] < MIN_POINTS) & (shares["trend_class"] == "unclassified")
    ]
    np.testing.assert_allclose(short["share"], 1.0, atol=1e-5)  # too short a window: no claims
    long = shares[shares["n_checkpoints"] >= MIN_POINTS]
    assert not long.empty and long[long.trend_class != "unclassified"]["share"].sum() > 0


def test_per_token_tables_match_a_fresh_classification(trends, smoke_run):
    tokens = pd.read_parquet(smoke_run / "results" / "losses" / "tokens.parquet")
    for model in MODELS:
        table = pd.read_parquet(trends / model / "tokens.parquet")
        assert len(table) == len(tokens)
        np.testing.assert_array_equal(table["token_id"], tokens["token_id"])
        nll = np.load(smoke_run / "results" / "losses" / model / "trajectory.npy")
        steps = pd.read_csv(smoke_run / "results" / "losses" / model / "checkpoints.tsv", sep="\t")[
            "step"
        ]
        # the smoke config keeps the default regressor and thresholds
        results = analyse_trends(nll, steps.to_numpy(), FRACTIONS, "log_step", TrendRules())
        for fraction, result in zip(FRACTIONS, results, strict=True):
            np.testing.assert_array_equal(class_codes(table, fraction), result.classes)


def test_double_descent_tables(trends):
    table = pd.read_csv(trends / "double_descent.tsv", sep="\t")
    assert len(table) == len(MODELS) ** 2 * len(FRACTIONS) * len(CLASSES)
    assert table["double_descent"].dtype == bool
    found = table[table["double_descent"]]
    assert (found["peak_ppl"] >= 1.05 * found[["start_ppl", "end_ppl"]].max(axis=1) - 1e-9).all()
    shares = pd.read_csv(trends / "shares.tsv", sep="\t")
    own = table[table["selector"] == table["model"]].merge(
        shares, on=["model", "fraction", "trend_class"], suffixes=("", "_classify")
    )
    np.testing.assert_allclose(own["selected_share"], own["share"], atol=1e-5)
    patterns = pd.read_csv(trends / "double_descent_patterns.tsv", sep="\t")
    assert set(patterns["trend_class"]) == {"upward"}
    sums = patterns.groupby(["selector", "fraction", "model"])["share"].sum(min_count=1).dropna()
    np.testing.assert_allclose(sums, 1.0, atol=1e-5)  # TSVs keep 6 significant digits
    curves = pd.read_csv(trends / "group_curves.tsv", sep="\t")
    assert {"flops", "valid_ppl", "group_ppl"} <= set(curves.columns)


def test_overlap_summary(trends):
    summary = pd.read_csv(trends / "overlap_summary.tsv", sep="\t")
    assert set(summary["matching"]) == set(MATCHINGS)
    overall = summary[summary["model_a"] == "all"]
    assert len(overall) == len(MATCHINGS)
    for stat in ("rank_correlation", "jaccard"):
        rows = summary.dropna(subset=[stat])
        assert not rows.empty, stat
        assert (rows[f"{stat}_ci_low"] <= rows[stat] + 1e-12).all(), stat
        assert (rows[stat] <= rows[f"{stat}_ci_high"] + 1e-12).all(), stat
    assert summary["jaccard"].dropna().between(0, 1).all()
    assert summary["rank_correlation"].dropna().between(-1, 1).all()


def test_figures_and_token_table(trends):
    figures = trends / "figures"
    for name in ["trends_shares"] + [
        f"trends_groups_{c}_{x}" for c in CLASSES for x in ("flops", "valid_ppl")
    ]:
        assert (figures / f"{name}.png").stat().st_size > 5000, name
        assert (figures / f"{name}.pdf").exists(), name
    page = (trends / "trends_token_table.html").read_text()
    assert all(f"<h2>{m}</h2>" in page for m in (MODELS[0], MODELS[-1]))
    assert page.count('class="tok"') > 20
