"""End to end: two tiny families with different tokenizers in one run (config/families-smoke.yaml), each
analysed on its own, then compared per byte: the same validation text, each other's generated texts,
findings across families."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, dry_run_jobs, run_snakemake

CONFIG = ROOT / "config" / "families-smoke.yaml"
FAMILIES = ["wide", "narrow"]


@pytest.fixture(scope="module")
def families_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("families")
    run_snakemake(["--configfile", str(CONFIG), "--cores", "2"], workdir, timeout=2400)
    return workdir


def _family(run, family, path):
    return run / "families" / family / path


def test_each_family_runs_with_its_own_tokenizer(families_run):
    vocab = {}
    for family in FAMILIES:
        tokenizer = json.loads(
            _family(families_run, family, "results/corpus/tokenizer/tokenizer.json").read_text()
        )
        vocab[family] = len(tokenizer["model"]["vocab"])
        assert _family(families_run, family, "results/regression/findings.tsv").stat().st_size > 0
    assert vocab == {"wide": 512, "narrow": 384}
    # Same corpus and seed: the validation text is the same, byte for byte.
    wide, narrow = (
        _family(families_run, f, "results/corpus/ppl_documents.jsonl").read_bytes()
        for f in FAMILIES
    )
    assert wide == narrow


def test_both_families_classify_the_same_words(families_run):
    """trends.units: words in both families: the classified units are words of the shared text, keyed by
    (document, word number), whatever the tokenizer (each scores its first 96 tokens of a document, so
    the family with the longer tokens reaches further into it)."""
    wide, narrow = (
        pd.read_parquet(_family(families_run, f, "results/losses/words.parquet")) for f in FAMILIES
    )
    shared = wide.merge(narrow, on=["doc", "position"], suffixes=("_wide", "_narrow"))
    assert len(shared) == min(len(wide), len(narrow)) > 100
    assert (shared["token_wide"] == shared["token_narrow"]).all()
    assert (shared["n_tokens_wide"] != shared["n_tokens_narrow"]).any()  # different tokenizers
    for family, words in zip(FAMILIES, (wide, narrow), strict=True):
        shares = pd.read_csv(_family(families_run, family, "results/trends/shares.tsv"), sep="\t")
        assert (shares.groupby(["model", "fraction"])["n_tokens"].sum() == len(words)).all(), family
    classified = pd.read_parquet(
        _family(families_run, "wide", "results/trends/tiny-16x2/tokens.parquet")
    )
    assert classified[["doc", "position"]].equals(wide[["doc", "position"]])


def test_bits_per_byte_of_every_family(families_run):
    table = pd.read_csv(families_run / "results/families/checkpoints.tsv", sep="\t")
    assert list(table["family"].unique()) == FAMILIES
    for family in FAMILIES:
        own = pd.read_csv(_family(families_run, family, "results/losses/checkpoints.tsv"), sep="\t")
        mine = table[table["family"] == family].drop(columns="family").reset_index(drop=True)
        pd.testing.assert_frame_equal(mine, own)
    assert table["valid_bpb"].between(0.5, 20).all()
    # Training lowers bits per byte in both families (final vs initial checkpoint of each model).
    for (_, _), g in table.groupby(["family", "model"]):
        g = g.sort_values("step")
        assert g["valid_bpb"].iloc[-1] < g["valid_bpb"].iloc[0]
    figure = families_run / "results/families/figures/families_valid_bpb.png"
    assert figure.stat().st_size > 5000


def test_texts_of_one_family_scored_by_the_other(families_run):
    table = pd.read_csv(families_run / "results/families/generation_perplexity.tsv", sep="\t")
    assert set(zip(table["decoder_family"], table["scorer_family"])) == {
        ("wide", "narrow"),
        ("narrow", "wide"),
    }
    checkpoints = pd.read_csv(families_run / "results/families/checkpoints.tsv", sep="\t")
    for (decoder, scorer), rows in table.groupby(["decoder_family", "scorer_family"]):
        # Every checkpoint of every model of the scoring family scored the texts.
        scored = set(zip(rows["model"], rows["step"]))
        expected = checkpoints[checkpoints["family"] == scorer]
        assert scored == set(zip(expected["model"], expected["step"]))
        # Bytes counted are the decoder's generated text, whoever scores it.
        texts = pd.read_json(
            _family(families_run, decoder, "results/generation/texts.jsonl"), lines=True
        )
        texts["n_bytes"] = texts["text"].map(lambda t: len(t.encode("utf-8")))
        per_setting = texts.groupby(["setting", "decoding", "max_new_tokens"])["n_bytes"].sum()
        for key, group in rows.groupby(["setting", "decoding", "max_new_tokens"]):
            assert (group["n_bytes"] == per_setting[key]).all(), (decoder, scorer, key)
    np.testing.assert_allclose(
        table["bits_per_byte"], table["nll_sum"] / (math.log(2) * table["n_bytes"]), rtol=1e-6
    )
    np.testing.assert_allclose(
        table["ppl_token"], np.exp(table["nll_sum"] / table["n_tokens"]), rtol=1e-6
    )
    pngs = sorted((families_run / "results/families/figures").glob("families_generation_*.png"))
    assert [p.name for p in pngs] == [
        "families_generation_p_l_greedy_16.png",
        "families_generation_p_s-p_l_greedy_16.png",
    ]


def test_findings_across_families(families_run):
    findings = pd.read_csv(families_run / "results/families/findings.tsv", sep="\t")
    assert (findings["finding"] == "families").all() and len(findings) >= 5
    computed = findings.dropna(subset=["value_here"])
    assert not computed.empty
    assert (computed["ci_low"] <= computed["value_here"]).all()
    assert (computed["value_here"] <= computed["ci_high"]).all()
    points = pd.read_csv(families_run / "results/families/points.tsv", sep="\t")
    assert set(points["family"]) == set(FAMILIES)
    assert (
        points[["accuracy", "log10_valid_bpb", "log10_params", "log10_flops"]].notna().all().all()
    )


def test_rerun_only_what_an_edit_invalidates(families_run, tmp_path):
    config = yaml.safe_load(CONFIG.read_text())
    assert dry_run_jobs(families_run, config, tmp_path) == {}
    config["families"]["findings"]["bootstrap"] = 300
    assert dry_run_jobs(families_run, config, tmp_path) == {"families_findings": 1, "all": 1}
