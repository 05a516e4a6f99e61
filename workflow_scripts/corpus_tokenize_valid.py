"""Encode the validation documents (each cut to its first tokens) into the ragged array every stage scores."""

import pandas as pd

from _helpers import setup
from lmtraj.io import save_npz
from lmtraj.tokenizer import encode_documents, load_tokenizer

log = setup(snakemake)
tok = load_tokenizer(snakemake.input.tokenizer)
texts = pd.read_json(snakemake.input.docs, lines=True)["text"].tolist()
ids, offsets = encode_documents(tok, texts, snakemake.params.max_tokens)
log.info("%d validation documents -> %d tokens", len(texts), len(ids))
save_npz(snakemake.output[0], ids=ids, offsets=offsets)
