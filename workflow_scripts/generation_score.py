"""Perplexity of every generated text under each checkpoint of one block: per text, the NLL sum and count
of its generated tokens given its prompt (prompt tokens are context only)."""

import json
import time
from pathlib import Path

import pandas as pd

from _helpers import setup, torch_setup, usable_specs
from lmtraj.checkpoints.storage import describe, load_checkpoint
from lmtraj.device import forward_dtype
from lmtraj.generation.texts import generated_nll, scoring_plan
from lmtraj.io import write_parquet
from lmtraj.scoring import whole_sequence_nll

log = setup(snakemake)
device = torch_setup(snakemake, log)
p, inp = snakemake.params, snakemake.input
out_dir = Path(snakemake.output[0])
out_dir.mkdir(parents=True, exist_ok=True)
with open(inp.texts) as fh:
    texts = pd.DataFrame([json.loads(line) for line in fh])
seqs, index = scoring_plan(texts)
longest = max((len(s) for s in seqs), default=2)
log.info(
    "%d texts -> %d sequences to score (longest %d tokens)",
    len(texts),
    len(seqs),
    longest,
)
dtype = forward_dtype(device, p.dtype)
for spec in usable_specs(snakemake, log):
    start = time.monotonic()
    model = load_checkpoint(spec, device, dtype)
    nll = whole_sequence_nll(model, seqs, token_budget=p.token_budget, device=device, log=log)
    scores = generated_nll(texts, index, nll).assign(model=spec["model"], step=spec["step"])
    write_parquet(out_dir / f"step{spec['step']}.parquet", scores)
    seconds = time.monotonic() - start
    n = int(scores["n_tokens"].sum())
    log.info("%s: %d generated tokens scored in %.1f s", describe(spec), n, seconds)
