"""Merge a model's per-checkpoint loss files into its tokens x checkpoints matrix and checkpoint table."""

from _helpers import setup, usable_steps
from lmtraj.checkpoints.storage import step_files
from lmtraj.io import save_npy, write_tsv
from lmtraj.losses.records import build_trajectory

log = setup(snakemake)
blocks = snakemake.input.blocks
matrix, table = build_trajectory(
    step_files(blocks, "npy"),
    step_files(blocks, "json"),
    usable_steps(snakemake, snakemake.params.steps),
    snakemake.wildcards.model,
    snakemake.params.flops_params,
)
log.info("trajectory %s x %s", *matrix.shape)
save_npy(snakemake.output.trajectory, matrix)
write_tsv(snakemake.output.checkpoints, table)
