"""Chunking of documents at natural boundaries and the train / validation split by document."""

from __future__ import annotations

import re

import numpy as np

from lmtraj.corpus.sources import Document
from lmtraj.errors import ConfigError, DataError

# ---------------------------------------------------------------- chunking and split

# How an over-long piece is cut, finest last: paragraphs, lines, after punctuation, words.
# Each level is (pattern, separator that the pattern removed), so chunks re-joined give the text back.
_LEVELS = (
    (re.compile(r"\n\n"), "\n\n"),
    (re.compile(r"\n"), "\n"),
    (re.compile(r"(?<=[.!?;:,]) "), " "),
    (re.compile(r" "), " "),
)


def _units(text: str, limit: int, level: int = 0) -> list[tuple[str, str]]:
    """(separator before, piece) pairs, each piece <= limit chars, cut at the coarsest level possible."""
    if len(text) <= limit and level > 0:
        return [("", text)]
    if level == len(_LEVELS):  # a single "word" longer than the limit
        return [("", text[i : i + limit]) for i in range(0, len(text), limit)]
    pattern, sep = _LEVELS[level]
    out: list[tuple[str, str]] = []
    for j, part in enumerate(p for p in pattern.split(text) if p):
        sub = _units(part, limit, level + 1)
        if j:
            sub[0] = (sep, sub[0][1])
        out += sub
    return out


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """Cut text into chunks of at most about chunk_chars, at paragraph boundaries where possible.

    Paragraphs are packed greedily; a paragraph longer than chunk_chars is cut at line, then
    sentence/clause, then word boundaries. No chunk under a quarter of chunk_chars stands alone:
    it takes the next piece even if that overflows, and a short last chunk joins the one before
    (so a chunk can reach about 1.25 x chunk_chars).
    """
    small = chunk_chars // 4
    chunks: list[list[str]] = []  # [separator before, text]
    for sep, piece in _units(text, chunk_chars):
        if chunks and (
            len(chunks[-1][1]) < small or len(chunks[-1][1]) + len(sep) + len(piece) <= chunk_chars
        ):
            chunks[-1][1] += sep + piece
        else:
            chunks.append([sep, piece])
    if len(chunks) > 1 and len(chunks[-1][1]) < small:
        sep, tail = chunks.pop()
        chunks[-1][1] += sep + tail
    return [c[1] for c in chunks]


def split_documents(
    docs: list[Document], n_valid: int, chunk_chars: int, seed: int
) -> tuple[list[Document], list[Document]]:
    """Chunk every document, then draw n_valid chunks (seeded) as validation; the rest is train.

    Both lists keep the corpus order (document, then chunk), so the split depends only on the seed.
    """
    if chunk_chars < 1:
        raise ConfigError(f"corpus.chunk_chars must be >= 1, got {chunk_chars}")
    if n_valid < 0:
        raise ConfigError(f"corpus.valid_documents must be >= 0, got {n_valid}")
    chunks = [
        Document(doc.source, f"{doc.title} #{k}", text)
        for doc in docs
        for k, text in enumerate(chunk_text(doc.text, chunk_chars), start=1)
    ]
    if len(chunks) < n_valid + 1:
        raise DataError(
            f"the corpus gives only {len(chunks)} chunks of ~{chunk_chars} characters, too few for "
            f"{n_valid} validation chunks plus training; lower corpus.valid_documents below {len(chunks)}"
        )
    is_valid = np.zeros(len(chunks), dtype=bool)
    is_valid[np.random.default_rng(seed).choice(len(chunks), size=n_valid, replace=False)] = True
    train = [c for c, v in zip(chunks, is_valid) if not v]
    valid = [c for c, v in zip(chunks, is_valid) if v]
    return train, valid
