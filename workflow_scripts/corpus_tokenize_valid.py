"""Encode the validation documents (each cut to its first tokens) into the ragged array every stage scores."""

import pandas as pd

from _helpers import setup
from lmtraj.io import save_npz
from lmtraj.tokenizer import encode_documents, load_tokenizer

log = setup(snakemake)  # noqa: F821
tok = load_tokenizer(snakemake.input.tokenizer)  # noqa: F821
texts = pd.read_json(snakemake.input.docs, lines=True)["text"].tolist()  # noqa: F821
ids, offsets = encode_documents(tok, texts, snakemake.params.max_tokens)  # noqa: F821
log.info("%d validation documents -> %d tokens", len(texts), len(ids))
save_npz(snakemake.output[0], ids=ids, offsets=offsets)  # noqa: F821
