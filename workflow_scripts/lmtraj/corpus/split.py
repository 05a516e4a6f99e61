"""Chunking of documents at natural boundaries, and the split into training text and three disjoint
held-out sets (see docs/architecture.md, corpus):

- ``valid``: the token-analysis documents (per-token trends, Table 3, corrupted text, generation
  prompts), ``corpus.valid_documents`` of them;
- ``ppl``: the validation-perplexity documents, whose perplexity is the x axis of every figure and the
  regression's predictor, ``corpus.ppl_documents``;
- ``task``: the source of the corpus-derived multiple-choice tasks, ``corpus.task_documents``.

Matching checkpoints by a perplexity measured on the very tokens under study would equalise their mean
NLL by construction; drawing the three sets from disjoint chunks removes that circularity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from lmtraj.corpus.sources import Document
from lmtraj.errors import ConfigError

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
    (so a chunk can reach about 1.25 x chunk_chars). chunk_chars 0 keeps the text whole.
    """
    if chunk_chars < 0:
        raise ConfigError(
            f"corpus.chunk_chars must be >= 0 (0 = keep documents whole), got {chunk_chars}"
        )
    if chunk_chars == 0:
        return [text]
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


# Held-out sets in the order they are drawn, with the config key that sizes each.
HELDOUT_KEYS = {
    "valid": "corpus.valid_documents",
    "ppl": "corpus.ppl_documents",
    "task": "corpus.task_documents",
}


def heldout_counts(corpus: dict, need_tasks: bool) -> dict[str, int]:
    """{set: number of chunks} from the corpus config block, checked (need_tasks: corpus tasks are built)."""
    counts = {name: int(corpus[key.split(".", 1)[1]]) for name, key in HELDOUT_KEYS.items()}
    for name, least in (("valid", 1), ("ppl", 1), ("task", 0)):
        if counts[name] < least:
            raise ConfigError(f"{HELDOUT_KEYS[name]} must be >= {least}, got {counts[name]}")
    if need_tasks and counts["task"] == 0:
        raise ConfigError(
            "corpus.task_documents is 0, but bigbench.corpus_tasks builds its tasks from that set; "
            "set corpus.task_documents >= 1 or bigbench.corpus_tasks.enabled: false"
        )
    return counts


def chunk_documents(docs: list[Document], chunk_chars: int) -> list[Document]:
    """Every document cut into chunks titled "<title> #k" (chunk_chars 0: documents kept whole)."""
    if chunk_chars < 0:
        raise ConfigError(
            f"corpus.chunk_chars must be >= 0 (0 = keep documents whole), got {chunk_chars}"
        )
    if chunk_chars == 0:
        return list(docs)
    return [
        Document(doc.source, f"{doc.title} #{k}", text)
        for doc in docs
        for k, text in enumerate(chunk_text(doc.text, chunk_chars), start=1)
    ]


@dataclass(frozen=True)
class Split:
    chunks: list[Document]  # every distinct chunk, in corpus order (document, then chunk)
    ids: dict[str, list[int]]  # "train" and each held-out set -> ascending indices into chunks
    duplicates: int  # chunks dropped because an earlier chunk has the same text

    def part(self, name: str) -> list[Document]:
        return [self.chunks[i] for i in self.ids[name]]


def split_documents(
    docs: list[Document],
    counts: dict[str, int],
    chunk_chars: int,
    seed: int,
    need_train: bool = True,
) -> Split:
    """Chunk the documents, then give each held-out set (HELDOUT_KEYS order) its own chunks.

    With training, one seeded permutation of the chunks is cut into the sets in turn (valid, ppl,
    task) and the rest is train; so resizing a later set never changes an earlier one. Without
    training (hub suites) the sets are consecutive runs in corpus order, so a config names its texts
    by their order (e.g. a dataset split "validation+test" puts the validation rows in `valid`).
    Chunks with identical text are kept once, so no text can sit in two sets. Every list keeps the
    corpus order.
    """
    unknown = set(counts) - set(HELDOUT_KEYS)
    if unknown:
        raise ConfigError(f"unknown held-out sets {sorted(unknown)}; known: {list(HELDOUT_KEYS)}")
    for name, n in counts.items():
        if n < 0:
            raise ConfigError(f"{HELDOUT_KEYS[name]} must be >= 0, got {n}")
    every = chunk_documents(docs, chunk_chars)
    first = {}
    for chunk in every:
        first.setdefault(chunk.text, chunk)
    chunks = list(first.values())  # dicts keep insertion order: the corpus order
    sizes = [counts.get(name, 0) for name in HELDOUT_KEYS]
    needed = sum(sizes) + int(need_train)
    if len(chunks) < needed:
        unit = "whole documents" if chunk_chars == 0 else f"chunks of ~{chunk_chars} characters"
        asked = " + ".join(f"{HELDOUT_KEYS[n]}={k}" for n, k in zip(HELDOUT_KEYS, sizes))
        raise ConfigError(
            f"the corpus gives only {len(chunks)} distinct {unit} (corpus.chunk_chars), too few for "
            f"the held-out sets {asked}{' plus training text' if need_train else ''}; lower them to "
            f"at most {len(chunks) - int(need_train)} in total, or add text to corpus.source"
        )
    order = (
        np.random.default_rng(seed).permutation(len(chunks))
        if need_train
        else np.arange(len(chunks))
    )
    ids: dict[str, list[int]] = {}
    start = 0
    for name, n in zip(HELDOUT_KEYS, sizes):
        ids[name] = sorted(int(i) for i in order[start : start + n])
        start += n
    ids["train"] = sorted(int(i) for i in order[start:]) if need_train else []
    return Split(chunks, ids, len(every) - len(chunks))
