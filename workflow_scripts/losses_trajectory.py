"""Merge a model's per-checkpoint loss files into its tokens x checkpoints matrix and checkpoint table."""

from _helpers import setup, usable_steps
from lmtraj.checkpoints import step_files
from lmtraj.io import save_npy, write_tsv
from lmtraj.losses import build_trajectory

log = setup(snakemake)  # noqa: F821
blocks = snakemake.input.blocks  # noqa: F821
matrix, table = build_trajectory(
    step_files(blocks, "npy"),
    step_files(blocks, "json"),
    usable_steps(snakemake, snakemake.params.steps),  # noqa: F821
    snakemake.wildcards.model,  # noqa: F821
    snakemake.params.flops_params,  # noqa: F821
)
log.info("trajectory %s x %s", *matrix.shape)
save_npy(snakemake.output.trajectory, matrix)  # noqa: F821
write_tsv(snakemake.output.checkpoints, table)  # noqa: F821
