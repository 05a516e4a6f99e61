"""Figures 3, 4, 10, 11 (against FLOPs) and 12 (against validation PPL): group perplexity of the tokens
that a model puts in one class, followed through every model's trajectory."""

import pandas as pd

from _helpers import setup
from lmtraj.io import save_figure
from lmtraj.trends.figures import plot_group_curves

log = setup(snakemake)
params = snakemake.params
wildcards = snakemake.wildcards
curves = pd.read_csv(snakemake.input.curves, sep="\t")
fig = plot_group_curves(
    curves,
    params.models,
    wildcards.trend_class,
    params.fraction,
    params.selectors,
    x=wildcards.axis,
)
save_figure(fig, snakemake.output[0])
