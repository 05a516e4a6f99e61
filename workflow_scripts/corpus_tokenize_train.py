"""Encode the training chunks into one token stream (EOS between chunks)."""

import pandas as pd

from _helpers import setup
from lmtraj.io import save_npy
from lmtraj.tokenizer import encode_stream, load_tokenizer

log = setup(snakemake)
tok = load_tokenizer(snakemake.input.tokenizer)
texts = pd.read_json(snakemake.input.docs, lines=True)["text"].tolist()
stream = encode_stream(tok, texts)
log.info("%d training chunks -> %d tokens", len(texts), len(stream))
save_npy(snakemake.output[0], stream)
