import json

import numpy as np
import pytest

from lmtraj.errors import DataError
from lmtraj.losses.records import build_trajectory


def write_step(tmp_path, step, nll, params=(100, 60)):
    np.save(tmp_path / f"step{step}.npy", np.asarray(nll, dtype=np.float32))
    meta = {
        "model": "m",
        "step": step,
        "tokens_seen": step * 10,
        "params_total": params[0],
        "params_non_embedding": params[1],
        "valid_nll": float(np.mean(nll)),
        "valid_ppl": float(np.exp(np.mean(nll))),
    }
    (tmp_path / f"step{step}.json").write_text(json.dumps(meta))


def test_trajectory_columns_follow_steps_and_flops_use_the_chosen_count(tmp_path):
    write_step(tmp_path, 8, [1.0, 2.0, 3.0])
    write_step(tmp_path, 0, [4.0, 5.0, 6.0])
    files = lambda ext: {s: tmp_path / f"step{s}.{ext}" for s in (0, 8)}  # noqa: E731
    matrix, table = build_trajectory(files("npy"), files("json"), [0, 8], "m", "total")
    np.testing.assert_array_equal(matrix, [[4, 1], [5, 2], [6, 3]])
    assert table["flops"].tolist() == [0.0, 6 * 100 * 80]
    _, table = build_trajectory(files("npy"), files("json"), [0, 8], "m", "non_embedding")
    assert table["flops"].tolist() == [0.0, 6 * 60 * 80]
    with pytest.raises(DataError, match=r"model 'm'.*steps \[16\]"):
        build_trajectory(files("npy"), files("json"), [0, 8, 16], "m", "total")
