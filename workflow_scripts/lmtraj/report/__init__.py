"""report stage: HTML tables for the Snakemake report."""
