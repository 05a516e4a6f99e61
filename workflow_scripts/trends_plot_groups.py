"""Figures 3, 4, 10, 11 (against FLOPs) and 12 (against validation PPL): group perplexity of the tokens
that a model puts in one class, followed through every model's trajectory."""

import pandas as pd

from _helpers import setup
from lmtraj.io import save_figure
from lmtraj.trends_figures import plot_group_curves

log = setup(snakemake)  # noqa: F821
params = snakemake.params  # noqa: F821
wildcards = snakemake.wildcards  # noqa: F821
curves = pd.read_csv(snakemake.input.curves, sep="\t")  # noqa: F821
fig = plot_group_curves(
    curves,
    params.models,
    wildcards.trend_class,
    params.fraction,
    params.selectors,
    x=wildcards.axis,
)
save_figure(fig, snakemake.output[0])  # noqa: F821
