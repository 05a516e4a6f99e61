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


def window_by_window_nll(model, doc, context, stride):
    """The textbook reference: every window on its own (no batch, no padding), full log-softmax."""
    out = np.full(len(doc) - 1, np.nan, dtype=np.float32)
    for w in plan_windows([len(doc)], context, stride):
        nll = full_forward_nll(model, doc[w.start : w.end])
        out[w.score_from - 1 : w.end - 1] = nll[w.score_from - w.start - 1 :]
    return out


@pytest.mark.parametrize("stride", [1, 5, 16, 31])
def test_ragged_batches_match_window_by_window(tiny_model, stride):
    rng = np.random.default_rng(3)
    docs = [rng.integers(0, 97, size=n) for n in (2, 3, 31, 32, 33, 70, 129)]
    for budget in (32, 200, 4096):
        nll = token_nll(tiny_model, docs, context=32, stride=stride, token_budget=budget)
        for doc, got in zip(docs, nll):
            np.testing.assert_allclose(
                got, window_by_window_nll(tiny_model, doc, 32, stride), atol=1e-5
            )


class NoLogitsToKeep(torch.nn.Module):
    """A causal LM whose forward takes only ids and mask (the fallback path: all logits come back)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask=None):
        return self.model(input_ids=input_ids, attention_mask=attention_mask)


def test_models_without_logits_to_keep_give_the_same_numbers(tiny_model):
    from lmtraj.scoring import _forward_parameters

    assert _forward_parameters(tiny_model) == {"logits_to_keep", "use_cache"}
    assert _forward_parameters(NoLogitsToKeep(tiny_model)) == frozenset()
    rng = np.random.default_rng(4)
    docs = [rng.integers(0, 97, size=n) for n in (5, 40, 100)]
    a = token_nll(tiny_model, docs, context=32, stride=8)
    b = token_nll(NoLogitsToKeep(tiny_model), docs, context=32, stride=8)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, atol=1e-5)


def test_nll_is_float32_arithmetic_whatever_the_logits_dtype():
    from lmtraj import scoring

    logits = (torch.randn(3, 7, 50) * 4).to(torch.bfloat16)
    targets = torch.randint(0, 50, (3, 7))
    expected = -torch.log_softmax(logits.float(), -1).gather(-1, targets[..., None]).squeeze(-1)
    got = scoring._nll(logits, targets)
    assert got.dtype == torch.float32
    assert torch.equal(got, scoring._nll(logits.float(), targets))
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
    for block in (1, 50, 200, 1 << 20):  # one position at a time .. all at once
        assert torch.equal(scoring._nll(logits, targets, block), got)


def test_target_nll_takes_any_leading_shape():
    from lmtraj.scoring import target_nll

    logits = torch.randn(5, 3, 40) * 3
    targets = torch.randint(0, 40, (5, 3))
    expected = -torch.log_softmax(logits, -1).gather(-1, targets[..., None]).squeeze(-1)
    torch.testing.assert_close(target_nll(logits, targets), expected, atol=1e-5, rtol=0)
    flat = target_nll(
        logits.reshape(15, 40), targets.reshape(15)
    )  # [rows, vocabulary], as gathered
    assert flat.shape == (15,) and flat.dtype == torch.float32
    torch.testing.assert_close(flat, expected.reshape(15), atol=1e-5, rtol=0)


def test_low_precision_weights_give_float32_close_numbers(tiny_model):
    rng = np.random.default_rng(5)
    docs = [rng.integers(0, 97, size=n) for n in (30, 80)]
    ref = token_nll(tiny_model, docs, context=32, stride=16)
    low = token_nll(tiny_model.to(torch.bfloat16), docs, context=32, stride=16)
    for a, b in zip(low, ref):
        assert a.dtype == np.float32
        np.testing.assert_allclose(a, b, atol=0.05)


def test_cuda_out_of_memory_halves_the_budget_and_keeps_the_numbers(
    tiny_model, monkeypatch, caplog
):
    from lmtraj import scoring

    real, sizes = scoring._score_batch, []

    def tight(model, docs, batch, out, device, accepts):  # CUDA that fits 64 tokens a batch
        tokens = len(batch) * max(w.end - w.start - 1 for w in batch)
        sizes.append(tokens)
        if tokens > 64:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        real(model, docs, batch, out, "cpu", accepts)

    rng = np.random.default_rng(6)
    docs = [rng.integers(0, 97, size=n) for n in (10, 50, 90)]
    ref = token_nll(tiny_model, docs, context=32, stride=16, token_budget=32)
    monkeypatch.setattr(scoring, "_score_batch", tight)
    with caplog.at_level("WARNING", logger="lmtraj.scoring"):
        got = token_nll(tiny_model, docs, context=32, stride=16, token_budget=1024, device="cuda")
    assert [r.getMessage() for r in caplog.records] == [
        f"CUDA out of memory: token budget halved to {b}" for b in (512, 256, 128, 64)
    ]
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, atol=1e-5)
    # on the CPU there is nothing to halve: the error propagates
    with pytest.raises(torch.OutOfMemoryError):
        token_nll(tiny_model, docs, context=32, stride=16, token_budget=1024, device="cpu")


def test_cpu_batches_are_capped_at_the_measured_size():
    from lmtraj.scoring import CPU_BATCH_TOKENS, batch_tokens

    assert batch_tokens(16384, "cpu") == CPU_BATCH_TOKENS
    assert batch_tokens(256, "cpu") == 256
    assert batch_tokens(16384, "cuda") == 16384
