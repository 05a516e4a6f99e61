"""Tests for lmtraj.regression.figures: the panels, colours and titles the figures promise."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from lmtraj.errors import DataError
from lmtraj.plots import model_colors
from lmtraj.regression.figures import loso_rmse_bars, observed_vs_predicted


def predictions() -> pd.DataFrame:
    rows = []
    for predictor in ("log_ppl", "log_flops"):
        for model in ("s", "l"):
            for step, observed in ((1, 0.3), (2, 0.4)):
                shift = 0.0 if predictor == "log_ppl" else 0.1
                rows.append(
                    {
                        "response": "accuracy",
                        "subset": "mean",
                        "predictor": predictor,
                        "model": model,
                        "step": step,
                        "fraction": np.nan,
                        "observed": observed,
                        "fitted": observed + shift / 2,
                        "predicted_loso": observed + shift,
                    }
                )
    return pd.DataFrame(rows)


def test_observed_vs_predicted_panels_colours_and_rmse():
    fig = observed_vs_predicted(predictions(), ["s", "l"])
    axes = fig.axes
    assert len(axes) == 4  # 2 rows x 2 predictors
    assert "RMSE 0" in axes[0].get_title()  # log_ppl in sample is exact
    assert "RMSE 0.1" in axes[3].get_title()  # log_flops held out is off by 0.1 everywhere
    colors = model_colors(["s", "l"])
    facecolors = [tuple(c.get_facecolor()[0][:3]) for c in axes[0].collections]
    assert facecolors == [pytest.approx(colors[m][:3]) for m in ("s", "l")]
    plt.close(fig)


def test_observed_vs_predicted_needs_rows():
    with pytest.raises(DataError, match="subset 'other'"):
        observed_vs_predicted(predictions(), ["s", "l"], subset="other")


def test_loso_bars_mark_incomplete_predictors():
    summary = pd.DataFrame(
        {
            "response": ["accuracy", "accuracy"],
            "subset": ["mean", "mean"],
            "predictor": ["log_ppl", "log_params_tokens"],
            "rmse_pooled": [0.02, np.nan],
            "complete": [True, False],
        }
    )
    fig = loso_rmse_bars(summary)
    (ax,) = fig.axes
    assert [p.get_height() for p in ax.patches] == pytest.approx([0.02, 0.0])
    assert [t.get_text() for t in ax.texts] == ["incomplete"]
    plt.close(fig)
