"""The smoke run's regression tables, figures and findings table (issue 6's contract)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SMOKE_CONFIG

from lmtraj.regression.findings import (
    ABSENT,
    COLUMNS,
    INCONCLUSIVE,
    NO,
    SCORE_LABELS,
    VERDICTS,
    YES,
)
from lmtraj.regression.fits import PREDICTORS

# The fit needs the bigbench stage's accuracies (rules/regression.smk).
FIT = yaml.safe_load(SMOKE_CONFIG.read_text()).get("bigbench", {}).get("enabled", True)
needs_fit = pytest.mark.skipif(not FIT, reason="the smoke config disables the bigbench stage")


def smoke() -> dict:
    return yaml.safe_load(SMOKE_CONFIG.read_text())


def test_findings_table(smoke_run):
    findings = pd.read_csv(smoke_run / "results/regression/findings.tsv", sep="\t")
    assert list(findings.columns) == COLUMNS
    assert set(findings["verdict"]) <= set(VERDICTS)
    # every measured statistic comes with its interval and its null
    measured = findings[findings["verdict"] != ABSENT]
    assert measured[["value_here", "ci_low", "ci_high"]].notna().all().all()
    assert (measured["ci_low"] <= measured["ci_high"]).all()
    assert measured["null"].notna().all()
    by = findings.groupby("finding")
    # 1: trends ran with two models: both paired comparisons of matchings are measured, and the
    # smaller model's upward tokens are followed in the larger one
    one = by.get_group(1)
    paired = one[one["statistic"].str.contains("paired difference")]
    assert len(paired) == 2
    assert paired["verdict"].isin([YES, NO, INCONCLUSIVE]).all()
    assert one["statistic"].str.contains("rising and falling after their first minimum").sum() == 1
    # 2: both models of the smoke run decoded the texts, so no model is left to test them on; two
    # rows per (decoding, length), each saying why
    generation = smoke()["generation"]
    rows = by.get_group(2)
    assert len(rows) == 2 * len(generation["decodings"]) * len(generation["max_new_tokens"])
    assert (rows["verdict"] == ABSENT).all()
    assert rows["note"].str.contains("decoded by").all()
    # 3: two sizes have no interior fold and are too few to cluster: no verdict, with the reasons;
    # BIG-bench and corpus-derived tasks apart
    three = by.get_group(3)
    if FIT:
        interpolation = three[three["statistic"].str.contains("interior folds")]
        assert len(interpolation) == 2
        assert (interpolation["verdict"] == ABSENT).all()
        assert interpolation["note"].str.contains("three or more sizes").all()
        size = three[three["statistic"].str.contains("coefficient of log10 parameters")]
        assert size["statistic"].str.contains("BIG-bench tasks").sum() == 1
        assert size["statistic"].str.contains("corpus-derived tasks").sum() == 1
        assert (size["verdict"] == INCONCLUSIVE).all()
        assert size["note"].str.contains("too few models for a cluster-robust interval").all()
    else:
        assert (three["verdict"] == ABSENT).all()
    html = (smoke_run / "results/regression/findings.html").read_text()
    assert html.count("<tr>") >= len(findings)
    assert "bootstrap interval" in html


def test_intervals_are_reproducible_from_the_seed(smoke_run):
    """The paired matching comparison written by the trends stage is the one the findings table shows."""
    tests = pd.read_csv(smoke_run / "results/trends/overlap_tests.tsv", sep="\t")
    findings = pd.read_csv(smoke_run / "results/regression/findings.tsv", sep="\t")
    best = tests[tests["rival"] == "best"].set_index("score")
    paired = findings[findings["statistic"].str.contains("paired difference")]
    for score, rec in best.iterrows():
        row = paired[paired["statistic"].str.contains(SCORE_LABELS[score], regex=False)]
        assert len(row) == 1
        assert row["ci_low"].item() == pytest.approx(rec["ci_low"])
        assert row["ci_high"].item() == pytest.approx(rec["ci_high"])
    assert (tests["n_boot"] == 1000).all()  # regression.findings.bootstrap's default


@needs_fit
def test_fits_and_coefficients(smoke_run):
    fits = pd.read_csv(smoke_run / "results/regression/fits.tsv", sep="\t")
    mean = fits[(fits["response"] == "accuracy") & (fits["subset"] == "mean")]
    assert list(mean["predictor"]) == list(PREDICTORS)
    assert (mean["n_models"] == len(smoke()["models"])).all()
    assert mean["r2"].between(0, 1).all()
    assert (mean["r2_adj"] <= mean["r2"] + 1e-12).all()
    coefs = pd.read_csv(smoke_run / "results/regression/coefficients.tsv", sep="\t")
    assert (coefs["ci_low"] <= coefs["coef"]).all() and (coefs["coef"] <= coefs["ci_high"]).all()
    # Two models are too few clusters: the HC1 fallback, and the table says so.
    assert set(coefs["cov_type"]) == {"HC1"}


@needs_fit
def test_leave_one_size_out(smoke_run):
    summary = pd.read_csv(smoke_run / "results/regression/loso_summary.tsv", sep="\t")
    mean = summary[(summary["response"] == "accuracy") & (summary["subset"] == "mean")]
    mean = mean.set_index("predictor")
    assert mean.loc["log_ppl", "complete"] and np.isfinite(mean.loc["log_ppl", "rmse_pooled"])
    # With two sizes a model without the held-out size has one size: log params is not identifiable.
    assert not mean.loc["log_params_tokens", "complete"]
    folds = pd.read_csv(smoke_run / "results/regression/loso_folds.tsv", sep="\t")
    assert set(folds["held_out"]) == set(smoke()["models"])
    predictions = pd.read_csv(smoke_run / "results/regression/predictions.tsv", sep="\t")
    points = pd.read_csv(smoke_run / "results/regression/points.tsv", sep="\t")
    n_mean = ((points["response"] == "accuracy") & (points["subset"] == "mean")).sum()
    sel = predictions[(predictions["response"] == "accuracy") & (predictions["subset"] == "mean")]
    assert len(sel) == n_mean * len(PREDICTORS)


@needs_fit
def test_figures(smoke_run):
    for name in ("regression_observed_vs_predicted", "regression_loso_rmse"):
        png = smoke_run / "results/regression/figures" / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert png.with_suffix(".pdf").is_file()
