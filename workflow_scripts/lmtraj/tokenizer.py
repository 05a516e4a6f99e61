"""Train, save, load, fingerprint a BPE tokenizer, and encode texts into token-id arrays.

Self-trained tokenizers are GPT-2 style byte-level BPE (no unknown tokens, `<|endoftext|>` as the only
special token). Hub or local model tokenizers are loaded the same way, so every stage sees a
`PreTrainedTokenizerFast` and ids from `encode_stream` / `encode_documents` in the layouts of
architecture.md (`train_tokens.npy`, `valid_tokens.npz`).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
from tokenizers import ByteLevelBPETokenizer
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from lmtraj.errors import ConfigError, DataError

EOS = "<|endoftext|>"

# Files any one of which marks a directory as a tokenizer directory (transformers' own names).
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
    "tokenizer.model",
    "spiece.model",
)

# Texts sent to the Rust tokenizer per call: large enough for its thread pool, small enough to bound memory.
_BATCH = 1024


def train_bpe(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE with vocab_size entries (EOS included), trained on texts; deterministic."""
    if vocab_size < 257:
        raise ConfigError(
            f"tokenizer vocab_size must be >= 257 (256 bytes + {EOS}), got {vocab_size}"
        )
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        texts,
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOS],
        show_progress=False,
    )
    # GPT-2 convention: one token serves as BOS, EOS and UNK; padding reuses it (always masked).
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe._tokenizer,
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
    )


def save_tokenizer(tok: PreTrainedTokenizerFast, directory: Path) -> None:
    """Write tok with save_pretrained into directory atomically (replacing an existing one)."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.tmp-"))
    try:
        tok.save_pretrained(tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it private
        if directory.exists():
            # os.replace cannot overwrite a non-empty directory: move the old one aside first.
            old = Path(tempfile.mkdtemp(dir=directory.parent, prefix=f".{directory.name}.old-"))
            os.replace(directory, old / "d")
            os.replace(tmp, directory)
            shutil.rmtree(old)
        else:
            os.replace(tmp, directory)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def load_tokenizer(path: str | Path) -> PreTrainedTokenizerFast:
    """Load a tokenizer directory written by save_tokenizer, a model directory, or a hub repo id."""
    local = Path(path)
    if local.is_dir() and not any((local / f).exists() for f in TOKENIZER_FILES):
        raise DataError(
            f"{local} is not a tokenizer directory: it holds none of {', '.join(TOKENIZER_FILES)}"
        )
    try:
        tok = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError) as err:
        raise DataError(f"cannot load a tokenizer from {path}: {err}") from err
    if not isinstance(tok, PreTrainedTokenizerFast):
        raise DataError(
            f"{path}: got a {type(tok).__name__}, expected a fast (tokenizers) tokenizer"
        )
    return tok


def tokenizer_fingerprint(tok: PreTrainedTokenizerFast) -> str:
    """sha256 of the backend tokenizer (vocab, merges, normalizer, pre-tokenizer, added tokens).

    Truncation and padding are dropped: they are call-time state, not part of the mapping text -> ids.
    """
    spec = json.loads(tok.backend_tokenizer.to_str())
    spec.pop("truncation", None)
    spec.pop("padding", None)
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _id_dtype(tok: PreTrainedTokenizerFast) -> type:
    return np.uint16 if len(tok) <= 65535 else np.uint32


def _encode_batches(
    tok: PreTrainedTokenizerFast, texts: Iterable[str]
) -> Iterator[list[list[int]]]:
    backend = tok.backend_tokenizer
    it = iter(texts)
    while batch := list(itertools.islice(it, _BATCH)):
        yield [e.ids for e in backend.encode_batch(batch, add_special_tokens=False)]


def encode_stream(tok: PreTrainedTokenizerFast, texts: Iterable[str]) -> np.ndarray:
    """All texts' ids concatenated, each text followed by EOS (uint16, or uint32 for a vocab > 65535)."""
    eos = tok.eos_token_id
    if eos is None:
        raise DataError(
            f"tokenizer {tok.name_or_path!r} has no eos_token; cannot separate documents"
        )
    dtype = _id_dtype(tok)
    parts = []
    for ids in _encode_batches(tok, texts):
        lengths = np.fromiter((len(x) + 1 for x in ids), dtype=np.int64, count=len(ids))
        out = np.full(int(lengths.sum()), eos, dtype=dtype)
        is_text = np.ones(len(out), dtype=bool)
        is_text[np.cumsum(lengths) - 1] = False  # the last slot of every text stays EOS
        out[is_text] = np.fromiter(
            itertools.chain.from_iterable(ids), dtype=dtype, count=int(is_text.sum())
        )
        parts.append(out)
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def encode_documents(
    tok: PreTrainedTokenizerFast, texts: list[str], max_tokens: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Ragged encoding: (ids int64 concatenated, offsets int64 of len(texts)+1), no special tokens.

    Document d is ids[offsets[d]:offsets[d+1]], its first max_tokens tokens (all if None).
    """
    if max_tokens is not None and max_tokens < 2:
        raise ConfigError(
            f"max_tokens (corpus.valid_tokens_per_document) must be >= 2, got {max_tokens}"
        )
    docs = [x[:max_tokens] for batch in _encode_batches(tok, texts) for x in batch]
    lengths = np.fromiter((len(x) for x in docs), dtype=np.int64, count=len(docs))
    if (short := np.flatnonzero(lengths < 2)).size:
        d = int(short[0])
        raise DataError(
            f"document {d} has {lengths[d]} token(s), fewer than 2 (nothing to predict): {texts[d][:60]!r}"
        )
    offsets = np.zeros(len(docs) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    ids = np.fromiter(itertools.chain.from_iterable(docs), dtype=np.int64, count=int(offsets[-1]))
    return ids, offsets
