"""Per-token losses on units every tokenizer shares: the UTF-8 bytes of the text and its words.

Two models with different tokenizers cut the same text into different tokens, so their per-token
losses cannot be compared position by position. Their bytes and whitespace-delimited words can:

- **Bytes.** Each token covers a run of the text's UTF-8 bytes. Its whole NLL is assigned to the *last*
  byte it covers (the byte at which the model has committed to the token); its other bytes get 0. So the
  sum over any run of bytes that starts and ends at token boundaries equals the sum over those tokens
  exactly (the same numbers are added), and bits per byte = sum NLL / (ln 2 x bytes) is the familiar
  tokenizer-independent rate (as lm-evaluation-harness reports for whole documents).
- **Words.** A word is a maximal run of non-whitespace bytes. Whitespace belongs to the word after it
  (GPT-2 style tokens carry their leading space, " the"); whitespace after the last word belongs to the
  last word. A word's NLL is the sum of its bytes' NLL, i.e. of the tokens that end inside it. A token
  that spans a word boundary (rare: "a b" merged) counts for the word where it ends.

Byte spans come from the tokens themselves for byte-level BPE (GPT-2, Pythia, OPT, GPT-Neo, OLMo and the
workflow's own tokenizers): a token string maps back to its exact bytes through GPT-2's byte-to-unicode
table, so tokens that split a multi-byte character are handled exactly. Other tokenizers fall back to
the character offsets of the encoding (a character split across tokens is then given to the first).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np

from lmtraj.errors import DataError

_WHITESPACE = frozenset(b" \t\n\r\x0b\x0c")


@cache
def _unicode_to_byte() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: the byte-level BPE alphabet -> byte values."""
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    visible += range(ord("®"), ord("ÿ") + 1)
    table, extra = {}, 0
    for b in range(256):
        if b in visible:
            table[chr(b)] = b
        else:
            table[chr(256 + extra)] = b
            extra += 1
    return table


def _is_byte_level(tokenizer) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return backend is not None and type(backend.pre_tokenizer).__name__ == "ByteLevel"


def token_bytes(tokenizer, ids: Sequence[int]) -> list[bytes]:
    """The exact bytes of each token of a byte-level BPE tokenizer."""
    table = _unicode_to_byte()
    out = []
    for token in tokenizer.convert_ids_to_tokens(list(ids)):
        try:
            out.append(bytes(table[ch] for ch in token))
        except KeyError as err:
            raise DataError(f"token {token!r} is not in the byte-level alphabet") from err
    return out


def token_byte_ends(tokenizer, text: str, ids: Sequence[int]) -> np.ndarray:
    """For each token of `ids` (the encoding of `text`, no special tokens), the index one past the last
    byte of the text it covers."""
    data = text.encode("utf-8")
    if _is_byte_level(tokenizer):
        pieces = token_bytes(tokenizer, ids)
        if b"".join(pieces) != data:
            raise DataError(
                "the tokens do not spell the text byte for byte (normalising tokenizer?)"
            )
        return np.cumsum([len(p) for p in pieces], dtype=np.int64)
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    if list(enc["input_ids"]) != list(ids):
        raise DataError("ids are not the encoding of the text")
    char_end = np.cumsum([0, *(len(ch.encode("utf-8")) for ch in text)])
    return np.array([char_end[end] for _, end in enc["offset_mapping"]], dtype=np.int64)


def byte_nll(token_nll: np.ndarray, byte_ends: np.ndarray, n_bytes: int) -> np.ndarray:
    """Spread per-token NLL onto bytes: each token's NLL on its last byte (float64, 0 elsewhere).
    NaN token NLL (tokens that were not scored) stay NaN on their byte."""
    token_nll = np.asarray(token_nll, dtype=np.float64)
    if len(token_nll) != len(byte_ends):
        raise DataError(f"{len(token_nll)} losses for {len(byte_ends)} tokens")
    out = np.zeros(n_bytes, dtype=np.float64)
    out[np.asarray(byte_ends) - 1] = token_nll
    return out


def word_index(text: str) -> tuple[np.ndarray, list[str]]:
    """(word number of every byte, the words): whitespace joins the following word (or the last)."""
    return word_index_bytes(text.encode("utf-8"))


def word_index_bytes(data: bytes) -> tuple[np.ndarray, list[str]]:
    """`word_index` of a text's UTF-8 bytes (which may end inside a character: the scored text is a
    document's first tokens)."""
    spans = []  # (start, end) of each maximal non-whitespace run
    i = 0
    while i < len(data):
        if data[i] in _WHITESPACE:
            i += 1
            continue
        j = i
        while j < len(data) and data[j] not in _WHITESPACE:
            j += 1
        spans.append((i, j))
        i = j
    index = np.zeros(len(data), dtype=np.int64)
    lo = 0
    for w, (_, end) in enumerate(spans):
        hi = len(data) if w == len(spans) - 1 else end
        index[lo:hi] = w
        lo = hi
    words = [data[a:b].decode("utf-8", errors="replace") for a, b in spans]
    return index, words


def word_nll(byte_losses: np.ndarray, words_of_bytes: np.ndarray, n_words: int) -> np.ndarray:
    """Sum of byte NLL per word (float64)."""
    return np.bincount(words_of_bytes, weights=byte_losses, minlength=n_words)


def bits_per_byte(nll_sum: float, n_bytes: int) -> float:
    """Nats over a text's bytes -> bits per byte."""
    return float(nll_sum) / (np.log(2.0) * n_bytes) if n_bytes else float("nan")


def scored_bytes(tokenizer, docs: Sequence[Sequence[int]]) -> int:
    """UTF-8 bytes of the tokens that are scored (every token but each document's first, which is
    context only): the denominator of bits per byte, the same for every checkpoint of a tokenizer."""
    if _is_byte_level(tokenizer):
        return sum(len(b) for doc in docs for b in token_bytes(tokenizer, list(doc)[1:]))
    # Other tokenizers: the decoded text of the scored tokens (a character split at the first
    # scored token is counted whole).
    return sum(len(tokenizer.decode(list(doc)[1:]).encode("utf-8")) for doc in docs)
