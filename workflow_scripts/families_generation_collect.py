"""Collect the cross-family scores of generated texts (every scoring checkpoint, every decoding family)
into one table: perplexity per scorer token and bits per byte (paper §4.3, Fig. 7)."""

from pathlib import Path

import pandas as pd

from _helpers import setup
from lmtraj.errors import DataError
from lmtraj.families.retokenize import CROSS_KEYS, cross_perplexity_table
from lmtraj.io import write_tsv

log = setup(snakemake)
inp, out = snakemake.input, snakemake.output
files = [f for d in inp.scores for f in sorted(Path(d).glob("step*.parquet"))]
if not files:
    raise DataError(f"families: no step*.parquet in the score directories {list(inp.scores)}")
scores = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
table = cross_perplexity_table(scores).sort_values(CROSS_KEYS, kind="stable")
write_tsv(out.table, table)
log.info(
    "%d score files -> %d rows (%d scorer x decoder family pairs)",
    len(files),
    len(table),
    len(table[["scorer_family", "decoder_family"]].drop_duplicates()),
)
