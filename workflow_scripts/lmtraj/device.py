"""Device and dtype choice, made once per job so CPU and GPU runs share every other line."""

from __future__ import annotations

import torch

from lmtraj.errors import ConfigError


def pick_device(pref: str = "auto") -> str:
    """'auto' takes CUDA when visible; 'cuda' insists on it (a GPU job on a CPU node is a site error)."""
    if pref not in {"auto", "cpu", "cuda"}:
        raise ConfigError(f"device must be auto, cpu or cuda, got {pref!r}")
    if pref == "cpu":
        return "cpu"
    if torch.cuda.is_available():
        return "cuda"
    if pref == "cuda":
        raise ConfigError(
            "this job was given a GPU (resources gpu>0) but CUDA is not visible; "
            "check the profile's GPU settings or run with gpus: 0"
        )
    return "cpu"


def forward_dtype(device: str, pref: str = "auto") -> torch.dtype:
    """Weights dtype for inference. Log-softmax is always taken in float32 by the callers.

    On CPU we stay in float32: bf16 autocast was measured slower for these model sizes and would
    break the 1e-5 equality across batch sizes. On CUDA, bf16 where supported, else fp16.
    """
    table = {
        "float32": torch.float32,
        "bfloat16": torch.bfloat16,
        "float16": torch.float16,
    }
    if pref != "auto":
        if pref not in table:
            raise ConfigError(f"dtype must be auto, float32, bfloat16 or float16, got {pref!r}")
        return table[pref]
    if device != "cuda":
        return torch.float32
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()
