"""The row index of word-level trajectories (trends.units: words) and the map from token rows to words."""

from _helpers import setup
from lmtraj.io import load_ragged, save_npy, write_parquet
from lmtraj.losses.words import word_units
from lmtraj.tokenizer import load_tokenizer

log = setup(snakemake)
units = word_units(load_tokenizer(snakemake.input.tokenizer), load_ragged(snakemake.input.tokens))
log.info(
    "%d words kept of %d scored tokens' documents (%d token rows map to them)",
    len(units.index),
    units.index["doc"].nunique(),
    int((units.row_word >= 0).sum()),
)
write_parquet(snakemake.output.index, units.index)
save_npy(snakemake.output.rows, units.row_word)
