"""Finding 2 on synthetic score tables and on texts decoded and scored by untrained tiny GPT-NeoX models.

Null cases (the claim is false): the decoding models alone scale inversely; every text gets harder with
size alike (untrained models); trajectories only fall. True case: models that did not decode the texts
find them harder with size, and first lower, then raise their perplexity on them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import tiny_neox

from lmtraj.errors import DataError
from lmtraj.generation.decoding import decode_grid
from lmtraj.generation.mixture import make_settings
from lmtraj.generation.texts import generated_nll, scoring_plan, texts_frame
from lmtraj.regression.bootstrap import ABSENT, Bootstrap
from lmtraj.regression.finding_texts import text_rows
from lmtraj.scoring import token_nll

BOOT = Bootstrap(n_boot=300, seed=2)
MODELS = ["s", "a", "b", "c", "l"]  # s and l decode; a, b, c do not
SIZES = pd.Series([1e6, 3e6, 1e7, 3e7, 1e8], index=MODELS)
STEPS = np.arange(0, 110, 10)


def synthetic(curve, n_prompts: int = 24, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Texts of two settings from the same prompts, and per-text scores from `curve(model, step,
    setting)` = log PPL, plus per-prompt and per-score noise."""
    rng = np.random.default_rng(seed)
    texts = pd.DataFrame(
        [
            {"setting": s, "decoding": "nucleus", "max_new_tokens": 20, "prompt_doc": p}
            for s in ("p_s-p_l", "p_l")
            for p in range(n_prompts)
        ]
    ).assign(small_model="s", large_model="l")
    texts.insert(0, "text_id", np.arange(len(texts)))
    prompt_effect = rng.normal(0, 0.3, n_prompts)
    rows = []
    for model in MODELS:
        for step in STEPS:
            for t in texts.itertuples(index=False):
                level = curve(model, step, t.setting) + prompt_effect[t.prompt_doc]
                level += rng.normal(0, 0.05)
                rows.append(
                    {
                        "text_id": t.text_id,
                        "model": model,
                        "step": int(step),
                        "nll_sum": 20 * level,
                        "n_tokens": 20,
                    }
                )
    return texts, pd.DataFrame(rows)


def rows_of(texts, scores, **kwargs) -> dict:
    rows = text_rows(
        texts,
        scores,
        kwargs.pop("sizes", SIZES),
        kwargs.pop("models", MODELS),
        setting="p_s-p_l",
        control="p_l",
        start_fraction=0.1,
        bootstrap=BOOT,
    )
    return {(r["stat"], r["model"]): r for r in rows}


def decade(model: str) -> float:
    return float(np.log10(SIZES[model] / 1e6))


def paper_like(model, step, setting):
    """Target texts: fall, then a late rise that grows with size; control: falls, lower with size."""
    learn = 3.0 + 2.0 * np.exp(-step / 10)
    if setting == "p_l":
        return learn - 0.2 * decade(model) * step / 100
    return learn + 0.3 * decade(model) * (step / 100) ** 2


def test_the_papers_pattern_holds_on_models_that_did_not_decode():
    rows = rows_of(*synthetic(paper_like))
    scaling = rows["inverse_scaling", ""]
    assert scaling["ci_low"] <= scaling["value"] <= scaling["ci_high"]
    assert scaling["verdict"] == "yes", scaling
    assert "decoded by ['l', 's']" in scaling["note"]
    # a (smallest non-decoder) rises only a little; the larger ones rise clearly
    for model in ("b", "c"):
        assert rows["trajectory", model]["verdict"] == "yes", rows["trajectory", model]
    assert ("trajectory", "s") not in rows and ("trajectory", "l") not in rows


def test_inverse_scaling_of_the_decoding_models_alone_is_no_evidence():
    def only_decoders(model, step, setting):
        normal = 4.0 - 0.2 * decade(model)
        if setting == "p_s-p_l" and model in ("s", "l"):
            return normal + (
                0.0 if model == "s" else 2.0
            )  # the tautology: p_s > p_l on its own texts
        return normal

    rows = rows_of(*synthetic(only_decoders))
    assert rows["inverse_scaling", ""]["verdict"] == "no"
    assert all(r["verdict"] != "yes" for r in rows.values())


def test_a_size_effect_common_to_every_text_is_no_evidence():
    # untrained-like: larger models are worse on every text, and nothing moves along training
    rows = rows_of(*synthetic(lambda m, s, setting: 4.6 + 0.1 * decade(m)))
    assert all(r["verdict"] != "yes" for r in rows.values()), rows


def test_trajectories_that_only_fall_are_never_a_rise():
    rows = rows_of(*synthetic(lambda m, s, setting: 3.0 + 2.0 * np.exp(-s / 30)))
    for model in ("a", "b", "c"):
        assert rows["trajectory", model]["verdict"] in ("no", "inconclusive")


def test_not_in_this_run_with_two_models_or_without_control_texts():
    texts, scores = synthetic(paper_like, n_prompts=6)
    two = rows_of(texts, scores[scores["model"].isin(["s", "l"])], models=["s", "l"])
    assert {r["verdict"] for r in two.values()} == {ABSENT}
    assert (
        "needs two or more sizes that took no part in decoding"
        in two["inverse_scaling", ""]["note"]
    )
    no_control = rows_of(texts[texts["setting"] != "p_l"], scores)
    assert {r["verdict"] for r in no_control.values()} == {ABSENT}
    assert "no ['p_l'] texts" in no_control["inverse_scaling", ""]["note"]
    with pytest.raises(DataError, match="which models decoded them"):
        rows_of(texts.drop(columns="small_model"), scores)


@torch.no_grad()
def test_texts_decoded_and_scored_by_untrained_models_are_never_a_yes():
    """The issue's null: untrained models decode p_s - p_l (so p_s > p_l on every token) and untrained
    models of growing width (higher perplexity on any text) score them; their 'checkpoints' are
    independent random initialisations."""
    vocab = 97
    small, large = tiny_neox(vocab, seed=0, hidden=32), tiny_neox(vocab, seed=1, hidden=64)
    rng = np.random.default_rng(0)
    prompts = rng.integers(1, vocab - 1, size=(12, 5)).tolist()
    records = decode_grid(
        small,
        large,
        prompts,
        list(range(12)),
        make_settings(["p_s-p_l", "p_l"]),
        ["nucleus"],
        [12],
        top_p=0.9,
        on_degenerate="fallback_large",
        batch_size=12,
        eos_id=vocab - 1,
        seed=0,
    )
    texts = texts_frame(records, lambda ids: " ".join(map(str, ids)))
    texts = texts.assign(small_model="s", large_model="l")
    seqs, index = scoring_plan(texts)
    # the decoders' own scores are never read: only the three other sizes score the texts
    hidden = {"a": 32, "b": 48, "c": 64}
    scores, sizes = [], {"s": small.num_parameters(), "l": large.num_parameters()}
    for m, model_name in enumerate(hidden):
        for k, step in enumerate([100, 200, 300]):
            net = tiny_neox(vocab, seed=100 * (m + 1) + k, hidden=hidden[model_name])
            sizes[model_name] = net.num_parameters()
            nll = token_nll(net, seqs, context=64, stride=32)
            scores.append(generated_nll(texts, index, nll).assign(model=model_name, step=step))
    rows = rows_of(texts, pd.concat(scores, ignore_index=True), sizes=pd.Series(sizes))
    assert {key[0] for key in rows} == {"inverse_scaling", "trajectory"}
    assert all(r["verdict"] != "yes" for r in rows.values()), rows
