"""Classify each token of one model at every training fraction: per-token table and class shares."""

import numpy as np
import pandas as pd

from _helpers import setup
from lmtraj.io import write_parquet, write_tsv
from lmtraj.trends.classes import (
    CLASSES,
    MIN_POINTS,
    TrendRules,
    analyse_trends,
    class_shares,
    token_table,
)

log = setup(snakemake)
params = snakemake.params
model = snakemake.wildcards.model
nll = np.load(snakemake.input.trajectory)
steps = pd.read_csv(snakemake.input.checkpoints, sep="\t")["step"].to_numpy()
tokens = pd.read_parquet(snakemake.input.tokens)
log.info("%s: %d tokens x %d checkpoints, regressor %s", model, *nll.shape, params.regressor)

results = analyse_trends(
    nll, steps, params.fractions, params.regressor, TrendRules(**params.thresholds)
)
for result in results:
    window = result.fit.window
    shares = np.bincount(result.classes, minlength=len(CLASSES)) / max(result.classes.size, 1)
    log.info(
        "p=%g: steps %d..%d (%d checkpoints): %s",
        window.fraction,
        window.start_step,
        window.final_step,
        window.n_checkpoints,
        ", ".join(f"{name} {share:.1%}" for name, share in zip(CLASSES, shares, strict=True)),
    )
    if window.n_checkpoints < MIN_POINTS:
        log.warning(
            "p=%g: fewer than %d checkpoints in the window; every token is unclassified",
            window.fraction,
            MIN_POINTS,
        )

write_parquet(snakemake.output.tokens, token_table(results, tokens, model))
write_tsv(snakemake.output.shares, class_shares(results, model))
