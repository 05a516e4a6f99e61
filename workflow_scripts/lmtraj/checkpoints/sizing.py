"""Job resources from model size: the memory and time a model-running job asks the scheduler for.

A job that loads pythia-12b needs about 24 GB of host memory for its half-precision weights and twice
that in float32 on a CPU; a flat request (and retries that only multiply it) either wastes a cluster or
gets the big models killed. The parameter count is known when the DAG is built: the config's
params_total for hub and local suites, counted from the shape for models trained here. Pure Python.
"""

from __future__ import annotations

import math

# Vocabulary assumed for a trained model whose tokenizer is not trained here (GPT-NeoX's 50304 rounded
# up): only the embedding term of the estimate depends on it.
VOCAB_GUESS = 65536
# Host bytes per parameter: float32 weights (on a CPU every model runs in float32, and a job cannot know
# at DAG time whether it will get a GPU), AdamW training (weights, gradients, two moments).
INFERENCE_BYTES = 4
TRAINING_BYTES = 16
# Room for the loader's transient copies and the allocator, on top of the weights.
OVERHEAD = 1.25


def neox_params(d_model: int, n_layers: int, vocab_size: int) -> int:
    """Parameters of the embedded GPT-NeoX shape (lmtraj.checkpoints.model.build_config): per layer two
    LayerNorms, QKV and output projections and a 4x MLP (12 d^2 + 13 d), untied in/out embeddings,
    and the final LayerNorm."""
    d = int(d_model)
    return 2 * vocab_size * d + int(n_layers) * (12 * d * d + 13 * d) + 2 * d


def model_params(entry: dict, vocab_size: int = VOCAB_GUESS) -> int | None:
    """A model's parameter count from its config entry (None: not known before loading it)."""
    if "params_total" in entry:
        return int(entry["params_total"])
    if entry.get("source") == "train":
        return neox_params(entry["d_model"], entry["n_layers"], vocab_size)
    return None


def mem_mb(params: list[int | None], base_mb: int, bytes_per_param: int, attempt: int = 1) -> int:
    """base + the weights of every model the job holds at once (x OVERHEAD), times the attempt number
    (a retry after an out-of-memory kill asks for more)."""
    weights = sum(p or 0 for p in params) * bytes_per_param * OVERHEAD / 2**20
    return int(math.ceil((base_mb + weights) * attempt))


def runtime_min(
    params: list[int | None],
    base_min: int,
    min_per_billion: float,
    n_checkpoints: int = 1,
    attempt: int = 1,
) -> int:
    """base + min_per_billion minutes per checkpoint per billion parameters (a GPU's pace; loading and
    scoring both grow with the weights), times the attempt number."""
    billions = sum(p or 0 for p in params) / 1e9
    return int(math.ceil((base_min + min_per_billion * billions * n_checkpoints) * attempt))
