"""Generated-text tables: prompts, prompt-free NLL slicing and perplexity aggregation on hand values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmtraj.errors import ConfigError, DataError
from lmtraj.generation.texts import (
    final_table,
    generated_nll,
    perplexity_table,
    prompts_from_documents,
    resolve_checkpoint,
    scoring_plan,
    texts_frame,
)


def test_prompts_take_the_first_tokens_of_long_enough_documents():
    ids = np.arange(20)
    docs = [ids[0:6], ids[6:9], ids[9:15], ids[15:20]]  # lengths 6, 3, 6, 5
    picked, prompts = prompts_from_documents(docs, n_prompts=2, prompt_tokens=5)
    assert picked == [0, 2]
    assert prompts == [[0, 1, 2, 3, 4], [9, 10, 11, 12, 13]]
    assert prompts_from_documents(docs, n_prompts=10, prompt_tokens=5)[0] == [
        0,
        2,
        3,
    ]
    with pytest.raises(DataError, match="prompt set is empty: none of the 4"):
        prompts_from_documents(docs, n_prompts=2, prompt_tokens=7)
    with pytest.raises(ConfigError, match="n_prompts"):
        prompts_from_documents(docs, n_prompts=0)


def make_texts() -> pd.DataFrame:
    rec = {"setting": "p_s-p_l", "decoding": "greedy"}
    records = [
        {
            **rec,
            "max_new_tokens": 3,
            "prompt_doc": 0,
            "prompt_ids": [1, 2],
            "new_ids": [3, 4, 5],
        },
        {
            **rec,
            "max_new_tokens": 3,
            "prompt_doc": 1,
            "prompt_ids": [6, 7],
            "new_ids": [8],
        },
        {
            **rec,
            "max_new_tokens": 2,
            "prompt_doc": 0,
            "prompt_ids": [1, 2],
            "new_ids": [3, 4],
        },
        {
            **rec,
            "setting": "p_l",
            "max_new_tokens": 3,
            "prompt_doc": 0,
            "prompt_ids": [1, 2],
            "new_ids": [],
        },
    ]
    return texts_frame(records, lambda ids: " ".join(f"w{i}" for i in ids))


def test_texts_frame_and_scoring_plan():
    texts = make_texts()
    assert texts["text_id"].tolist() == [0, 1, 2, 3]
    assert texts["n_new_tokens"].tolist() == [3, 1, 2, 0]
    assert texts["text"].tolist() == ["w3 w4 w5", "w8", "w3 w4", ""]
    assert texts["prompt_text"][1] == "w6 w7"
    seqs, index = scoring_plan(texts)
    # The 2-token text is a prefix of the 3-token one (same setting, decoding, prompt); the empty one
    # has nothing to score.
    assert [s.tolist() for s in seqs] == [[1, 2, 3, 4, 5], [6, 7, 8]]
    assert index.tolist() == [0, 1, 0, -1]


def test_scoring_plan_keeps_texts_that_are_not_prefixes_apart():
    records = [
        {
            "setting": "s",
            "decoding": "nucleus",
            "prompt_doc": 0,
            "prompt_ids": [1],
            "new_ids": [2, 3],
        },
        {
            "setting": "s",
            "decoding": "nucleus",
            "prompt_doc": 0,
            "prompt_ids": [1],
            "new_ids": [9],
        },
    ]
    seqs, index = scoring_plan(texts_frame(records, str))
    assert [s.tolist() for s in seqs] == [[1, 2, 3], [1, 9]]
    assert index.tolist() == [0, 1]


def scored(texts):
    seqs, index = scoring_plan(texts)
    # Scorer output: entry k is the NLL of token k+1. Prompt of 2 -> generated NLLs start at entry 1.
    nll = [np.array([9.0, 1.0, 2.0, 3.0]), np.array([9.0, 0.5])]
    assert [len(s) - 1 for s in seqs] == [len(n) for n in nll]
    return generated_nll(texts, index, nll)


def test_generated_nll_drops_the_prompt_positions():
    out = scored(make_texts())
    assert out["nll_sum"].tolist() == [6.0, 0.5, 3.0, 0.0]
    assert out["n_tokens"].tolist() == [3, 1, 2, 0]
    texts = make_texts()
    with pytest.raises(DataError, match="scored sequence 0 has 2 NLLs, text needs 4"):
        generated_nll(texts, scoring_plan(texts)[1], [np.zeros(2), np.zeros(2)])


def test_perplexity_is_token_weighted_and_counts_empty_texts():
    scores = scored(make_texts())
    scores["model"], scores["step"] = "gpt-a", 100
    table = perplexity_table(scores).set_index(["setting", "max_new_tokens"])
    row = table.loc[("p_s-p_l", 3)]
    assert row["ppl"] == pytest.approx(np.exp(6.5 / 4))
    assert row["ppl_text_mean"] == pytest.approx((np.exp(2.0) + np.exp(0.5)) / 2)
    assert row["n_texts"] == 2 and row["n_tokens"] == 4
    assert table.loc[("p_s-p_l", 2), "ppl"] == pytest.approx(np.exp(1.5))
    assert table.loc[("p_l", 3), "n_empty"] == 1 and np.isnan(table.loc[("p_l", 3), "ppl"])


def test_final_table_is_one_column_per_model_in_size_order():
    ppl = pd.DataFrame(
        {
            "model": ["big", "big", "small", "small"],
            "step": [10, 20, 10, 20],
            "setting": ["p_s"] * 4,
            "decoding": ["greedy"] * 4,
            "max_new_tokens": [50] * 4,
            "ppl": [5.0, 4.0, 7.0, 6.0],
        }
    )
    out = final_table(ppl, {"small": 20, "big": 20}, ["small", "big"])
    assert list(out.columns) == [
        "setting",
        "decoding",
        "max_new_tokens",
        "small",
        "big",
    ]
    assert out[["small", "big"]].values.tolist() == [[6.0, 4.0]]


def test_a_prefix_scores_like_the_text_alone():
    """The reason scoring_plan may score only the longest text: the causal scorer gives a prefix's
    tokens the same NLLs inside the longer sequence."""
    from conftest import tiny_neox

    from lmtraj.scoring import token_nll

    model = tiny_neox(vocab_size=40)
    long, short = np.arange(1, 21) % 40, np.arange(1, 11) % 40
    a, b = token_nll(model, [long, short], context=32, stride=16)
    np.testing.assert_allclose(a[: len(b)], b, rtol=1e-5, atol=1e-6)


def test_resolve_checkpoint_defaults_and_errors():
    models, steps = ["s", "m", "l"], {"s": [0, 8, 16], "m": [0, 8, 16], "l": [0, 4, 32]}
    empty = {"model": None, "step": None}
    assert resolve_checkpoint(empty, "small", models, steps) == ("s", 16)
    assert resolve_checkpoint(empty, "large", models, steps) == ("l", 32)
    assert resolve_checkpoint({"model": "m", "step": 8}, "large", models, steps) == ("m", 8)
    with pytest.raises(ConfigError, match=r"generation.small.model: 'x' is not one of"):
        resolve_checkpoint({"model": "x", "step": None}, "small", models, steps)
    with pytest.raises(ConfigError, match=r"generation.large.step: 5 is not a checkpoint of 'l'"):
        resolve_checkpoint({"model": None, "step": 5}, "large", models, steps)
