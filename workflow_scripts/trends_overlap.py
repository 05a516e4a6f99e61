"""Same tokens at the same perplexity: the paired comparison of checkpoint matchings (validation PPL,
FLOPs, step, tokens seen) on the same reference intervals, with intervals from a bootstrap over
documents (lmtraj.trends.overlap)."""

import numpy as np
import pandas as pd

from _helpers import setup
from lmtraj.io import write_tsv
from lmtraj.regression.bootstrap import Bootstrap
from lmtraj.trends.overlap import overlap_tables

log = setup(snakemake)
params = snakemake.params
nll = {m: np.load(p) for m, p in zip(params.models, snakemake.input.trajectories, strict=True)}
checkpoints = pd.read_csv(snakemake.input.checkpoints, sep="\t")
docs = pd.read_parquet(snakemake.input.tokens, columns=["doc"])["doc"].to_numpy()
detail, summary, tests = overlap_tables(
    nll, checkpoints, docs, params.top_k, params.matchings, Bootstrap(**params.bootstrap)
)
for row in summary[summary["model_a"] == "all"].itertuples(index=False):
    log.info(
        "all pairs, matched by %s: rank correlation %.3f, Jaccard %.3f over %d intervals",
        row.matching,
        row.rank_correlation,
        row.jaccard,
        row.n_intervals,
    )
for row in tests.itertuples(index=False):
    log.info(
        "%s: valid_ppl minus %s = %.4f [%.4f, %.4f]",
        row.score,
        row.rival,
        row.estimate,
        row.ci_low,
        row.ci_high,
    )
write_tsv(snakemake.output.detail, detail)
write_tsv(snakemake.output.summary, summary)
write_tsv(snakemake.output.tests, tests)
