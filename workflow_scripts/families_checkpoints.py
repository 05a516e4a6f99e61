"""Every family's checkpoints table in one, with a family column: the x axes (bits per byte, FLOPs) the
families are compared on."""

import pandas as pd

from _helpers import setup
from lmtraj.io import write_tsv

log = setup(snakemake)
tables = []
for family, path in zip(snakemake.params.families, snakemake.input.checkpoints, strict=True):
    table = pd.read_csv(path, sep="\t", dtype={"model": str})
    tables.append(table.assign(family=family))
    log.info("%s: %d checkpoints of %d models", family, len(table), table["model"].nunique())
merged = pd.concat(tables, ignore_index=True)
write_tsv(snakemake.output[0], merged[["family", *[c for c in merged.columns if c != "family"]]])
