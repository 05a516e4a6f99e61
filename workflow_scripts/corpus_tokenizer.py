"""Train the run's byte-level BPE, or copy the hub / local tokenizer every model must share."""

import pandas as pd

from _helpers import setup
from lmtraj.errors import ConfigError
from lmtraj.suite import resolve
from lmtraj.tokenizer import load_tokenizer, save_tokenizer, train_bpe

log = setup(snakemake, offline=False)  # noqa: F821
cfg = snakemake.params.tokenizer  # noqa: F821
if cfg["source"] == "train":
    texts = pd.read_json(snakemake.input.train, lines=True)["text"].tolist()  # noqa: F821
    if not texts:
        raise ConfigError("tokenizer.source is train but there are no training documents")
    tok = train_bpe(texts, cfg["vocab_size"])
elif cfg["source"] == "hf":
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(
        cfg["repo"],
        revision=cfg.get("revision", "main"),
        cache_dir=snakemake.params.hub_cache,  # noqa: F821
    )
else:
    tok = load_tokenizer(resolve(cfg["path"], snakemake.params.basedir))  # noqa: F821
log.info("tokenizer with %d tokens (source %s)", len(tok), cfg["source"])
save_tokenizer(tok, snakemake.output[0])  # noqa: F821
