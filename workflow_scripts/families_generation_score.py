"""Cross-family perplexity of generated texts (paper §4.3, Fig. 7): the texts one family decoded,
re-encoded with another family's tokenizer and scored by each checkpoint of that family's block; per text,
the NLL sum and count of its generated tokens (the scorer's tokens, lmtraj.families.retokenize) and its
bytes."""

import json
import time
from pathlib import Path

import pandas as pd

from _helpers import setup, torch_setup, usable_specs
from lmtraj.checkpoints.storage import describe, load_checkpoint
from lmtraj.device import forward_dtype
from lmtraj.families.retokenize import retokenized_nll, retokenized_plan
from lmtraj.io import write_parquet
from lmtraj.scoring import whole_sequence_nll
from lmtraj.tokenizer import load_tokenizer

log = setup(snakemake)
device = torch_setup(snakemake, log)
p, inp = snakemake.params, snakemake.input
out_dir = Path(snakemake.output[0])
out_dir.mkdir(parents=True, exist_ok=True)
with open(inp.texts) as fh:
    texts = pd.DataFrame([json.loads(line) for line in fh])
tokenizer = load_tokenizer(inp.tokenizer)
plan = retokenized_plan(texts, tokenizer)
longest = max((len(s) for s in plan.seqs), default=2)
log.info(
    "%s texts (%d) re-encoded for %s: %d sequences to score (longest %d tokens, %d generated tokens)",
    p.decoder_family,
    len(texts),
    p.scorer_family,
    len(plan.seqs),
    longest,
    int(plan.n_tokens.sum()),
)
dtype = forward_dtype(device, p.dtype)
for spec in usable_specs(snakemake, log):
    start = time.monotonic()
    model = load_checkpoint(spec, device, dtype)
    nll = whole_sequence_nll(
        model, list(plan.seqs), token_budget=p.token_budget, device=device, log=log
    )
    scores = retokenized_nll(texts, plan, nll).assign(
        scorer_family=p.scorer_family,
        decoder_family=p.decoder_family,
        model=spec["model"],
        step=spec["step"],
    )
    write_parquet(out_dir / f"step{spec['step']}.parquet", scores)
    seconds = time.monotonic() - start
    log.info(
        "%s: %d tokens of %s texts scored in %.1f s",
        describe(spec),
        int(scores["n_tokens"].sum()),
        p.decoder_family,
        seconds,
    )
