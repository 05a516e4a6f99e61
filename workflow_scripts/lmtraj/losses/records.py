"""Per-checkpoint loss summaries and the tokens x checkpoints trajectory of a model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from lmtraj.checkpoints.model import count_parameters
from lmtraj.errors import ConfigError, DataError


def scoring_context(requested: int, model, spec: dict) -> int:
    limit = getattr(model.config, "max_position_embeddings", None)
    if limit is not None and requested > limit:
        raise ConfigError(
            f"losses.scoring.context={requested} exceeds the context of model {spec['model']!r} ({limit})"
        )
    return requested


def checkpoint_meta(spec: dict, model, nll: np.ndarray, seconds: float) -> dict:
    counts = count_parameters(model)
    for key in counts:  # nominal counts from the config win (e.g. Pythia's published table)
        counts[key] = int(spec.get(key, counts[key]))
    if np.isnan(nll).any():
        raise DataError(f"model {spec['model']!r} step {spec['step']}: NaN losses")
    valid_nll = float(nll.mean())
    return {
        "model": spec["model"],
        "step": int(spec["step"]),
        "tokens_seen": int(spec["step"]) * int(spec["tokens_per_step"]),
        **counts,
        "nll_sum": float(nll.sum(dtype=np.float64)),
        "n_tokens": int(nll.size),
        "valid_nll": valid_nll,
        "valid_ppl": float(np.exp(valid_nll)),
        "seconds": seconds,
        "tokens_per_second": nll.size / max(seconds, 1e-9),
    }


def build_trajectory(
    npy: dict[int, Path], meta: dict[int, Path], steps: list[int], model: str, flops_params: str
) -> tuple[np.ndarray, pd.DataFrame]:
    """Stack per-checkpoint vectors (ascending step) into a matrix plus one row per checkpoint."""
    missing = [s for s in steps if s not in npy or s not in meta]
    if missing:
        raise DataError(f"model {model!r}: per-token losses missing for steps {missing}")
    columns = [np.load(npy[s], mmap_mode="r") for s in steps]
    if len({c.shape for c in columns}) != 1:
        raise DataError(f"model {model!r}: loss vectors differ in length across steps")
    matrix = np.empty((columns[0].shape[0], len(steps)), dtype=np.float32)
    for j, col in enumerate(columns):
        matrix[:, j] = col
    rows = [json.loads(Path(meta[s]).read_text()) for s in steps]
    table = pd.DataFrame(rows)
    n = table["params_total" if flops_params == "total" else "params_non_embedding"]
    table["flops"] = 6.0 * n.astype(float) * table["tokens_seen"].astype(float)
    cols = ["model", "step", "tokens_seen", "flops", "params_total", "params_non_embedding"]
    valid = ["valid_nll", "valid_ppl"] + (["valid_bpb"] if "valid_bpb" in table else [])
    return matrix, table[cols + valid]
