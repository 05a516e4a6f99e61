"""Perplexity of validation sequences with 0-100% of their tokens replaced by random tokens, under the
final checkpoint of one model (paper Fig. 5 left)."""

import numpy as np

from _helpers import setup, torch_setup
from lmtraj.checkpoints.storage import describe, load_checkpoint
from lmtraj.device import forward_dtype
from lmtraj.generation.corruption import (
    corrupt_sequences,
    corruption_perplexity,
    truncate_documents,
)
from lmtraj.io import load_ragged, write_tsv
from lmtraj.scoring import token_nll
from lmtraj.tokenizer import load_tokenizer

log = setup(snakemake)
device = torch_setup(snakemake, log)
p, inp = snakemake.params, snakemake.input
c = p.corruption
tok = load_tokenizer(inp.tokenizer)
docs, seqs = truncate_documents(load_ragged(inp.tokens), c["n_documents"], c["max_tokens"])
# Replacements come from the tokenizer's ordinary tokens (no end-of-text), as random subwords.
table = corrupt_sequences(
    seqs, docs, c["levels_percent"], len(tok), p.seed, exclude_ids=tok.all_special_ids
)
log.info("%d documents x %d levels", len(docs), len(c["levels_percent"]))
model = load_checkpoint(p.spec, device, forward_dtype(device, p.dtype))
context = min(c["max_tokens"], model.config.max_position_embeddings)
nll = token_nll(
    model,
    list(table["token_ids"]),
    context=context,
    stride=max(1, context // 2),
    token_budget=p.token_budget,
    device=device,
    log=log,
)
table["nll_sum"] = [float(x.sum(dtype=np.float64)) for x in nll]
table["n_scored"] = [len(x) for x in nll]
summary = corruption_perplexity(table)
summary.insert(0, "model", p.spec["model"])
summary.insert(1, "step", p.spec["step"])
summary["vocab_size"] = len(tok)
write_tsv(snakemake.output[0], summary)
log.info("%s:\n%s", describe(p.spec), summary.to_string(index=False))
