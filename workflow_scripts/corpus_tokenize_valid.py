"""Encode the held-out documents that every checkpoint is scored on (each cut to its first tokens)
into ragged arrays: the token-analysis set and the validation-perplexity set."""

import pandas as pd

from _helpers import setup
from lmtraj.io import save_npz
from lmtraj.tokenizer import encode_documents, load_tokenizer

log = setup(snakemake)
tok = load_tokenizer(snakemake.input.tokenizer)
for what, docs, path in (
    ("token-analysis", snakemake.input.docs, snakemake.output.tokens),
    ("validation-perplexity", snakemake.input.ppl_docs, snakemake.output.ppl),
):
    texts = pd.read_json(docs, lines=True)["text"].tolist()
    ids, offsets = encode_documents(tok, texts, snakemake.params.max_tokens)
    log.info("%d %s documents -> %d tokens", len(texts), what, len(ids))
    save_npz(path, ids=ids, offsets=offsets)
