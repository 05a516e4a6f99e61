"""Stack every model's class shares into one table (the data of Figure 2)."""

import pandas as pd

from _helpers import setup
from lmtraj.io import write_tsv

log = setup(snakemake)
shares = pd.concat([pd.read_csv(p, sep="\t") for p in snakemake.input.shares], ignore_index=True)
log.info("%d rows for %d models", len(shares), shares["model"].nunique())
write_tsv(snakemake.output[0], shares)
