"""Corrupted text (Xia et al. 2023, §4.1, Fig. 5 left): validation sequences with a share of their tokens
replaced by random tokens, to be scored by the final checkpoint of each model.

Corruption levels are nested: for each sequence one random permutation of its positions and one random
replacement token per position are drawn, and level q replaces the first round(q·n) positions of that
permutation. So 40% contains the 20% corruption and adds to it, and the levels differ only in how much
is replaced, not in which random draw they got. A replacement always differs from the token it replaces
(so 100% changes every token) and never is one of the `exclude_ids` (e.g. end-of-text), drawn uniformly
from the rest of the vocabulary. Draws for a sequence come from its own stream (seed, document index),
so adding documents does not change the corruption of the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from lmtraj.errors import ConfigError, DataError


def truncate_documents(
    docs: Sequence[np.ndarray], n_documents: int, max_tokens: int = 100, min_tokens: int = 2
) -> tuple[list[int], list[np.ndarray]]:
    """The first `max_tokens` tokens of the first `n_documents` documents with >= `min_tokens` tokens
    (`docs` as `lmtraj.io.load_ragged` gives them). Returns (document indices, sequences)."""
    if max_tokens < min_tokens:
        raise ConfigError(
            f"generation.corruption.max_tokens must be >= {min_tokens}, got {max_tokens}"
        )
    picked = [d for d, doc in enumerate(docs) if len(doc) >= min_tokens][:n_documents]
    if not picked:
        raise DataError(
            f"no validation document has >= {min_tokens} tokens ({len(docs)} documents)"
        )
    return picked, [np.asarray(docs[d][:max_tokens]) for d in picked]


def corrupt_sequences(
    seqs: Sequence[np.ndarray],
    doc_ids: Sequence[int],
    levels_percent: Sequence[float],
    vocab_size: int,
    seed: int,
    exclude_ids: Sequence[int] = (),
) -> pd.DataFrame:
    """One row per (document, level): `doc, level_percent, n_replaced, n_tokens, token_ids` (int64 array).

    Level 0 reproduces the clean sequence, a useful reference line.
    """
    levels = [float(q) for q in levels_percent]
    bad = [q for q in levels if not 0 <= q <= 100]
    if bad:
        raise ConfigError(f"generation.corruption.levels_percent must lie in [0, 100], got {bad}")
    if len(seqs) != len(doc_ids):
        raise DataError(f"{len(seqs)} sequences but {len(doc_ids)} document ids")
    allowed = np.setdiff1d(np.arange(vocab_size), np.asarray(exclude_ids, dtype=np.int64))
    if allowed.size < 2:
        raise ConfigError(
            f"vocabulary of {vocab_size} ids minus {list(exclude_ids)} leaves < 2 to draw from"
        )
    rows = []
    for doc, seq in zip(doc_ids, seqs, strict=True):
        seq = np.asarray(seq, dtype=np.int64)
        n = seq.size
        if n and (seq.min() < 0 or seq.max() >= vocab_size):
            raise DataError(f"document {doc}: token ids outside [0, {vocab_size})")
        rng = np.random.default_rng([seed, int(doc)])
        order = rng.permutation(n)
        replacement = _draw_different(rng, seq, allowed)
        for q in levels:
            k = round(q / 100 * n)
            out = seq.copy()
            out[order[:k]] = replacement[order[:k]]
            rows.append(
                {
                    "doc": int(doc),
                    "level_percent": q,
                    "n_replaced": k,
                    "n_tokens": n,
                    "token_ids": out,
                }
            )
    return pd.DataFrame(rows)


def _draw_different(rng: np.random.Generator, seq: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """One uniform draw from `allowed` per position, excluding that position's own token."""
    pos = np.searchsorted(allowed, seq)
    in_allowed = (pos < allowed.size) & (allowed[np.minimum(pos, allowed.size - 1)] == seq)
    # Draw from allowed.size - 1 slots when the original is allowed, then skip over its slot.
    draw = (rng.random(seq.size) * (allowed.size - in_allowed)).astype(np.int64)
    draw += in_allowed & (draw >= pos)
    return allowed[draw]


def corruption_perplexity(scored: pd.DataFrame) -> pd.DataFrame:
    """Token-weighted perplexity per level: exp(sum NLL / number of scored tokens).

    `scored` has one row per (doc, level_percent) with `nll_sum` and `n_scored`.
    """
    grouped = scored.groupby("level_percent", sort=True)[["nll_sum", "n_scored"]].sum()
    grouped["ppl"] = np.exp(grouped["nll_sum"] / grouped["n_scored"])
    grouped["n_documents"] = scored.groupby("level_percent", sort=True)["doc"].nunique()
    return grouped.reset_index()
