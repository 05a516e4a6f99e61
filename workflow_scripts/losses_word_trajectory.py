"""A model's words x checkpoints NLL matrix: its token trajectory summed onto words."""

import numpy as np

from _helpers import setup
from lmtraj.io import save_npy
from lmtraj.losses.words import word_trajectory

log = setup(snakemake)
rows = np.load(snakemake.input.rows)
matrix = word_trajectory(np.load(snakemake.input.trajectory), rows, int(rows.max(initial=-1)) + 1)
log.info("word trajectory %s x %s", *matrix.shape)
save_npy(snakemake.output[0], matrix)
