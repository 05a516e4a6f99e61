"""Per-token NLL of the validation text under every checkpoint of a block (one file per checkpoint)."""

import time
from pathlib import Path

import numpy as np

from _helpers import setup, torch_setup, usable_specs
from lmtraj.checkpoints.storage import load_checkpoint
from lmtraj.device import forward_dtype
from lmtraj.io import load_ragged, save_npy, write_json
from lmtraj.losses.records import checkpoint_meta, scoring_context
from lmtraj.scoring import token_nll

log = setup(snakemake)
device = torch_setup(snakemake, log)
p = snakemake.params
dtype = forward_dtype(device, p.dtype)
docs = load_ragged(snakemake.input.tokens)
out = Path(snakemake.output[0])
out.mkdir(parents=True, exist_ok=True)
for spec in usable_specs(snakemake, log):
    start = time.monotonic()
    model = load_checkpoint(spec, device, dtype)
    context = scoring_context(p.scoring["context"], model, spec)
    nll = np.concatenate(
        token_nll(
            model,
            docs,
            context=context,
            stride=p.scoring["stride"],
            token_budget=p.scoring["token_budget"],
            device=device,
            log=log,
        )
    ).astype(np.float32)
    seconds = time.monotonic() - start
    meta = checkpoint_meta(spec, model, nll, seconds) | {"device": device, "dtype": str(dtype)}
    log.info(
        "step %d: valid ppl %.3f, %.0f tokens/s",
        spec["step"],
        meta["valid_ppl"],
        meta["tokens_per_second"],
    )
    save_npy(out / f"step{spec['step']}.npy", nll)
    write_json(out / f"step{spec['step']}.json", meta)
    del model  # one checkpoint in memory at a time, however many the block holds
