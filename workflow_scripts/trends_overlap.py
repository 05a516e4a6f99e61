"""Same tokens at the same perplexity: top-k loss-reduction overlap of every model pair under three
checkpoint matchings (validation PPL, FLOPs, step)."""

import numpy as np
import pandas as pd

from _helpers import setup
from lmtraj.io import write_tsv
from lmtraj.trends.overlap import finding_holds, overlap_tables

log = setup(snakemake)
params = snakemake.params
nll = {m: np.load(p) for m, p in zip(params.models, snakemake.input.trajectories, strict=True)}
checkpoints = pd.read_csv(snakemake.input.checkpoints, sep="\t")
detail, summary = overlap_tables(nll, checkpoints, params.top_k, params.matchings)
for row in summary[summary["model_a"] == "all"].itertuples(index=False):
    log.info(
        "all pairs, matched by %s: mean Jaccard %.3f over %d intervals",
        row.matching,
        row.mean_jaccard,
        row.n_intervals,
    )
log.info("matching by validation perplexity gives the highest overlap: %s", finding_holds(summary))
write_tsv(snakemake.output.detail, detail)
write_tsv(snakemake.output.summary, summary)
