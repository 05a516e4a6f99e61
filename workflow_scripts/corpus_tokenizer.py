"""Train the run's byte-level BPE, or copy the hub / local tokenizer every model must share."""

import pandas as pd

from _helpers import setup
from lmtraj.checkpoints.suite import resolve
from lmtraj.errors import ConfigError
from lmtraj.tokenizer import load_tokenizer, save_tokenizer, train_bpe

log = setup(snakemake, offline=False)
cfg = snakemake.params.tokenizer
if cfg["source"] == "train":
    texts = pd.read_json(snakemake.input.train, lines=True)["text"].tolist()
    if not texts:
        raise ConfigError("tokenizer.source is train but there are no training documents")
    tok = train_bpe(texts, cfg["vocab_size"])
elif cfg["source"] == "hf":
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(
        cfg["repo"],
        revision=cfg.get("revision", "main"),
        cache_dir=snakemake.params.hub_cache,
    )
else:
    tok = load_tokenizer(resolve(cfg["path"]))  # relative to the workflow folder
log.info("tokenizer with %d tokens (source %s)", len(tok), cfg["source"])
save_tokenizer(tok, snakemake.output[0])
