"""Word-level trajectories: token rows summed onto words, the same words for two tokenizers, the first
and last word of a document left out."""

import numpy as np
import pytest
from conftest import text_tokenizer

from lmtraj.errors import DataError
from lmtraj.losses.words import word_trajectory, word_units

TEXTS = [
    "héllo wörld, the cat sat on the mat today",
    "  naïve café\n\nau revoir mon ami",
    "日本語のテキスト and 😀 emoji here",
]


@pytest.fixture(scope="module")
def tokenizers():
    return [text_tokenizer(TEXTS, size) for size in (300, 700)]


def encode(tok, text):
    return np.array(tok(text, add_special_tokens=False)["input_ids"], dtype=np.int64)


def test_words_are_the_same_units_for_two_tokenizers(tokenizers):
    units = [word_units(tok, [encode(tok, t) for t in TEXTS]) for tok in tokenizers]
    a, b = (u.index for u in units)
    assert list(a["token"]) == list(b["token"])
    # First and last word of each document are left out; the rest are the text's words in order.
    expected = [w for t in TEXTS for w in t.split()[1:-1]]
    assert list(a["token"]) == expected
    assert (a["n_tokens"] >= 1).all()
    # The two tokenizers cut the words differently (else this test would prove nothing).
    assert list(a["n_tokens"]) != list(b["n_tokens"])


def test_word_nll_is_the_sum_of_its_tokens(tokenizers):
    tok = tokenizers[0]
    docs = [encode(tok, t) for t in TEXTS]
    units = word_units(tok, docs)
    n_rows = sum(len(d) - 1 for d in docs)
    assert len(units.row_word) == n_rows
    rng = np.random.default_rng(0)
    traj = rng.uniform(0.1, 5.0, size=(n_rows, 3)).astype(np.float32)
    words = word_trajectory(traj, units.row_word, len(units.index))
    assert words.shape == (len(units.index), 3)
    for w in range(len(units.index)):
        rows = np.flatnonzero(units.row_word == w)
        assert len(rows) == units.index["n_tokens"].iloc[w]
        np.testing.assert_allclose(words[w], traj[rows].astype(np.float64).sum(0), rtol=1e-6)
    # Every token row of a kept word counts once; the rest (first/last words) are left out.
    assert (units.row_word >= 0).sum() == units.index["n_tokens"].sum()


def test_an_unscored_token_makes_its_word_nan(tokenizers):
    tok = tokenizers[1]
    docs = [encode(tok, TEXTS[0])]
    units = word_units(tok, docs)
    traj = np.ones((len(docs[0]) - 1, 2), dtype=np.float32)
    row = int(np.flatnonzero(units.row_word == 1)[0])
    traj[row, 1] = np.nan
    words = word_trajectory(traj, units.row_word, len(units.index))
    assert np.isnan(words[1, 1]) and np.isfinite(words[1, 0])
    assert np.isfinite(np.delete(words[:, 1], 1)).all()


def test_mismatched_rows_and_short_documents(tokenizers):
    tok = tokenizers[0]
    units = word_units(tok, [encode(tok, TEXTS[0])])
    with pytest.raises(DataError, match="token rows"):
        word_trajectory(np.zeros((3, 2), np.float32), units.row_word, len(units.index))
    with pytest.raises(DataError, match="document 0"):
        word_units(tok, [np.array([5])])
