"""Corrupted validation text: nested levels, seeded draws, replacements that always change the token."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from lmtraj.errors import ConfigError, DataError
from lmtraj.generation.corruption import (
    corrupt_sequences,
    corruption_perplexity,
    truncate_documents,
)

IDS = np.arange(1, 301, dtype=np.int64) % 50
DOCS = [IDS[0:120], IDS[120:121], IDS[121:300]]  # 120, 1 and 179 tokens
LEVELS = [0, 20, 40, 60, 80, 100]


def test_truncate_skips_short_documents_and_caps_length():
    docs, seqs = truncate_documents(DOCS, n_documents=5, max_tokens=100)
    assert docs == [0, 2]
    assert [len(s) for s in seqs] == [100, 100]
    assert seqs[1][:3].tolist() == [22, 23, 24]  # ids[121:124] = 122..124 mod 50
    assert truncate_documents(DOCS, n_documents=1)[0] == [0]
    with pytest.raises(DataError, match="no validation document"):
        truncate_documents(DOCS, n_documents=3, min_tokens=500, max_tokens=600)


def test_levels_replace_the_right_share_nested_and_always_different():
    seqs = [np.arange(10, 60), np.full(7, 3)]
    df = corrupt_sequences(seqs, [4, 9], LEVELS, vocab_size=64, seed=0, exclude_ids=[0])
    assert df["n_replaced"].tolist() == [0, 10, 20, 30, 40, 50, 0, 1, 3, 4, 6, 7]
    for doc, seq in zip([4, 9], seqs, strict=True):
        rows = df[df["doc"] == doc].set_index("level_percent")["token_ids"]
        assert np.array_equal(rows[0.0], seq)
        changed = {q: set(np.flatnonzero(rows[q] != seq)) for q in LEVELS}
        for q in LEVELS:
            # Every chosen position really changes, so the mismatch count equals n_replaced.
            assert len(changed[q]) == round(q / 100 * len(seq))
        for lo, hi in itertools.pairwise(LEVELS):
            assert changed[lo] <= changed[hi]
            # A position keeps the same replacement at every level that includes it.
            shared = sorted(changed[lo])
            assert np.array_equal(rows[float(lo)][shared], rows[float(hi)][shared])
        full = rows[100.0]
        assert not np.any(full == seq) and not np.any(full == 0)
        assert full.min() >= 0 and full.max() < 64


def test_replacements_are_uniform_over_allowed_ids():
    seq = np.full(20000, 5)
    df = corrupt_sequences([seq], [0], [100], vocab_size=10, seed=1, exclude_ids=[0])
    counts = np.bincount(df["token_ids"][0], minlength=10)
    assert counts[0] == 0 and counts[5] == 0
    # 8 allowed ids, 2500 expected each; 5 sigma is about 235.
    assert np.all(np.abs(counts[[1, 2, 3, 4, 6, 7, 8, 9]] - 2500) < 250)


def test_seeded_and_independent_of_other_documents():
    seqs = [np.arange(30), np.arange(40)]
    a = corrupt_sequences(seqs, [0, 1], [50], vocab_size=100, seed=7)
    b = corrupt_sequences(seqs[1:], [1], [50], vocab_size=100, seed=7)
    c = corrupt_sequences(seqs, [0, 1], [50], vocab_size=100, seed=8)
    assert np.array_equal(a["token_ids"][1], b["token_ids"][0])
    assert not np.array_equal(a["token_ids"][0], c["token_ids"][0])


def test_errors_name_the_bad_value():
    with pytest.raises(ConfigError, match=r"\[0, 100\], got \[120.0\]"):
        corrupt_sequences([np.arange(5)], [0], [20, 120], vocab_size=10, seed=0)
    with pytest.raises(DataError, match="document 3: token ids outside"):
        corrupt_sequences([np.array([1, 12])], [3], [20], vocab_size=10, seed=0)


def test_perplexity_is_token_weighted_per_level():
    scored = pd.DataFrame(
        {
            "doc": [0, 1, 0, 1],
            "level_percent": [0.0, 0.0, 20.0, 20.0],
            "nll_sum": [2.0, 4.0, 9.0, 3.0],
            "n_scored": [2, 4, 3, 1],
        }
    )
    out = corruption_perplexity(scored)
    assert out["level_percent"].tolist() == [0.0, 20.0]
    np.testing.assert_allclose(out["ppl"], [np.e, np.exp(3.0)])
    assert out["n_documents"].tolist() == [2, 2]
