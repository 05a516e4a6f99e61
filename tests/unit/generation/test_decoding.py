"""Interpolated decoding: Eq. 2-3 on hand-made distributions, and the cached loop on two tiny GPT-NeoX."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch
from conftest import tiny_neox as make_tiny_neox
from transformers import GPTNeoXForCausalLM

from lmtraj.errors import ConfigError, DataError
from lmtraj.generation.decoding import (
    DecodeConfig,
    Generation,
    check_pair,
    check_prompts,
    decode,
    decode_grid,
    resolve_step,
)
from lmtraj.generation.mixture import (
    Setting,
    check_setting,
    interpolate,
    make_settings,
    pick_tokens,
    prompt_uniforms,
    setting_name,
)

# ---------------------------------------------------------------------------------------------------
# Uncached reference: recomputes the whole prefix at every step, one prompt at a time; the cached,
# batched loop must give exactly its texts.


@torch.no_grad()
def decode_uncached(
    small: torch.nn.Module,
    large: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    setting: Setting,
    config: DecodeConfig,
    *,
    eos_id: int,
    seed: int = 0,
    prompt_keys: Sequence[int] | None = None,
) -> list[Generation]:
    """The same decoding, recomputing the whole prefix of one prompt at every step (slow; reference)."""
    check_setting(setting)
    check_pair("small", small.config.vocab_size, "large", large.config.vocab_size)
    check_prompts(prompts, small.config.vocab_size)
    keys = list(range(len(prompts))) if prompt_keys is None else [int(k) for k in prompt_keys]
    uniforms = prompt_uniforms(seed, keys, config.max_new_tokens)
    out: list[Generation] = []
    for row, prompt in enumerate(prompts):
        seq = list(prompt)
        new: list[int] = []
        fallbacks: list[int] = []
        ended = False
        for step in range(config.max_new_tokens):
            ids = torch.tensor([seq])
            p_s = torch.softmax(small(input_ids=ids, use_cache=False).logits[:, -1].float(), -1)
            p_l = torch.softmax(large(input_ids=ids, use_cache=False).logits[:, -1].float(), -1)
            probs, degenerate = interpolate(p_s, p_l, setting.lambda_small, setting.lambda_large)
            probs, fell_back = resolve_step(
                probs,
                degenerate,
                p_l,
                torch.ones(1, dtype=torch.bool),
                setting,
                config.on_degenerate,
                step,
                [keys[row]],
            )
            if bool(fell_back.any()):
                fallbacks.append(step)
            token = int(
                pick_tokens(probs, config.decoding, config.top_p, uniforms[row : row + 1, step])
            )
            if token == eos_id:
                ended = True
                break
            seq.append(token)
            new.append(token)
        out.append(Generation(keys[row], list(prompt), new, ended, fallbacks))
    return out


VOCAB = 48
EOS = 0


def tiny_neox(hidden: int, seed: int, vocab: int = VOCAB) -> GPTNeoXForCausalLM:
    # A wide init makes the random models' distributions peaked enough for greedy to be meaningful.
    return make_tiny_neox(vocab, seed, hidden=hidden, positions=128, initializer_range=0.3)


@pytest.fixture(scope="module")
def pair() -> tuple[GPTNeoXForCausalLM, GPTNeoXForCausalLM]:
    return tiny_neox(32, seed=1), tiny_neox(64, seed=2)


PROMPTS = [[5, 17, 3, 22, 9], [11, 2, 40, 7, 31], [1, 1, 1, 1, 1], [30, 12, 8, 45, 19]]


# ---------------------------------------------------------------------------------------------------
# Eq. 2-3 by hand


def test_interpolate_subtracts_clamps_and_renormalises():
    p_s = torch.tensor([[0.5, 0.3, 0.2, 0.0]])
    p_l = torch.tensor([[0.2, 0.1, 0.3, 0.4]])
    probs, degenerate = interpolate(p_s, p_l, 1.0, -1.0)
    # p' = (0.3, 0.2, -0.1, -0.4) -> (0.3, 0.2, 0, 0) / 0.5
    torch.testing.assert_close(probs, torch.tensor([[0.6, 0.4, 0.0, 0.0]]))
    assert not degenerate.item()
    probs, _ = interpolate(p_s, p_l, -1.0, 1.0)
    # p' = (-0.3, -0.2, 0.1, 0.4) -> (0, 0, 0.2, 0.8)
    torch.testing.assert_close(probs, torch.tensor([[0.0, 0.0, 0.2, 0.8]]))
    probs, _ = interpolate(p_s, p_l, 1.0, 1.0)
    torch.testing.assert_close(probs, torch.tensor([[0.35, 0.2, 0.25, 0.2]]))
    probs, _ = interpolate(p_s, p_l, 0.0, 1.0)
    torch.testing.assert_close(probs, p_l)
    probs, _ = interpolate(p_s, p_l, 1.0, -0.5)
    # p' = (0.4, 0.25, 0.05, -0.2) -> /0.7
    torch.testing.assert_close(probs, torch.tensor([[0.4, 0.25, 0.05, 0.0]]) / 0.7)


def test_interpolate_flags_rows_with_no_positive_score():
    p = torch.tensor([[0.25, 0.25, 0.5], [0.1, 0.2, 0.7]])
    q = torch.tensor([[0.25, 0.25, 0.5], [0.2, 0.2, 0.6]])
    probs, degenerate = interpolate(p, q, 1.0, -1.0)
    assert degenerate.tolist() == [True, False]
    assert probs[0].tolist() == [0.0, 0.0, 0.0]
    torch.testing.assert_close(probs[1], torch.tensor([0.0, 0.0, 1.0]))


def test_pick_tokens_greedy_and_top_p_truncation():
    probs = torch.tensor([[0.1, 0.5, 0.3, 0.1]])
    assert pick_tokens(probs, "greedy", 0.9, torch.tensor([0.0])).item() == 1
    # Sorted: 0.5 (id 1), 0.3 (id 2), 0.1 (id 0), 0.1 (id 3). top_p 0.75 keeps {1, 2} (mass 0.8).
    # CDF over kept mass 0.8: id 1 for u < 0.625, id 2 after.
    assert pick_tokens(probs, "nucleus", 0.75, torch.tensor([0.0])).item() == 1
    assert pick_tokens(probs, "nucleus", 0.75, torch.tensor([0.62])).item() == 1
    assert pick_tokens(probs, "nucleus", 0.75, torch.tensor([0.63])).item() == 2
    assert pick_tokens(probs, "nucleus", 0.75, torch.tensor([0.9999])).item() == 2
    # top_p = 1 keeps all: u = 0.95 falls in the last tenth (one of the two 0.1 tokens, sort order).
    assert pick_tokens(probs, "nucleus", 1.0, torch.tensor([0.95])).item() in (0, 3)
    # A token with zero probability is never sampled, even at u -> 1.
    sparse = torch.tensor([[0.0, 1.0, 0.0]])
    assert pick_tokens(sparse, "nucleus", 1.0, torch.tensor([0.999999])).item() == 1


def test_settings_names_grid_and_errors():
    names = [s.name for s in make_settings()]
    assert names == ["p_s-p_l", "p_s", "p_s+p_l", "p_l", "p_l-p_s"]
    grid = make_settings(["p_s-p_l"], grid=[[1, -1], [1, -0.8], [1, -0.2]])
    assert [(s.name, s.lambda_small, s.lambda_large) for s in grid] == [
        ("p_s-p_l", 1.0, -1.0),
        ("1*p_s-0.8*p_l", 1.0, -0.8),
        ("1*p_s-0.2*p_l", 1.0, -0.2),
    ]
    assert setting_name(-1, 1) == "p_l-p_s"
    with pytest.raises(ConfigError, match="unknown setting 'p_x'"):
        make_settings(["p_x"])
    with pytest.raises(ConfigError, match="no positive weight"):
        make_settings([], grid=[[-1, 0]])
    with pytest.raises(ConfigError, match=r"\[-1, 1\]"):
        make_settings([], grid=[[2, -1]])
    with pytest.raises(ConfigError, match="decodings"):
        DecodeConfig(decoding="beam")
    with pytest.raises(ConfigError, match="top_p"):
        DecodeConfig(top_p=0.0)


def test_uniform_streams_do_not_depend_on_the_other_prompts():
    a = prompt_uniforms(7, [3, 9], 5)
    b = prompt_uniforms(7, [9], 5)
    assert torch.equal(a[1], b[0])
    assert not torch.equal(a[0], a[1])
    assert not torch.equal(prompt_uniforms(8, [9], 5), b)


# ---------------------------------------------------------------------------------------------------
# Decoding with two tiny models


def manual_greedy(model, prompt, n_new):
    """Plain greedy decoding of one model by argmax over the logits of the full prefix."""
    seq = list(prompt)
    with torch.no_grad():
        for _ in range(n_new):
            token = int(model(input_ids=torch.tensor([seq])).logits[0, -1].argmax())
            if token == EOS:
                break
            seq.append(token)
    return seq[len(prompt) :]


def test_greedy_p_l_reproduces_plain_greedy_of_the_large_model(pair):
    small, large = pair
    cfg = DecodeConfig("greedy", max_new_tokens=20)
    out = decode(small, large, PROMPTS, Setting("p_l", 0.0, 1.0), cfg, eos_id=EOS)
    with torch.no_grad():
        hf = large.generate(
            torch.tensor(PROMPTS),
            attention_mask=torch.ones(len(PROMPTS), 5, dtype=torch.long),
            do_sample=False,
            max_new_tokens=20,
            eos_token_id=EOS,
            pad_token_id=EOS,
        )[:, 5:].tolist()
    for gen, prompt, ref in zip(out, PROMPTS, hf, strict=True):
        expected = ref[: ref.index(EOS)] if EOS in ref else ref
        assert gen.new_ids == expected == manual_greedy(large, prompt, 20)
        assert gen.ended_with_eos == (EOS in ref)
        assert gen.n_fallback_steps == 0
    # And (1, 0) is plain greedy of the small model.
    out_s = decode(small, large, PROMPTS, Setting("p_s", 1.0, 0.0), cfg, eos_id=EOS)
    assert [g.new_ids for g in out_s] == [manual_greedy(small, p, 20) for p in PROMPTS]


@pytest.mark.parametrize("decoding", ["greedy", "nucleus"])
@pytest.mark.parametrize("setting", make_settings())
def test_cached_loop_gives_the_uncached_tokens(pair, setting, decoding):
    small, large = pair
    cfg = DecodeConfig(decoding, max_new_tokens=12, top_p=0.9, on_degenerate="fallback_large")
    cached = decode(small, large, PROMPTS, setting, cfg, eos_id=EOS, seed=3)
    reference = decode_uncached(small, large, PROMPTS, setting, cfg, eos_id=EOS, seed=3)
    assert [g.new_ids for g in cached] == [g.new_ids for g in reference]
    assert [g.ended_with_eos for g in cached] == [g.ended_with_eos for g in reference]


def test_left_padded_batch_matches_prompt_by_prompt(pair):
    small, large = pair
    prompts = [[5, 17, 3], [11, 2, 40, 7, 31, 6, 6], [1], [30, 12, 8, 45, 19]]
    setting = Setting("p_s-p_l", 1.0, -1.0)
    cfg = DecodeConfig("nucleus", max_new_tokens=10, batch_size=4, on_degenerate="fallback_large")
    batched = decode(
        small,
        large,
        prompts,
        setting,
        cfg,
        eos_id=EOS,
        seed=5,
        prompt_keys=[10, 11, 12, 13],
    )
    one = DecodeConfig("nucleus", max_new_tokens=10, batch_size=1, on_degenerate="fallback_large")
    single = decode(
        small,
        large,
        prompts,
        setting,
        one,
        eos_id=EOS,
        seed=5,
        prompt_keys=[10, 11, 12, 13],
    )
    assert [g.new_ids for g in batched] == [g.new_ids for g in single]
    assert [g.prompt_key for g in batched] == [10, 11, 12, 13]


def test_seeded_nucleus_is_reproducible_and_seed_dependent(pair):
    small, large = pair
    setting = Setting("p_s+p_l", 1.0, 1.0)
    cfg = DecodeConfig("nucleus", max_new_tokens=15, top_p=0.9, batch_size=3)
    first = decode(small, large, PROMPTS, setting, cfg, eos_id=EOS, seed=11)
    again = decode(small, large, PROMPTS, setting, cfg, eos_id=EOS, seed=11)
    other = decode(small, large, PROMPTS, setting, cfg, eos_id=EOS, seed=12)
    assert [g.new_ids for g in first] == [g.new_ids for g in again]
    assert [g.new_ids for g in first] != [g.new_ids for g in other]
    # Sampled text differs from greedy text (the random models are not one-hot).
    greedy = decode(small, large, PROMPTS, setting, DecodeConfig("greedy", 15), eos_id=EOS)
    assert [g.new_ids for g in first] != [g.new_ids for g in greedy]


def test_generation_stops_at_end_of_text(pair):
    small, _large = pair
    # A large model whose last hidden state is always e_0 and whose head maps e_0 to a peak on EOS.
    eos_large = tiny_neox(64, seed=2)
    with torch.no_grad():
        eos_large.gpt_neox.final_layer_norm.weight.zero_()
        eos_large.gpt_neox.final_layer_norm.bias.zero_()
        eos_large.gpt_neox.final_layer_norm.bias[0] = 1.0
        eos_large.get_output_embeddings().weight.zero_()
        eos_large.get_output_embeddings().weight[EOS, 0] = 10.0
    out = decode(
        small,
        eos_large,
        PROMPTS[:2],
        Setting("p_l", 0.0, 1.0),
        DecodeConfig(),
        eos_id=EOS,
    )
    assert all(g.ended_with_eos and g.new_ids == [] for g in out)


def test_degenerate_step_errors_or_falls_back_to_p_l(pair):
    small, _ = pair
    # The same model twice: p_s - p_l is exactly zero everywhere, at every step.
    setting = Setting("p_s-p_l", 1.0, -1.0)
    with pytest.raises(
        DataError, match=r"no positive score at new token 0 for prompt\(s\) \[0, 1\]"
    ):
        decode(small, small, PROMPTS[:2], setting, DecodeConfig("greedy", 5), eos_id=EOS)
    cfg = DecodeConfig("greedy", 5, on_degenerate="fallback_large")
    out = decode(small, small, PROMPTS[:2], setting, cfg, eos_id=EOS)
    plain = [manual_greedy(small, p, 5) for p in PROMPTS[:2]]
    assert [g.new_ids for g in out] == plain
    assert [g.n_fallback_steps for g in out] == [len(p) + (1 if len(p) < 5 else 0) for p in plain]


def test_bad_pairs_and_prompts_fail_before_any_forward(pair):
    small, large = pair
    other_vocab = tiny_neox(32, seed=1, vocab=VOCAB + 2)
    cfg = DecodeConfig()
    with pytest.raises(ConfigError, match="different vocabulary sizes"):
        decode(small, other_vocab, PROMPTS, Setting("p_l", 0.0, 1.0), cfg, eos_id=EOS)
    with pytest.raises(ConfigError, match="different tokenizers"):
        check_pair("gpt-32", 48, "gpt-64", 48, "sha-a", "sha-b")
    with pytest.raises(DataError, match="prompt set is empty"):
        decode(small, large, [], Setting("p_l", 0.0, 1.0), cfg, eos_id=EOS)
    with pytest.raises(DataError, match=r"prompt 1 has token ids outside \[0, 48\)"):
        decode(small, large, [[1, 2], [3, 99]], Setting("p_l", 0.0, 1.0), cfg, eos_id=EOS)
    with pytest.raises(ConfigError, match="no positive weight"):
        decode(small, large, PROMPTS, Setting("zero", 0.0, -1.0), cfg, eos_id=EOS)


@pytest.mark.parametrize("decoding", ["greedy", "nucleus"])
def test_shorter_lengths_are_prefixes_of_the_longest_run(pair, decoding):
    small, large = pair
    setting = Setting("p_s-p_l", 1.0, -1.0)
    long = decode(small, large, PROMPTS, setting, DecodeConfig(decoding, 16), eos_id=EOS, seed=4)
    short = decode(small, large, PROMPTS, setting, DecodeConfig(decoding, 6), eos_id=EOS, seed=4)
    for a, b in zip(long, short, strict=True):
        cut = a.truncated(6)
        assert (cut.new_ids, cut.ended_with_eos) == (b.new_ids, b.ended_with_eos)


def test_decode_grid_records_every_setting_decoding_and_length(pair):
    small, large = pair
    records = decode_grid(
        small,
        large,
        PROMPTS[:3],
        [7, 8, 9],
        make_settings(["p_s-p_l", "p_l"]),
        ["greedy", "nucleus"],
        [4, 8],
        top_p=0.9,
        on_degenerate="error",
        batch_size=2,
        eos_id=EOS,
        seed=0,
    )
    assert len(records) == 2 * 2 * 2 * 3
    first = records[0]
    assert (
        first["setting"],
        first["decoding"],
        first["max_new_tokens"],
        first["prompt_doc"],
    ) == (
        "p_s-p_l",
        "greedy",
        4,
        7,
    )
    assert first["prompt_ids"] == PROMPTS[0] and len(first["new_ids"]) <= 4
    assert np.isnan(first["top_p"]) and records[-1]["top_p"] == 0.9
    greedy_8 = [
        r["new_ids"] for r in records if r["decoding"] == "greedy" and r["max_new_tokens"] == 8
    ]
    assert greedy_8[:3] == [
        g.new_ids
        for g in decode(
            small,
            large,
            PROMPTS[:3],
            Setting("p_s-p_l", 1, -1),
            DecodeConfig("greedy", 8),
            eos_id=EOS,
        )
    ]
    with pytest.raises(ConfigError, match="max_new_tokens"):
        decode_grid(
            small,
            large,
            PROMPTS,
            [0, 1, 2, 3],
            make_settings(),
            ["greedy"],
            [],
            top_p=0.9,
            on_degenerate="error",
            batch_size=2,
            eos_id=EOS,
            seed=0,
        )
