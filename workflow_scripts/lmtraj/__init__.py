"""lm-trajectories: the science behind the workflow (pure, importable, no snakemake)."""
