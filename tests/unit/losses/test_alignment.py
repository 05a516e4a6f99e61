"""Byte and word alignment of per-token losses on hand-built texts: multi-byte characters, tokens that
split a character or span a word boundary, leading and trailing whitespace."""

import math

import numpy as np
import pytest
from conftest import text_tokenizer

from lmtraj.losses.alignment import (
    bits_per_byte,
    byte_nll,
    scored_bytes,
    token_byte_ends,
    token_bytes,
    word_index,
    word_nll,
)
from lmtraj.losses.valid_perplexity import with_valid_perplexity

TEXTS = [
    "héllo wörld, the cat sat on the mat.",
    "  naïve café\n\nau revoir ",
    "日本語のテキスト and 😀 emoji",
    "a b",
]


@pytest.fixture(scope="module")
def tok():
    return text_tokenizer(TEXTS, 400)


@pytest.mark.parametrize("text", TEXTS)
def test_tokens_spell_the_text_byte_for_byte(tok, text):
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert b"".join(token_bytes(tok, ids)) == text.encode("utf-8")
    ends = token_byte_ends(tok, text, ids)
    assert ends[-1] == len(text.encode("utf-8")) and np.all(np.diff(ends) > 0)


def test_a_token_may_split_a_character(tok):
    # Emoji are 4 UTF-8 bytes; an untrained byte pair leaves them in pieces of single bytes.
    text = "😀"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    pieces = token_bytes(tok, ids)
    assert len(pieces) > 1 and b"".join(pieces) == text.encode()


@pytest.mark.parametrize("text", TEXTS)
def test_sums_over_bytes_and_words_equal_the_sum_over_tokens(tok, text):
    ids = tok(text, add_special_tokens=False)["input_ids"]
    rng = np.random.default_rng(0)
    nll = rng.gamma(2.0, 1.5, size=len(ids)).astype(np.float32)
    data = text.encode()
    per_byte = byte_nll(nll, token_byte_ends(tok, text, ids), len(data))
    assert math.fsum(per_byte) == math.fsum(nll.astype(np.float64))
    words_of, words = word_index(text)
    per_word = word_nll(per_byte, words_of, len(words))
    assert len(per_word) == len(text.split())
    assert math.isclose(per_word.sum(), math.fsum(nll.astype(np.float64)), rel_tol=1e-12)


def test_words_take_their_leading_whitespace_and_the_last_takes_the_rest():
    index, words = word_index("  ab c\n\nd  ")
    assert words == ["ab", "c", "d"]
    # bytes:      ' ' ' ' a b ' ' c \n \n d ' ' ' '
    assert index.tolist() == [0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2]


def test_multibyte_words_and_their_losses():
    text = "é ü"  # 2 + 1 + 2 bytes
    index, words = word_index(text)
    assert words == ["é", "ü"] and index.tolist() == [0, 0, 1, 1, 1]
    # Three tokens: b"\xc3", b"\xa9 \xc3" (spans the boundary: counts for the word where it ends), b"\xbc"
    per_byte = byte_nll(np.array([1.0, 2.0, 4.0]), np.array([1, 4, 5]), 5)
    assert per_byte.tolist() == [1.0, 0.0, 0.0, 2.0, 4.0]
    assert word_nll(per_byte, index, 2).tolist() == [1.0, 6.0]


def test_bits_per_byte():
    assert bits_per_byte(math.log(2) * 10, 5) == pytest.approx(2.0)
    assert math.isnan(bits_per_byte(1.0, 0))


def test_scored_bytes_leave_out_each_documents_first_token(tok):
    docs = [tok(t, add_special_tokens=False)["input_ids"] for t in TEXTS]
    first = sum(len(token_bytes(tok, d[:1])[0]) for d in docs)
    assert scored_bytes(tok, docs) == sum(len(t.encode()) for t in TEXTS) - first


def test_bits_per_byte_of_a_checkpoint_record():
    meta = {"model": "m", "step": 0, "n_tokens": 4, "nll_sum": 8.0}
    nll = np.full(10, math.log(2))  # one bit per token
    rec = with_valid_perplexity(meta, nll, 1.0, n_bytes=20)
    assert rec["valid_bpb"] == pytest.approx(0.5) and rec["valid_bytes"] == 20
    assert with_valid_perplexity(meta, nll, 1.0)["valid_bpb"] is None
