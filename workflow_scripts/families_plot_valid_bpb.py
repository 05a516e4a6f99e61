"""Validation bits per byte of every family's models against FLOPs and tokens seen: the plot that puts
families with different tokenizers on one scale (png; the pdf beside it)."""

import pandas as pd

from _helpers import setup
from lmtraj.families.figures import plot_valid_bpb
from lmtraj.io import save_figure

log = setup(snakemake)
p = snakemake.params
table = pd.read_csv(snakemake.input.checkpoints, sep="\t")
models = {family: list(names) for family, names in dict(p.models).items()}
save_figure(plot_valid_bpb(table, list(p.families), models), snakemake.output[0])
log.info("wrote %s", snakemake.output[0])
