"""Tests for lmtraj.tokenizer: BPE training, atomic save/load, fingerprints and the two encodings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmtraj import tokenizer as T
from lmtraj.errors import ConfigError, DataError
from lmtraj.tokenizer import (
    EOS,
    encode_documents,
    encode_stream,
    load_tokenizer,
    save_tokenizer,
    tokenizer_fingerprint,
    train_bpe,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "corpus"


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return [p.read_text() for p in sorted(FIXTURE.glob("*.txt"))]


@pytest.fixture(scope="module")
def tok(texts):
    return train_bpe(texts, 512)


@pytest.fixture(scope="module")
def byte_tok():
    # 257 = EOS + the 256 byte symbols and no merges: ids are hand-checkable. The byte-level alphabet
    # is sorted by its unicode stand-ins, so '!'..'~' come first (id = ord(c) - 32) and a space,
    # shown as 'Ġ' (U+0120), comes after the 188 latin-1 stand-ins: id 1 + 188 + 32 = 221.
    return train_bpe(["Hi there. " * 20], 257)


def test_byte_level_ids_are_hand_checked(byte_tok):
    assert len(byte_tok) == 257
    assert byte_tok.eos_token_id == 0
    assert encode_stream(byte_tok, ["Hi t", "!"]).tolist() == [40, 73, 221, 84, 0, 1, 0]


def test_train_bpe_size_special_tokens_and_lossless_roundtrip(tok, texts):
    assert len(tok) == 512
    assert tok.convert_ids_to_tokens(0) == EOS
    assert (tok.eos_token, tok.pad_token, tok.bos_token) == (EOS, EOS, EOS)
    sample = texts[2][:3000]
    ids = tok.encode(sample, add_special_tokens=False)
    assert tok.decode(ids) == sample  # byte-level BPE loses nothing
    # 255 merges already give > 1.5 bytes per token (1.74 on this sample)
    assert len(ids) < len(sample.encode()) / 1.5


def test_train_bpe_is_deterministic(tok, texts, tmp_path):
    again = train_bpe(iter(texts), 512)  # an iterator works too
    save_tokenizer(tok, tmp_path / "a")
    save_tokenizer(again, tmp_path / "b")
    assert (tmp_path / "a/tokenizer.json").read_bytes() == (
        tmp_path / "b/tokenizer.json"
    ).read_bytes()
    assert tokenizer_fingerprint(tok) == tokenizer_fingerprint(again)
    assert tokenizer_fingerprint(tok) != tokenizer_fingerprint(train_bpe(texts, 600))


def test_train_bpe_rejects_tiny_vocab():
    with pytest.raises(ConfigError, match="vocab_size"):
        train_bpe(["abc"], 100)


def test_save_replaces_directory_atomically_and_loads_back(tok, tmp_path):
    target = tmp_path / "tokenizer"
    target.mkdir()
    (target / "stale.txt").write_text("from an older run")
    save_tokenizer(tok, target)
    assert not (target / "stale.txt").exists()
    assert (target / "tokenizer.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer"]  # no temp dirs left behind

    loaded = load_tokenizer(target)
    assert tokenizer_fingerprint(loaded) == tokenizer_fingerprint(tok)
    assert (loaded.eos_token_id, loaded.pad_token_id, len(loaded)) == (0, 0, 512)
    text = "To be, or not to be: that is the question."
    assert loaded.encode(text, add_special_tokens=False) == tok.encode(
        text, add_special_tokens=False
    )


def test_load_tokenizer_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("not a tokenizer")
    with pytest.raises(DataError, match="not a tokenizer directory"):
        load_tokenizer(tmp_path)
    with pytest.raises(DataError, match="cannot load a tokenizer"):
        load_tokenizer(tmp_path / "missing")  # not a directory, not on the (offline) hub


def test_fingerprint_ignores_call_time_truncation_state(tok):
    before = tokenizer_fingerprint(tok)
    tok.backend_tokenizer.enable_truncation(16)
    try:
        assert tokenizer_fingerprint(tok) == before
    finally:
        tok.backend_tokenizer.no_truncation()


def test_encode_stream_matches_per_text_encoding(tok, texts, monkeypatch):
    pieces = [t[:500] for t in texts] + ["", "a"]
    expected = []
    for t in pieces:
        expected += tok.encode(t, add_special_tokens=False) + [tok.eos_token_id]
    stream = encode_stream(tok, (t for t in pieces))
    assert stream.dtype == np.uint16
    assert stream.tolist() == expected
    monkeypatch.setattr(T, "_BATCH", 3)  # batch boundaries do not change the result
    assert encode_stream(tok, pieces).tolist() == expected
    assert encode_stream(tok, []).dtype == np.uint16 and encode_stream(tok, []).size == 0


def test_id_dtype_widens_for_large_vocabularies():
    class Sized:
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

    assert T._id_dtype(Sized(50257)) is np.uint16
    assert T._id_dtype(Sized(65535)) is np.uint16
    assert T._id_dtype(Sized(65536)) is np.uint32


def test_encode_documents_ragged_layout_and_truncation(tok, texts):
    docs = [texts[0][:400], "Ruth said.", texts[1][:2000]]
    ids, offsets = encode_documents(tok, docs, max_tokens=50)
    full = [tok.encode(d, add_special_tokens=False) for d in docs]
    assert ids.dtype == np.int64 and offsets.dtype == np.int64
    assert offsets.tolist() == [0, 50, 50 + len(full[1]), 100 + len(full[1])]
    assert ids[offsets[1] : offsets[2]].tolist() == full[1]
    assert ids[offsets[2] : offsets[3]].tolist() == full[2][:50]
    _, offsets_all = encode_documents(tok, docs, max_tokens=None)
    assert offsets_all[-1] == sum(len(f) for f in full)


def test_encode_documents_rejects_short_documents(byte_tok):
    with pytest.raises(DataError, match="document 1 has 1 token"):
        encode_documents(byte_tok, ["Hi", "!", "there"], max_tokens=None)
    with pytest.raises(ConfigError, match="valid_tokens_per_document"):
        encode_documents(byte_tok, ["Hi"], max_tokens=1)
