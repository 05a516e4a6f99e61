"""Validation perplexity of a checkpoint, measured on the validation-perplexity set.

The per-token losses (and so the trends, Table 3 and every "same tokens" comparison) are of the
token-analysis set; the perplexity that places a checkpoint on the x axis comes from a disjoint set
(corpus.ppl_documents), so matching checkpoints by it does not equalise the studied tokens' mean NLL
by construction.
"""

from __future__ import annotations

import numpy as np

from lmtraj.errors import DataError
from lmtraj.losses.alignment import bits_per_byte

VALID_SET = (
    "ppl_documents"  # the corpus output (results/corpus/<name>.jsonl) valid_ppl is measured on
)


def with_valid_perplexity(
    meta: dict, ppl_nll: np.ndarray, seconds: float, n_bytes: int | None = None
) -> dict:
    """The checkpoint record `meta` (lmtraj.losses.records.checkpoint_meta of the analysis tokens) with
    valid_nll / valid_ppl taken from the validation-perplexity set's NLL, the analysis tokens' own mean
    kept as analysis_nll, and the throughput over both sets in `seconds`. With `n_bytes` (the UTF-8
    bytes of the set's scored tokens, lmtraj.losses.alignment.scored_bytes) it adds valid_bpb, bits per
    byte: the tokenizer-independent rate that puts models of different families on one axis."""
    ppl_nll = np.asarray(ppl_nll, dtype=np.float64)
    where = f"model {meta['model']!r} step {meta['step']}"
    if ppl_nll.size == 0:
        raise DataError(f"{where}: the validation-perplexity set ({VALID_SET}) has no scored token")
    if not np.isfinite(ppl_nll).all():
        raise DataError(f"{where}: non-finite losses on the validation-perplexity set")
    valid_nll = float(ppl_nll.mean())
    n_all = int(meta["n_tokens"]) + int(ppl_nll.size)
    return {
        **meta,
        "analysis_nll": float(meta["nll_sum"]) / max(int(meta["n_tokens"]), 1),
        "valid_set": VALID_SET,
        "valid_n_tokens": int(ppl_nll.size),
        "valid_nll_sum": float(ppl_nll.sum()),
        "valid_nll": valid_nll,
        "valid_ppl": float(np.exp(valid_nll)),
        "valid_bytes": n_bytes,
        "valid_bpb": bits_per_byte(ppl_nll.sum(), n_bytes) if n_bytes else None,
        "seconds": seconds,
        "tokens_per_second": n_all / max(seconds, 1e-9),
    }
