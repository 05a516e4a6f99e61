import numpy as np
import pytest
import torch

from lmtraj.errors import ConfigError, DataError
from lmtraj.scoring import plan_windows, token_nll


def full_forward_nll(model, doc):
    ids = torch.as_tensor(doc)[None]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), -1)
    return -logp.gather(-1, ids[0, 1:, None]).squeeze(-1).numpy()


def test_windows_cover_every_target_once_with_min_context():
    lengths = [5, 64, 100, 33]
    windows = plan_windows(lengths, context=32, stride=8)
    for doc, n in enumerate(lengths):
        covered = []
        for w in (w for w in windows if w.doc == doc):
            assert w.end - w.start <= 32
            assert w.score_from - w.start >= min(24, w.score_from) or w.start == 0
            covered.extend(range(w.score_from, w.end))
        assert covered == list(range(1, n))


def test_matches_full_forward_when_document_fits(tiny_model):
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 97, size=n) for n in (40, 7, 64)]
    nll = token_nll(tiny_model, docs, context=64, stride=32)
    for doc, got in zip(docs, nll):
        assert got.shape == (len(doc) - 1,)
        np.testing.assert_allclose(got, full_forward_nll(tiny_model, doc), atol=1e-5)


def test_sliding_window_uses_only_its_context(tiny_model):
    rng = np.random.default_rng(1)
    doc = rng.integers(0, 97, size=50)
    nll = token_nll(tiny_model, [doc], context=16, stride=4)[0]
    # target 30 is scored by the window ending at 32 (16 + 4k), which starts at 16
    expected = full_forward_nll(tiny_model, doc[16:32])[30 - 16 - 1]
    assert nll[30 - 1] == pytest.approx(expected, abs=1e-5)


def test_batch_size_does_not_change_numbers(tiny_model):
    rng = np.random.default_rng(2)
    docs = [rng.integers(0, 97, size=n) for n in rng.integers(2, 120, size=12)]
    small = token_nll(tiny_model, docs, context=32, stride=16, token_budget=32)
    large = token_nll(tiny_model, docs, context=32, stride=16, token_budget=4096)
    for a, b in zip(small, large):
        assert not np.isnan(a).any()
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_bad_settings_and_documents_are_named():
    with pytest.raises(ConfigError, match="stride"):
        plan_windows([10], context=8, stride=8)
    with pytest.raises(DataError, match="document 1"):
        plan_windows([10, 1], context=8, stride=4)
