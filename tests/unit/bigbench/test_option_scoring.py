import logging

import numpy as np
import pytest
import torch
from conftest import ROOT

from lmtraj.bigbench.option_scoring import choose_mode, option_logprobs, score_items
from lmtraj.bigbench.prompts import build_items, encode_item
from lmtraj.bigbench.sdist import load_task
from lmtraj.bigbench.sdist_tasks import BUNDLED_DIR
from lmtraj.errors import ConfigError, DataError

BUNDLED = ROOT / BUNDLED_DIR


def full_forward_logprob(model, context, option) -> float:
    """Reference: one full forward pass over context + option, summing the option tokens' log-probs."""
    ids = torch.as_tensor(np.concatenate([context, option]))[None]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].float(), -1)
    n = len(context)
    return float(sum(logp[n - 1 + t, int(tok)] for t, tok in enumerate(option)))


def random_items(seed=0, n=9, vocab=97):
    rng = np.random.default_rng(seed)
    contexts = [rng.integers(0, vocab, size=rng.integers(1, 40)) for _ in range(n)]
    options = [
        [rng.integers(0, vocab, size=rng.integers(1, 7)) for _ in range(rng.integers(2, 6))]
        for _ in range(n)
    ]
    return contexts, options


def test_hand_checked_example_matches_a_full_forward_pass(tiny_model):
    context, options = np.array([5, 17, 42, 8]), [np.array([3]), np.array([60, 61, 62])]
    got = option_logprobs(tiny_model, [context], [options])[0]
    # Option 0 is one token: its log-prob is log_softmax(logits at the last context position)[3].
    with torch.no_grad():
        logits = tiny_model(input_ids=torch.tensor([[5, 17, 42, 8]])).logits[0, -1]
    assert got[0] == pytest.approx(float(torch.log_softmax(logits, -1)[3]), abs=1e-5)
    assert got[1] == pytest.approx(full_forward_logprob(tiny_model, context, options[1]), abs=1e-5)


@pytest.mark.parametrize("mode", ["packed", "separate"])
def test_equals_naive_loop_and_is_batch_size_invariant(tiny_model, mode):
    contexts, options = random_items()
    naive = [
        np.array([full_forward_logprob(tiny_model, c, o) for o in opts])
        for c, opts in zip(contexts, options)
    ]
    one_row = option_logprobs(tiny_model, contexts, options, mode=mode, token_budget=1)
    all_rows = option_logprobs(tiny_model, contexts, options, mode=mode, token_budget=100_000)
    for a, b, c in zip(one_row, all_rows, naive):
        np.testing.assert_allclose(a, c, atol=2e-5)
        np.testing.assert_allclose(a, b, atol=2e-5)


def test_packed_matches_separate_for_gpt2_and_opt():
    from transformers import GPT2Config, GPT2LMHeadModel, OPTConfig, OPTForCausalLM

    torch.manual_seed(0)
    models = [
        GPT2LMHeadModel(GPT2Config(vocab_size=97, n_embd=32, n_layer=2, n_head=4, n_positions=64)),
        OPTForCausalLM(
            OPTConfig(
                vocab_size=97,
                hidden_size=32,
                num_hidden_layers=2,
                ffn_dim=64,
                num_attention_heads=4,
                max_position_embeddings=64,
                word_embed_proj_dim=32,
                bos_token_id=0,
                eos_token_id=0,
                pad_token_id=0,
            )
        ),
    ]
    contexts, options = random_items(seed=3, n=5)
    for model in models:
        model.eval()
        a = option_logprobs(model, contexts, options, mode="packed", token_budget=64)
        b = option_logprobs(model, contexts, options, mode="separate", token_budget=64)
        for x, y in zip(a, b):
            np.testing.assert_allclose(x, y, atol=2e-5)


def test_auto_mode_falls_back_when_a_model_ignores_4d_masks(tiny_model, caplog):
    class IgnoresMask(torch.nn.Module):
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask=None, position_ids=None, **kw):
            return self.inner(input_ids=input_ids)  # plain causal attention over the packed row

    contexts, options = random_items(n=2)
    enc = [_enc(c, o) for c, o in zip(contexts, options)]
    assert choose_mode(tiny_model, enc, "cpu") == "packed"
    with caplog.at_level(logging.WARNING):
        assert choose_mode(IgnoresMask(tiny_model), enc, "cpu") == "separate"
    assert "falling back" in caplog.text


def _enc(context, options):
    from lmtraj.bigbench.prompts import EncodedItem

    return EncodedItem("t", 0, np.asarray(context), tuple(np.asarray(o) for o in options), 0, 0)


def test_score_items_table(tiny_model):
    items = build_items(
        load_task(BUNDLED / "entailed_polarity"), "entailed_polarity", shots=2, cap=4
    )

    def encode(text):  # a byte-level toy tokenizer within the tiny model's 97 ids
        return [b % 97 for b in text.encode()]

    encoded = [encode_item(it, encode, max_tokens=64) for it in items]
    table = score_items(tiny_model, items, encoded, mode="auto")
    assert len(table) == 8 and table.groupby("item")["is_correct"].sum().eq(1).all()
    assert table["n_chars"].tolist()[:2] == [2, 3] and table["n_bytes"].tolist()[:2] == [2, 3]
    assert table["n_tokens"].tolist()[:2] == [3, 4]  # " no", " yes" after the whitespace move
    assert (table["truncated_tokens"] > 0).all()  # 64 tokens hold no bare query of this task
    first = encoded[0]
    ref = full_forward_logprob(tiny_model, first.context_ids, first.option_ids[1])
    assert table["logprob_sum"].iloc[1] == pytest.approx(ref, abs=1e-5)


def test_errors():
    with pytest.raises(ConfigError, match="scoring_mode"):
        option_logprobs(None, [np.array([1])], [[np.array([2])]], mode="fast")
    with pytest.raises(DataError, match="item 0"):
        option_logprobs(None, [np.array([1])], [[np.array([], dtype=np.int64)]])


def test_head_runs_on_the_backbone_at_scored_positions_only(tiny_model, monkeypatch):
    """The LM head sees one row per scored token, not every position of the batch."""
    contexts, options = random_items(seed=5, n=6)
    head = tiny_model.get_output_embeddings()
    seen = []
    monkeypatch.setattr(head, "forward", lambda x, f=head.forward: seen.append(x.shape) or f(x))
    got = option_logprobs(tiny_model, contexts, options, token_budget=100_000)
    n_scored = sum(len(o) for opts in options for o in opts)
    assert seen[-1] == (n_scored, tiny_model.config.hidden_size)
    for g, c, opts in zip(got, contexts, options):
        np.testing.assert_allclose(
            g, [full_forward_logprob(tiny_model, c, o) for o in opts], atol=2e-5
        )


def test_a_model_that_post_processes_its_logits_keeps_its_own_logits(tiny_model):
    """head(backbone(x)) is only a shortcut where it reproduces the model's logits (here: scaled by 3)."""
    from transformers import GPTNeoXForCausalLM

    class Scaled(GPTNeoXForCausalLM):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 3.0
            return out

    scaled = Scaled(tiny_model.config).eval()
    scaled.load_state_dict(tiny_model.state_dict())
    contexts, options = random_items(seed=6, n=4)
    got = option_logprobs(scaled, contexts, options)
    plain = option_logprobs(tiny_model, contexts, options)
    for g, p, c, opts in zip(got, plain, contexts, options):
        np.testing.assert_allclose(g, [full_forward_logprob(scaled, c, o) for o in opts], atol=2e-5)
        assert not np.allclose(g, p, atol=1e-3)
