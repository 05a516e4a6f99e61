"""The smoke run's regression tables, figures and findings table (issue 6's contract)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SMOKE_CONFIG

from lmtraj.regression.findings import ABSENT, COLUMNS, NO, YES
from lmtraj.regression.fits import PREDICTORS

# The fit needs the bigbench stage's accuracies (rules/regression.smk).
FIT = yaml.safe_load(SMOKE_CONFIG.read_text()).get("bigbench", {}).get("enabled", True)
needs_fit = pytest.mark.skipif(not FIT, reason="the smoke config disables the bigbench stage")


def smoke() -> dict:
    return yaml.safe_load(SMOKE_CONFIG.read_text())


def test_findings_table(smoke_run):
    findings = pd.read_csv(smoke_run / "results/regression/findings.tsv", sep="\t")
    assert list(findings.columns) == COLUMNS
    assert set(findings["holds"]) <= {YES, NO, ABSENT}
    by = findings.groupby("finding")
    # 1: trends ran, with two models and every matching: a verdict, not "absent".
    assert by.get_group(1)["holds"].isin([YES, NO]).all()
    # 2: two statistics per (decoding, length) of the generation config.
    generation = smoke()["generation"]
    rows = by.get_group(2)
    assert len(rows) == 2 * len(generation["decodings"]) * len(generation["max_new_tokens"])
    assert rows["holds"].isin([YES, NO]).all()
    # 3: a verdict exactly when the regression was fitted.
    assert by.get_group(3)["holds"].isin([YES, NO] if FIT else [ABSENT]).any()
    assert (smoke_run / "results/regression/findings.html").read_text().count("<tr>") >= len(
        findings
    )


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
