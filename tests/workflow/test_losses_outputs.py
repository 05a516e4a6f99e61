"""The smoke run's per-token losses and validation perplexity (the losses stage's contract)."""

import json

import numpy as np
import pandas as pd
import yaml
from conftest import SMOKE_CONFIG


def test_trajectories_align_with_the_token_index(smoke_run):
    config = yaml.safe_load(SMOKE_CONFIG.read_text())
    tokens = pd.read_parquet(smoke_run / "results/losses/tokens.parquet")
    table = pd.read_csv(smoke_run / "results/losses/checkpoints.tsv", sep="\t")
    assert list(table["model"].unique()) == list(config["models"])
    assert (tokens["position"] >= 1).all()
    for model in config["models"]:
        matrix = np.load(smoke_run / f"results/losses/{model}/trajectory.npy")
        rows = table[table["model"] == model]
        assert matrix.shape == (len(tokens), len(rows)) and matrix.dtype == np.float32
        assert rows["step"].is_monotonic_increasing
        assert np.isfinite(matrix).all()
        # The matrix is the token-analysis set: its mean NLL is each checkpoint's analysis_nll (the
        # validation perplexity of the x axis comes from the disjoint ppl set, tests/workflow/
        # test_heldout_sets.py).
        analysis = [
            json.loads(
                next(smoke_run.glob(f"results/losses/{model}/steps*/step{s}.json")).read_text()
            )["analysis_nll"]
            for s in rows["step"]
        ]
        np.testing.assert_allclose(
            np.exp(analysis), np.exp(matrix.mean(axis=0, dtype=np.float64)), rtol=1e-5
        )


def test_checkpoint_axes_and_learning(smoke_run):
    config = yaml.safe_load(SMOKE_CONFIG.read_text())
    table = pd.read_csv(smoke_run / "results/losses/checkpoints.tsv", sep="\t")
    t = config["training"]
    assert (table["tokens_seen"] == table["step"] * t["batch_size"] * t["context"]).all()
    np.testing.assert_allclose(table["flops"], 6 * table["params_total"] * table["tokens_seen"])
    sizes = table.groupby("model", sort=False)["params_non_embedding"].first()
    assert sizes.is_monotonic_increasing  # config lists models smallest first
    for _, rows in table.groupby("model"):
        assert rows["valid_ppl"].iloc[-1] < rows["valid_ppl"].iloc[0]  # training lowers perplexity
    final = table[table["step"] == table["step"].max()].set_index("model")["valid_ppl"]
    assert final.iloc[-1] < final.iloc[0]  # the larger model ends lower


def test_each_checkpoint_records_its_measurements(smoke_run):
    metas = sorted((smoke_run / "results/losses").glob("*/steps*/step*.json"))
    assert metas
    for path in metas:
        meta = json.loads(path.read_text())
        assert meta["device"] == "cpu" and meta["dtype"] == "torch.float32"
        assert meta["n_tokens"] > 0 and meta["tokens_per_second"] > 0
    assert (smoke_run / "results/losses/figures/losses_valid_ppl.png").stat().st_size > 10_000
    assert (smoke_run / "results/losses/figures/losses_valid_ppl.pdf").exists()
