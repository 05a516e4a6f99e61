"""Job resources from model size (lmtraj.checkpoints.sizing)."""

from __future__ import annotations

import pytest

from lmtraj.checkpoints import sizing
from lmtraj.checkpoints.model import ModelShape, build_model, count_parameters


@pytest.mark.parametrize("d_model, n_layers, n_heads, vocab", [(16, 2, 2, 512), (64, 4, 4, 4096)])
def test_counted_shape_equals_the_built_model(d_model, n_layers, n_heads, vocab):
    model = build_model(ModelShape(d_model, n_layers, n_heads, 64, vocab), 0, seed=0)
    assert sizing.neox_params(d_model, n_layers, vocab) == count_parameters(model)["params_total"]
    # one more layer is a different count: the estimate follows the shape
    assert (
        sizing.neox_params(d_model, n_layers + 1, vocab) != count_parameters(model)["params_total"]
    )


def test_nominal_count_wins_and_unknown_sizes_stay_unknown():
    assert sizing.model_params({"source": "hf", "params_total": 11846072320}) == 11846072320
    trained = {"source": "train", "d_model": 16, "n_layers": 2, "n_heads": 2}
    assert sizing.model_params(trained, 512) == sizing.neox_params(16, 2, 512)
    assert sizing.model_params({"source": "local", "path_template": "x"}) is None


def test_memory_grows_with_the_weights_and_the_attempt():
    base = 4000
    tiny = sizing.mem_mb([14_067_712], base, sizing.INFERENCE_BYTES)
    big = sizing.mem_mb([11_846_072_320], base, sizing.INFERENCE_BYTES)
    assert base < tiny < base + 100  # pythia-14m: the base request
    # pythia-12b in float32 (a CPU job): 47.4 GB of weights plus room, above the 24 GB of half precision
    assert 47_384 < big - base < 60_000 and big > 12 * tiny
    assert sizing.mem_mb([11_846_072_320], base, 4, attempt=2) == pytest.approx(2 * big, abs=1)
    two = sizing.mem_mb([125_000_000, 30_000_000_000], base, 4)  # generation: both models at once
    assert two > sizing.mem_mb([30_000_000_000], base, 4)
    assert sizing.mem_mb([None], base, 4) == base  # unknown size: the base


def test_runtime_grows_with_size_and_block_length():
    assert sizing.runtime_min([10_000_000], 30, 5) == 31
    assert sizing.runtime_min([12_000_000_000], 30, 5) == 90
    assert sizing.runtime_min([12_000_000_000], 30, 5, n_checkpoints=16) == 30 + 5 * 12 * 16
    assert sizing.runtime_min([12_000_000_000], 30, 5, attempt=3) == 270
