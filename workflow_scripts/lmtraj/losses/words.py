"""Word-level trajectories: per-token losses summed onto the whitespace-delimited words of the text.

Two tokenizers cut the same text into different tokens, but into the same words, so classifying words
instead of tokens (trends.units: words) lets the trend classes of two families refer to the same units.
A word's NLL at a checkpoint is the sum of the NLL of the tokens that end inside it
(lmtraj.losses.alignment: a token's NLL goes to its last byte), i.e. -log p(word | left context) when the
word's tokens are exactly the tokens that end in it; its "perplexity" exp(NLL) is 1 / p(word).

Kept: the words all of whose tokens are scored. Left out, per document: the word the first token ends
in (token 0 is context only, never scored), and the last word (the scored text is the document's first
`valid_tokens_per_document` tokens, which may end inside a word).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lmtraj.errors import DataError
from lmtraj.losses.alignment import token_byte_ends, token_bytes, word_index_bytes


@dataclass(frozen=True, eq=False)
class WordUnits:
    index: (
        pd.DataFrame
    )  # one row per kept word: doc, position (word number in the doc), token (text), n_tokens
    row_word: np.ndarray  # per scored token row (tokens.parquet order): its kept word's row, or -1


def _token_ends(tokenizer, ids: Sequence[int]) -> tuple[np.ndarray, bytes]:
    """Byte end of every token of a document and the document's bytes."""
    try:
        pieces = token_bytes(tokenizer, ids)
    except DataError:
        text = tokenizer.decode(list(ids))
        return token_byte_ends(tokenizer, text, ids), text.encode("utf-8")
    return np.cumsum([len(p) for p in pieces], dtype=np.int64), b"".join(pieces)


def word_units(tokenizer, docs: Sequence[np.ndarray]) -> WordUnits:
    """Map the scored token rows of `docs` (positions 1..len-1 of each document, in order: the rows of
    results/losses/tokens.parquet and of every trajectory.npy) onto the documents' words."""
    rows, row_word, offset = [], [], 0
    for d, doc in enumerate(docs):
        ids = [int(t) for t in doc]
        if len(ids) < 2:
            raise DataError(f"document {d} has {len(ids)} token(s); at least 2 are scored")
        ends, data = _token_ends(tokenizer, ids)
        word_of_byte, words = word_index_bytes(data)
        token_word = word_of_byte[ends - 1]
        dropped = {int(token_word[0]), len(words) - 1}
        kept = [w for w in range(len(words)) if w not in dropped]
        number = {w: offset + k for k, w in enumerate(kept)}
        scored = token_word[1:]
        row_word.append(np.array([number.get(int(w), -1) for w in scored], dtype=np.int64))
        counts = np.bincount(scored, minlength=len(words))
        rows += [(d, w, words[w], int(counts[w])) for w in kept]
        offset += len(kept)
    index = pd.DataFrame(rows, columns=["doc", "position", "token", "n_tokens"])
    index.insert(2, "token_id", -1)  # the columns of tokens.parquet; a word has no id
    return WordUnits(index, np.concatenate(row_word) if row_word else np.zeros(0, np.int64))


def word_trajectory(trajectory: np.ndarray, row_word: np.ndarray, n_words: int) -> np.ndarray:
    """[words, checkpoints] sums of the [tokens, checkpoints] NLL matrix (float32, as trajectory.npy);
    NaN where a word's token was not scored at that checkpoint."""
    if len(trajectory) != len(row_word):
        raise DataError(
            f"trajectory has {len(trajectory)} token rows, the word map {len(row_word)} "
            "(tokens.parquet and trajectory.npy come from different runs?)"
        )
    keep = row_word >= 0
    out = np.zeros((n_words, trajectory.shape[1]), dtype=np.float64)
    np.add.at(out, row_word[keep], trajectory[keep].astype(np.float64))
    return out.astype(np.float32)
