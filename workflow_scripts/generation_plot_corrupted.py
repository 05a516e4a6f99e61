"""Draw the final-checkpoint perplexity of corrupted text against model size (paper Fig. 5 left)."""

import pandas as pd

from _helpers import setup
from lmtraj.generation_figures import corrupted
from lmtraj.io import save_figure

log = setup(snakemake)  # noqa: F821
table = pd.read_csv(snakemake.input.corrupted, sep="\t")  # noqa: F821
save_figure(corrupted(table, snakemake.params.models), snakemake.output[0])  # noqa: F821
