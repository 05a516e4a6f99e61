"""Regress accuracy (and option-PPL gap, trend shares) on perplexity, FLOPs and size; leave one size out.

Writes the tidy tables of `lmtraj.regression.regression_tables` as TSV, and an HTML summary of the pooled
responses for the report.
"""

import pandas as pd

from _helpers import optional_tsv, setup
from lmtraj.io import write_text, write_tsv
from lmtraj.regression.fits import regression_tables
from lmtraj.regression.points import pooled_rows
from lmtraj.report.tables import html_page

log = setup(snakemake)
inp, out, p = snakemake.input, snakemake.output, snakemake.params
read = optional_tsv(inp)
tables = regression_tables(
    pd.read_csv(inp.checkpoints, sep="\t"),
    read("task_scores"),
    read("trend_shares"),
    params_col=f"params_{p.params}",
    predictors=tuple(p.predictors),
    min_clusters=p.min_clusters,
    alpha=p.alpha,
)
for key in ("points", "fits", "coefficients", "loso_folds", "loso_summary", "predictions"):
    write_tsv(out[key], getattr(tables, key))

log.info(
    "leave-one-size-out RMSE (pooled responses):\n%s",
    pooled_rows(tables.loso_summary).to_string(index=False),
)

fit_cols = ["response", "subset", "predictor", "n_points", "n_models", "r2", "r2_adj", "aic", "bic"]
coef_cols = ["response", "subset", "predictor", "term", "coef", "ci_low", "ci_high", "p_value"]
loso_cols = ["response", "subset", "predictor", "rmse_pooled", "rmse_mean_fold", "rank", "complete"]
cov_notes = "; ".join(sorted(set(tables.fits.get("cov_note", pd.Series(dtype=str)).dropna())))
write_text(
    out.html,
    html_page(
        "Is perplexity the better predictor?",
        [
            (
                "Leave-one-size-out error (lower is better)",
                pooled_rows(tables.loso_summary).reindex(columns=loso_cols),
                "Fit on every model but one, predict the held-out model's whole trajectory; RMSE pooled "
                "over all held-out points. 'complete' is false where a predictor cannot be fitted without "
                "the held-out size (e.g. log params with a single training size).",
            ),
            ("In-sample fits", pooled_rows(tables.fits).reindex(columns=fit_cols), ""),
            (
                f"Coefficients ({100 * (1 - p.alpha):g}% confidence intervals)",
                pooled_rows(tables.coefficients).reindex(columns=coef_cols),
                f"Standard errors: {cov_notes}" if cov_notes else "",
            ),
        ],
        intro="Per-task rows are in the TSV tables (fits.tsv, coefficients.tsv, loso_summary.tsv).",
    ),
)
