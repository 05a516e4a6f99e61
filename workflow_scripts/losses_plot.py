"""Figure 1: validation perplexity against FLOPs, tokens and steps, one line per model."""

import pandas as pd

from _helpers import setup
from lmtraj.io import save_figure
from lmtraj.losses.figures import plot_valid_ppl

log = setup(snakemake)
table = pd.read_csv(snakemake.input.checkpoints, sep="\t")
save_figure(plot_valid_ppl(table, snakemake.params.models), snakemake.output[0])
