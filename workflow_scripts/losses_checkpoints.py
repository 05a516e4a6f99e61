"""One tidy table of every (model, checkpoint): steps, tokens, FLOPs, parameters, validation perplexity."""

import pandas as pd

from _helpers import setup
from lmtraj.io import write_tsv

log = setup(snakemake)
table = pd.concat([pd.read_csv(p, sep="\t") for p in snakemake.input], ignore_index=True)
log.info("%d checkpoints of %d models", len(table), table["model"].nunique())
write_tsv(snakemake.output[0], table)
