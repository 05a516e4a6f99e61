"""The paired "same tokens at the same perplexity" comparison on synthetic suites (no training).

Two suites: in one every token's dynamics depend on how far a model has got (its perplexity), in the
other on the step alone, with larger models only offset. The claim must hold on the first and fail
(never hold) on the second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata, spearmanr

from lmtraj.errors import ConfigError, DataError
from lmtraj.regression.bootstrap import Bootstrap, verdict
from lmtraj.trends.overlap import (
    BEST,
    average_ranks,
    interpolate_columns,
    interval_stats,
    jaccard,
    overlap_tables,
    partner_positions,
    scores_from_sums,
    top_k_sets,
)

BOOT = Bootstrap(n_boot=200, seed=3, confidence=0.95)


def test_partner_positions_on_growing_axes_interpolate_in_log():
    partner = np.array([0.0, 100.0, 200.0, 400.0])
    got = partner_positions(
        np.array([0.0, 100.0, 141.42135623730952, 400.0, 800.0]), partner, "step"
    )
    np.testing.assert_allclose(got[1:4], [1.0, 1.5, 3.0])
    assert np.isnan(got[0]) and np.isnan(got[4])  # step 0 has no log; 800 is past the partner's end
    with pytest.raises(DataError, match="do not increase"):
        partner_positions(np.array([1.0]), np.array([1.0, 3.0, 2.0]), "flops")


def test_partner_positions_of_perplexity_use_the_first_crossing():
    partner = np.array([100.0, 40.0, 20.0, 25.0, 10.0])  # rises at the end of a plateau
    got = partner_positions(np.array([200.0, 40.0, 22.0, 20.0, 5.0]), partner, "valid_ppl")
    assert np.isnan(got[0]) and np.isnan(got[4])  # never that high / never that low
    assert got[1] == pytest.approx(1.0)
    # 22 lies between 40 (col 1) and 20 (col 2); the later pass through 22 (col 2 -> 3) is ignored
    assert got[2] == pytest.approx(1 + np.log(40 / 22) / np.log(40 / 20))
    assert got[3] == pytest.approx(2.0)


def test_interpolate_columns():
    nll = np.array([[1.0, 3.0, 5.0]])
    np.testing.assert_allclose(
        interpolate_columns(nll, np.array([0.0, 0.5, 2.0])), [[1.0, 2.0, 5.0]]
    )


def test_top_k_sets_and_jaccard():
    red = np.array([[5.0], [1.0], [3.0], [np.nan], [4.0]])
    assert np.flatnonzero(top_k_sets(red, 0.4)[:, 0]).tolist() == [0, 4]
    a = np.array([[True, True], [True, False], [False, False]])
    b = np.array([[True, False], [False, False], [True, False]])
    np.testing.assert_allclose(jaccard(a, b), [1 / 3, 0.0])
    with pytest.raises(ConfigError, match="top_k"):
        top_k_sets(red, 1.5)


def test_average_ranks_match_scipy_with_ties():
    values = np.array([3.0, 1.0, 3.0, 2.0, 3.0, -1.0, 2.0])
    np.testing.assert_allclose(average_ranks(values), rankdata(values))
    noisy = np.random.default_rng(0).normal(size=500).round(1)  # many ties
    np.testing.assert_allclose(average_ranks(noisy), rankdata(noisy))


def test_scores_from_per_document_sums_are_spearman_and_jaccard():
    rng = np.random.default_rng(1)
    red_ref = rng.normal(size=(300, 2))
    red_par = red_ref + rng.normal(size=(300, 2))
    docs = np.repeat(np.arange(10), 30)
    stats = interval_stats(red_ref, red_par, docs, 10, top_k=0.2)
    scores = scores_from_sums(stats.sum(axis=0))
    for k in range(2):
        assert scores[k, 0] == pytest.approx(spearmanr(red_ref[:, k], red_par[:, k])[0])
        want = jaccard(top_k_sets(red_ref, 0.2), top_k_sets(red_par, 0.2))[k]
        assert scores[k, 1] == pytest.approx(want)


def synthetic_suite(kind: str, n_docs: int = 30, per_doc: int = 40, seed: int = 0):
    """Three models, same data per step, 4x apart in parameters.

    Token i loses ``amp_i`` nats as a model's *progress* passes ``c_i``. ``kind="perplexity"``: a
    model's progress is its step times a speed (1, 2.5, 6: not proportional to size, so FLOPs do not
    line them up either), and perplexity is a function of progress alone. ``kind="step"``: progress is
    the step for every model and larger models are only offset (lower NLL on every token).
    """
    rng = np.random.default_rng(seed)
    n = n_docs * per_doc
    c = np.exp(rng.uniform(np.log(30.0), np.log(3000.0), n))
    amp = rng.uniform(0.5, 2.0, n)
    base = rng.uniform(1.0, 3.0, n)
    steps = np.concatenate([[0], np.arange(1, 25) * 100])
    params = {"s": 1e6, "m": 4e6, "l": 16e6}
    speed = {"s": 1.0, "m": 2.5, "l": 6.0}
    offset = {"s": 0.0, "m": -0.3, "l": -0.6}
    nll, rows = {}, []
    for model in params:
        progress = steps * (speed[model] if kind == "perplexity" else 1.0)
        learned = progress[None, :] ** 3 / (progress[None, :] ** 3 + c[:, None] ** 3)
        clean = base[:, None] + amp[:, None] * (1 - learned)
        if kind == "step":
            clean = clean + offset[model]
        nll[model] = (clean + rng.normal(0, 0.05, clean.shape)).astype(np.float32)
        for j, step in enumerate(steps):
            rows.append(
                {
                    "model": model,
                    "step": int(step),
                    "tokens_seen": 1000 * int(step),
                    "flops": 6 * params[model] * 1000 * step,
                    "valid_ppl": float(np.exp(clean[:, j].mean())),
                }
            )
    return nll, pd.DataFrame(rows), np.repeat(np.arange(n_docs), per_doc)


def _tests(kind: str) -> pd.DataFrame:
    nll, checkpoints, docs = synthetic_suite(kind)
    detail, summary, tests = overlap_tables(nll, checkpoints, docs, 0.1, bootstrap=BOOT)
    # every matching is scored on the same reference intervals
    per_matching = detail.groupby("matching")[["model_a", "model_b", "step_from"]]
    firsts = [g.to_numpy().tolist() for _, g in per_matching]
    assert all(f == firsts[0] for f in firsts)
    assert set(summary["matching"]) == {"valid_ppl", "flops", "step", "tokens_seen"}
    return tests.set_index(["score", "rival"])


def test_claim_holds_when_dynamics_follow_perplexity():
    tests = _tests("perplexity")
    for score in ("rank_correlation", "jaccard"):
        row = tests.loc[(score, BEST)]
        assert row["ci_low"] <= row["estimate"] <= row["ci_high"]
        assert verdict(row["ci_low"], row["ci_high"]) == "yes", (score, row.to_dict())


def test_claim_fails_when_dynamics_follow_the_step_and_sizes_are_only_offset():
    tests = _tests("step")
    for score in ("rank_correlation", "jaccard"):
        assert tests.loc[(score, "step"), "estimate"] < 0
        best = tests.loc[(score, BEST)]
        assert verdict(best["ci_low"], best["ci_high"]) == "no", (score, best.to_dict())


def test_bootstrap_is_reproducible_and_seeded():
    nll, checkpoints, docs = synthetic_suite("perplexity", n_docs=10, per_doc=20)
    one = overlap_tables(nll, checkpoints, docs, 0.1, bootstrap=BOOT)[2]
    two = overlap_tables(nll, checkpoints, docs, 0.1, bootstrap=BOOT)[2]
    pd.testing.assert_frame_equal(one, two)
    other = overlap_tables(nll, checkpoints, docs, 0.1, bootstrap=Bootstrap(200, 4))[2]
    assert not np.allclose(one["ci_low"], other["ci_low"])


def test_bad_configuration_and_inputs():
    nll, checkpoints, docs = synthetic_suite("step", n_docs=4, per_doc=10)
    with pytest.raises(ConfigError, match="matchings"):
        overlap_tables(nll, checkpoints, docs, 0.1, matchings=("tokens",))
    with pytest.raises(ConfigError, match="must include 'valid_ppl'"):
        overlap_tables(nll, checkpoints, docs, 0.1, matchings=("step", "flops"))
    with pytest.raises(DataError, match="document ids"):
        overlap_tables(nll, checkpoints, docs[:-1], 0.1)
