"""Draw the generated-text trajectories of one (decoding, length): against FLOPs with the final-checkpoint
row (paper Fig. 6, 14, 15) and against validation perplexity (Fig. 16)."""

import pandas as pd

from _helpers import setup
from lmtraj.generation.figures import against_valid_ppl, trajectories
from lmtraj.io import save_figure

log = setup(snakemake)
p, wc, out = snakemake.params, snakemake.wildcards, snakemake.output
ppl = pd.read_csv(snakemake.input.perplexity, sep="\t")
save_figure(trajectories(ppl, p.models, wc.decoding, int(wc.length)), out.flops)
save_figure(against_valid_ppl(ppl, p.models, wc.decoding, int(wc.length)), out.valid_ppl)
