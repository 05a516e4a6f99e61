"""The row index shared by every per-token loss vector: document, position, token id and text."""

import numpy as np
import pandas as pd

from _helpers import setup
from lmtraj.io import load_ragged, write_parquet
from lmtraj.tokenizer import load_tokenizer

log = setup(snakemake)
tok = load_tokenizer(snakemake.input.tokenizer)
docs = load_ragged(snakemake.input.tokens)
index = pd.DataFrame(
    {
        "doc": np.concatenate([np.full(len(d) - 1, i) for i, d in enumerate(docs)]),
        "position": np.concatenate([np.arange(1, len(d)) for d in docs]),
        "token_id": np.concatenate([d[1:] for d in docs]),
    }
)
index["token"] = tok.batch_decode([[int(t)] for t in index["token_id"]])
log.info("%d scored tokens in %d documents", len(index), len(docs))
write_parquet(snakemake.output[0], index)
