"""Findings across model families: does bits per byte predict downstream accuracy better than size or
compute, across families and with family as a factor (lmtraj.families.findings); points and rows as TSV."""

import pandas as pd

from _helpers import setup
from lmtraj.errors import ConfigError
from lmtraj.families.findings import findings_table, pooled_points
from lmtraj.io import write_tsv

log = setup(snakemake)
inp, out, p = snakemake.input, snakemake.output, snakemake.params
families = list(p.families)
checkpoints, means = list(inp.checkpoints), list(inp.means)
if not len(families) == len(checkpoints) == len(means):
    raise ConfigError(
        f"families_findings: {len(families)} families {families} but {len(checkpoints)} checkpoints "
        f"and {len(means)} means tables; the rule must give one of each per family, in order"
    )
# Model names are read as text: a name like "1e6" must not become a number.
tables = {
    family: (
        pd.read_csv(ck, sep="\t", dtype={"model": str}),
        pd.read_csv(mean, sep="\t", dtype={"model": str}),
    )
    for family, ck, mean in zip(families, checkpoints, means)
}
options = {
    "n_boot": int(p.findings["bootstrap"]),
    "confidence": float(p.findings["confidence"]),
    "seed": int(p.findings["seed"]),
}
points = pooled_points(tables)
table = findings_table(tables, **options)
log.info(
    "%d points from %d families; findings:\n%s",
    len(points),
    len(families),
    table[["statistic", "value_here", "ci_low", "ci_high", "verdict"]].to_string(index=False),
)
write_tsv(out.points, points)
write_tsv(out.findings, table)
