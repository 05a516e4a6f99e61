"""lm-trajectories: the science of every stage, importable and unit-tested; never imports snakemake."""
