import logging

import numpy as np
import pytest
import torch

from lmtraj.checkpoints.model import ModelShape, build_model, count_parameters
from lmtraj.checkpoints.train import TrainSettings, batch_starts, lr_at, train
from lmtraj.errors import DataError

LOG = logging.getLogger("test")


def settings(**kw):
    base = dict(steps=12, batch_size=4, context=16, lr=3e-3, seed=3)
    return TrainSettings(**(base | kw))


def test_schedule_warms_up_then_decays_to_the_floor():
    s = settings(steps=100, lr=1.0, warmup_fraction=0.1, min_lr_ratio=0.1)
    lrs = [lr_at(i, s) for i in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[9:], lrs[10:]))
    assert lrs[-1] == pytest.approx(0.1, abs=1e-3)


def test_data_order_depends_on_the_seed_only():
    a, b = batch_starts(1000, settings()), batch_starts(1000, settings())
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, batch_starts(1000, settings(seed=4)))
    with pytest.raises(DataError, match="fewer than one window"):
        batch_starts(10, settings())


def test_parameter_counts_exclude_both_embeddings():
    model = build_model(ModelShape(32, 2, 4, 16, 100), eos_token_id=0, seed=0)
    counts = count_parameters(model)
    assert counts["params_total"] - counts["params_non_embedding"] == 2 * 100 * 32


def test_training_learns_saves_the_grid_and_is_reproducible():
    rng = np.random.default_rng(0)
    tokens = np.tile(rng.integers(0, 50, size=40), 30).astype(
        np.uint16
    )  # a repeated pattern is learnable
    runs = []
    for _ in range(2):
        model = build_model(ModelShape(32, 2, 4, 16, 50), eos_token_id=0, seed=1)
        saved = {}

        def save(step, m, loss, saved=saved):
            saved[step] = {k: v.clone() for k, v in m.state_dict().items()}

        history = train(model, tokens, settings(), [0, 4, 12], save, LOG)
        runs.append((history, saved))
    (history, saved), (history2, saved2) = runs
    assert sorted(saved) == [0, 4, 12]
    assert history[-1]["loss"] < history[0]["loss"] - 0.5
    assert [h["loss"] for h in history] == [h["loss"] for h in history2]
    for key in saved[12]:
        assert torch.equal(saved[12][key], saved2[12][key])
