"""Figure 1: validation perplexity against FLOPs, tokens and steps, one line per model."""

import pandas as pd

from _helpers import setup
from lmtraj.io import save_figure
from lmtraj.losses_figures import plot_valid_ppl

log = setup(snakemake)  # noqa: F821
table = pd.read_csv(snakemake.input.checkpoints, sep="\t")  # noqa: F821
save_figure(plot_valid_ppl(table, snakemake.params.models), snakemake.output[0])  # noqa: F821
