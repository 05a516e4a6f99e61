"""Checkpoint matching, top-k sets and the overlap finding on a synthetic two-model run."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmtraj.errors import ConfigError
from lmtraj.trends.overlap import (
    finding_holds,
    jaccard,
    match_checkpoints,
    overlap_tables,
    top_k_sets,
)


def test_match_checkpoints_nearest_on_log_scale_and_forward_only():
    a = [100.0, 50.0, 30.0, 18.0, 15.0]  # validation PPL, falling with training
    b = [80.0, 40.0, 25.0, 16.0, 12.0, 10.0]
    # overlap [15, 80]: 4 checkpoints each, so a is the reference; 15 -> 16 again is dropped
    assert match_checkpoints(a, b).tolist() == [[1, 1], [2, 2], [3, 3]]


def test_match_checkpoints_uses_the_sparser_model_as_reference():
    steps_a = np.arange(1, 11) * 100
    assert match_checkpoints(steps_a, [200, 500, 1000]).tolist() == [
        [1, 0],
        [4, 1],
        [9, 2],
    ]
    assert match_checkpoints(steps_a, steps_a).tolist() == [[i, i] for i in range(10)]
    # step 0 has no logarithm; disjoint ranges have no match
    assert match_checkpoints([0, 100, 200], [0, 100, 200]).tolist() == [[1, 1], [2, 2]]
    assert match_checkpoints([1, 2], [10, 20]).shape == (0, 2)


def test_top_k_sets_and_jaccard():
    red = np.array([[5.0], [1.0], [3.0], [np.nan], [4.0]])
    assert np.flatnonzero(top_k_sets(red, 0.4)[:, 0]).tolist() == [0, 4]
    only_one = np.array([[np.nan], [2.0], [np.nan], [np.nan], [np.nan]])
    assert np.flatnonzero(top_k_sets(only_one, 0.4)[:, 0]).tolist() == [1]
    a = np.array([[True, True], [True, False], [False, False]])
    b = np.array([[True, False], [False, False], [True, False]])
    np.testing.assert_allclose(jaccard(a, b), [1 / 3, 0.0])
    with pytest.raises(ConfigError, match="top_k"):
        top_k_sets(red, 1.5)


def _synthetic_run(n_tokens: int = 400):
    """Token i drops from NLL 3 to 1 when the model's validation PPL passes its threshold theta_i,
    whatever the model: the premise of 'same tokens at the same perplexity'."""
    rng = np.random.default_rng(0)
    theta = np.exp(rng.uniform(np.log(12.0), np.log(150.0), n_tokens))
    steps = np.arange(1, 25) * 100
    schedules = {"small": 2000.0 * steps**-0.6, "large": 3000.0 * steps**-0.8}
    n_params = {"small": 1e6, "large": 8e6}
    rows, nll = [], {}
    for model, ppl in schedules.items():
        z = (np.log(ppl)[None, :] - np.log(theta)[:, None]) / 0.15
        nll[model] = (1.0 + 2.0 / (1.0 + np.exp(-z))).astype(np.float32)
        for s, v in zip(steps, ppl, strict=True):
            rows.append(
                {
                    "model": model,
                    "step": s,
                    "flops": 6 * n_params[model] * 1000 * s,
                    "valid_ppl": v,
                }
            )
    return nll, pd.DataFrame(rows)


def test_overlap_is_highest_when_matching_by_perplexity():
    nll, checkpoints = _synthetic_run()
    detail, summary = overlap_tables(nll, checkpoints, top_k=0.1)
    assert set(detail["matching"]) == {"valid_ppl", "flops", "step"}
    pair = summary[summary["model_a"] == "small"].set_index("matching")["mean_jaccard"]
    assert pair["valid_ppl"] > 0.5
    assert pair["valid_ppl"] > pair["step"] and pair["valid_ppl"] > pair["flops"]
    overall = summary[summary["model_a"] == "all"].set_index("matching")
    assert bool(overall.loc["valid_ppl", "highest"])
    assert summary["jaccard_random"].iloc[0] == pytest.approx(0.1 / 1.9)
    assert finding_holds(summary)
    # matched values really are close under their own matching
    assert detail[detail.matching == "valid_ppl"]["log_gap"].max() < 0.2


def test_finding_fails_when_another_matching_wins():
    summary = pd.DataFrame(
        {
            "model_a": ["all"] * 3,
            "model_b": ["all"] * 3,
            "matching": ["valid_ppl", "flops", "step"],
            "mean_jaccard": [0.3, 0.4, 0.2],
        }
    )
    assert not finding_holds(summary)


def test_unknown_matching_is_a_config_error():
    nll, checkpoints = _synthetic_run(20)
    with pytest.raises(ConfigError, match="matchings"):
        overlap_tables(nll, checkpoints, 0.1, matchings=("tokens",))
