"""Texts decoded by one family scored by another family's checkpoints (paper Fig. 7), one figure per
entry of params.panels ({setting, decoding, max_new_tokens}), written to the outputs in the same order
(png; the pdf beside each)."""

import pandas as pd

from _helpers import setup
from lmtraj.families.figures import plot_cross_generation
from lmtraj.io import save_figure

log = setup(snakemake)
panels, outputs = list(snakemake.params.panels), list(snakemake.output)
if len(panels) != len(outputs):
    # The rule pairs panels with outputs by position; a mismatch would put a figure under another's name.
    raise ValueError(f"{len(panels)} panels but {len(outputs)} outputs: they must pair one to one")
table = pd.read_csv(snakemake.input.table, sep="\t")
checkpoints = pd.read_csv(snakemake.input.checkpoints, sep="\t")
for panel, path in zip(panels, outputs):
    fig = plot_cross_generation(
        table, checkpoints, panel["setting"], panel["decoding"], int(panel["max_new_tokens"])
    )
    save_figure(fig, path)
    log.info("wrote %s (%s)", path, panel)
