"""End-to-end checks of the generation stage on the shared smoke run (config/smoke.yaml)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

pytestmark = pytest.mark.slow

CONFIG = yaml.safe_load((Path(__file__).resolve().parents[2] / "config/smoke.yaml").read_text())
GEN = CONFIG["generation"]
MODELS = list(CONFIG["models"])
KEYS = ["setting", "decoding", "max_new_tokens"]


@pytest.fixture(scope="module")
def texts(smoke_run) -> pd.DataFrame:
    with open(smoke_run / "results/generation/texts.jsonl") as fh:
        return pd.DataFrame([json.loads(line) for line in fh])


@pytest.fixture(scope="module")
def ppl(smoke_run) -> pd.DataFrame:
    return pd.read_csv(smoke_run / "results/generation/perplexity.tsv", sep="\t")


def test_texts_cover_every_setting_decoding_length_and_prompt(texts, smoke_run):
    n_settings = len(GEN["settings"]) + len(GEN.get("lambda_grid", []))
    expected = n_settings * len(GEN["decodings"]) * len(GEN["max_new_tokens"]) * GEN["n_prompts"]
    assert len(texts) == expected
    assert texts["prompt_ids"].map(len).eq(5).all()
    assert (texts["new_ids"].map(len) <= texts["max_new_tokens"]).all()
    assert (texts["n_new_tokens"] == texts["new_ids"].map(len)).all()
    assert set(texts["small_model"]) == {MODELS[0]} and set(texts["large_model"]) == {MODELS[-1]}
    assert texts.loc[texts["decoding"] == "greedy", "top_p"].isna().all()
    # A shorter length is the prefix of the longer text of the same setting, decoding and prompt.
    short, long = sorted(GEN["max_new_tokens"])[:2]
    keyed = texts.set_index(["setting", "decoding", "prompt_doc", "max_new_tokens"])["new_ids"]
    for (setting, decoding, doc, length), ids in keyed.items():
        if length == short:
            assert keyed[(setting, decoding, doc, long)][: len(ids)] == ids
    readable = pd.read_csv(smoke_run / "results/generation/texts.tsv", sep="\t")
    assert len(readable) == len(texts)
    assert (
        readable["new_ids"].fillna("").str.split().map(len).tolist()
        == texts["n_new_tokens"].tolist()
    )


def test_greedy_p_l_texts_are_plain_greedy_of_the_large_model(texts, smoke_run):
    import torch

    from lmtraj.checkpoints.storage import load_checkpoint

    row = texts[(texts["setting"] == "p_l") & (texts["decoding"] == "greedy")]
    row = row[row["max_new_tokens"] == max(GEN["max_new_tokens"])].iloc[0]
    path = smoke_run / f"results/checkpoints/{row['large_model']}/step{row['large_step']}"
    spec = {"model": row["large_model"], "step": int(row["large_step"]), "source": "local"}
    model = load_checkpoint(spec | {"path": str(path)})
    eos = model.config.eos_token_id
    seq = list(row["prompt_ids"])
    with torch.no_grad():
        for _ in range(row["max_new_tokens"]):
            token = int(model(input_ids=torch.tensor([seq])).logits[0, -1].argmax())
            if token == eos:
                break
            seq.append(token)
    assert seq[5:] == row["new_ids"]


def test_perplexity_of_every_checkpoint_and_final_table(ppl, smoke_run):
    ckpts = pd.read_csv(smoke_run / "results/losses/checkpoints.tsv", sep="\t")
    n_groups = ppl[KEYS].drop_duplicates().shape[0]
    assert len(ppl) == len(ckpts) * n_groups
    assert ppl.merge(ckpts, on=["model", "step"]).shape[0] == len(ppl)
    assert np.isfinite(ppl["ppl"]).all() and (ppl["ppl"] > 1).all()
    assert ppl["valid_ppl"].notna().all() and ppl["flops"].notna().all()

    # One perplexity recomputed from the per-text scores of the final checkpoint of the largest model.
    model, step = MODELS[-1], int(ckpts.loc[ckpts["model"] == MODELS[-1], "step"].max())
    files = list((smoke_run / f"results/generation/{model}").glob(f"steps*/step{step}.parquet"))
    assert len(files) == 1
    scores = pd.read_parquet(files[0])
    sub = scores[(scores["setting"] == "p_s-p_l") & (scores["decoding"] == "nucleus")]
    sub = sub[sub["max_new_tokens"] == max(GEN["max_new_tokens"])]
    expected = np.exp(sub["nll_sum"].sum() / sub["n_tokens"].sum())
    final = pd.read_csv(smoke_run / "results/generation/final_perplexity.tsv", sep="\t")
    assert list(final.columns) == [*KEYS, *MODELS]
    got = final.set_index(KEYS).loc[("p_s-p_l", "nucleus", max(GEN["max_new_tokens"])), model]
    assert got == pytest.approx(expected, rel=1e-5)
    assert len(final) == n_groups


def test_corrupted_text_gets_worse_with_corruption(smoke_run):
    table = pd.read_csv(smoke_run / "results/generation/corrupted.tsv", sep="\t")
    levels = sorted(
        float(q) for q in GEN["corruption"].get("levels_percent", [0, 20, 40, 60, 80, 100])
    )
    assert sorted(table["model"].unique()) == sorted(MODELS)
    for model in MODELS:
        sub = table[table["model"] == model].sort_values("level_percent")
        assert sub["level_percent"].tolist() == levels
        assert sub["ppl"].iloc[-1] > sub["ppl"].iloc[0]
        assert (sub["n_scored"] == sub["n_scored"].iloc[0]).all()


def test_figures_exist(smoke_run):
    figures = smoke_run / "results/generation/figures"
    names = ["generation_corrupted"] + [
        f"generation_{kind}_{decoding}_{length}"
        for kind in ["trajectories", "valid_ppl"]
        for decoding in GEN["decodings"]
        for length in GEN["max_new_tokens"]
    ]
    for name in names:
        for suffix in (".png", ".pdf"):
            assert (figures / f"{name}{suffix}").stat().st_size > 1000, name
