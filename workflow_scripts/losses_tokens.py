"""Per-token NLL of the token-analysis text under every checkpoint of a block (one file per checkpoint),
and the checkpoint's validation perplexity on the disjoint validation-perplexity set."""

import time
from pathlib import Path

import numpy as np

from _helpers import setup, torch_setup, usable_specs
from lmtraj.checkpoints.storage import load_checkpoint
from lmtraj.device import forward_dtype
from lmtraj.io import load_ragged, save_npy, write_json
from lmtraj.losses.alignment import scored_bytes
from lmtraj.losses.records import checkpoint_meta, scoring_context
from lmtraj.losses.valid_perplexity import with_valid_perplexity
from lmtraj.scoring import token_nll
from lmtraj.tokenizer import load_tokenizer

log = setup(snakemake)
device = torch_setup(snakemake, log)
p = snakemake.params
dtype = forward_dtype(device, p.dtype)
docs = load_ragged(snakemake.input.tokens)
ppl_docs = load_ragged(snakemake.input.ppl_tokens)
ppl_bytes = scored_bytes(load_tokenizer(snakemake.input.tokenizer), ppl_docs)
out = Path(snakemake.output[0])
out.mkdir(parents=True, exist_ok=True)
for spec in usable_specs(snakemake, log):
    start = time.monotonic()
    model = load_checkpoint(spec, device, dtype)
    context = scoring_context(p.scoring["context"], model, spec)
    nll, ppl_nll = (
        np.concatenate(
            token_nll(
                model,
                texts,
                context=context,
                stride=p.scoring["stride"],
                token_budget=p.scoring["token_budget"],
                device=device,
                log=log,
            )
        ).astype(np.float32)
        for texts in (docs, ppl_docs)
    )
    seconds = time.monotonic() - start
    meta = with_valid_perplexity(
        checkpoint_meta(spec, model, nll, seconds), ppl_nll, seconds, ppl_bytes
    ) | {
        "device": device,
        "dtype": str(dtype),
    }
    log.info(
        "step %d: valid ppl %.3f (%d tokens), analysis-token ppl %.3f, %.0f tokens/s",
        spec["step"],
        meta["valid_ppl"],
        meta["valid_n_tokens"],
        np.exp(meta["analysis_nll"]),
        meta["tokens_per_second"],
    )
    save_npy(out / f"step{spec['step']}.npy", nll)
    write_json(out / f"step{spec['step']}.json", meta)
    del model  # one checkpoint in memory at a time, however many the block holds
