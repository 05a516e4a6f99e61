"""Train one model of the embedded suite, saving every checkpoint of the shared grid."""

import re
from pathlib import Path

import numpy as np
import pandas as pd

from _helpers import setup, torch_setup
from lmtraj.checkpoints.model import ModelShape, build_model, count_parameters
from lmtraj.checkpoints.storage import save_checkpoint
from lmtraj.checkpoints.train import TrainSettings, train
from lmtraj.io import write_tsv
from lmtraj.tokenizer import load_tokenizer

log = setup(snakemake)
device = torch_setup(snakemake, log)
p, out = snakemake.params, snakemake.output
tok = load_tokenizer(snakemake.input.tokenizer)
tokens = np.load(snakemake.input.tokens)
t = p.training
settings = TrainSettings(
    steps=t["steps"],
    batch_size=t["batch_size"],
    context=t["context"],
    lr=t["lr"],
    min_lr_ratio=t["min_lr_ratio"],
    warmup_fraction=t["warmup_fraction"],
    weight_decay=t["weight_decay"],
    grad_clip=t["grad_clip"],
    seed=p.seed,
)
shape = ModelShape(
    p.model["d_model"], p.model["n_layers"], p.model["n_heads"], t["context"], len(tok)
)
shape.validate(snakemake.wildcards.model)
model = build_model(shape, tok.eos_token_id, p.seed)
counts = count_parameters(model)
log.info("shape %s, %s, %d training tokens available", shape, counts, len(tokens))
dirs = {int(re.search(r"step(\d+)$", d).group(1)): Path(d) for d in out.checkpoints}


def save(step, model, loss):
    meta = {"model": snakemake.wildcards.model, "step": step, "train_loss": loss}
    meta |= {"tokens_seen": step * settings.tokens_per_step, **counts}
    save_checkpoint(model, dirs[step], meta)


history = train(model, tokens, settings, sorted(dirs), save, log, device=device)
write_tsv(out.history, pd.DataFrame(history))
