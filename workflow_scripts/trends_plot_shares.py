"""Figure 2: share of stagnated / upward / downward / unclassified tokens against the training fraction."""

import pandas as pd

from _helpers import setup
from lmtraj.io import save_figure
from lmtraj.trends.figures import plot_class_shares

log = setup(snakemake)
shares = pd.read_csv(snakemake.input.shares, sep="\t")
save_figure(plot_class_shares(shares, snakemake.params.models), snakemake.output[0])
