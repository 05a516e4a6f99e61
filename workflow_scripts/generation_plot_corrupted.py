"""Draw the final-checkpoint perplexity of corrupted text against model size (paper Fig. 5 left)."""

import pandas as pd

from _helpers import setup
from lmtraj.generation.figures import corrupted
from lmtraj.io import save_figure

log = setup(snakemake)
table = pd.read_csv(snakemake.input.corrupted, sep="\t")
save_figure(corrupted(table, snakemake.params.models), snakemake.output[0])
