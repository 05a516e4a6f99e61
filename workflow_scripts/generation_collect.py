"""Collect the generated-text scores of every checkpoint into perplexity tables (with FLOPs, size and
validation perplexity from losses/checkpoints.tsv), the final-checkpoint table and the corrupted-text table."""

from pathlib import Path

import pandas as pd

from _helpers import setup
from lmtraj.errors import DataError
from lmtraj.generation.texts import final_table, perplexity_table
from lmtraj.io import write_tsv

log = setup(snakemake)
p, inp, out = snakemake.params, snakemake.input, snakemake.output
files = [f for d in inp.scores for f in sorted(Path(d).glob("step*.parquet"))]
scores = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
ckpts = pd.read_csv(inp.checkpoints, sep="\t")
columns = ["model", "step", "tokens_seen", "flops", "params_total", "valid_ppl"]
ppl = perplexity_table(scores).merge(
    ckpts[columns], on=["model", "step"], how="left", validate="m:1"
)
missing = ppl.loc[ppl["valid_ppl"].isna(), ["model", "step"]].drop_duplicates()
if not missing.empty:
    raise DataError(f"{inp.checkpoints} has no row for {missing.to_dict(orient='records')}")
order = {m: i for i, m in enumerate(p.models)}
ppl = ppl.sort_values(
    ["model", "step"],
    key=lambda c: c.map(order) if c.name == "model" else c,
    kind="stable",
)
write_tsv(out.perplexity, ppl)

final_steps = ckpts.groupby("model")["step"].max().to_dict()
final = final_table(ppl, final_steps, p.models)
write_tsv(out.final, final)
log.info("final-checkpoint perplexity of generated tokens:\n%s", final.to_string(index=False))

size = ckpts[["model", "params_total"]].drop_duplicates("model")
corrupted = pd.concat([pd.read_csv(f, sep="\t") for f in inp.corrupted], ignore_index=True)
corrupted = corrupted.merge(size, on="model", how="left", validate="m:1")
write_tsv(out.corrupted, corrupted)
log.info(
    "corrupted text:\n%s",
    corrupted.pivot(index="level_percent", columns="model", values="ppl"),
)
