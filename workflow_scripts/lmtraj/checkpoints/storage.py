"""Where a checkpoint comes from and how to load it: trained here, a hub revision, or a local directory.

A checkpoint spec is a plain dict (it travels through Snakemake params):
  {"model": str, "step": int, "source": "train" | "local" | "hf", "tokens_per_step": int,
   "path": str (train, local), "repo": str, "revision": str, "cache_dir": str | None (hf)}
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import torch

from lmtraj.errors import ConfigError, DataError

SOURCES = ("train", "local", "hf")
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def describe(spec: dict) -> str:
    where = spec.get("path") or f"{spec.get('repo')}@{spec.get('revision')}"
    return f"model {spec['model']!r} step {spec['step']} ({spec['source']}: {where})"


def load_checkpoint(spec: dict, device: str = "cpu", dtype: torch.dtype | None = None):
    """Load a causal LM in eval mode; a missing or corrupt checkpoint raises DataError naming it."""
    from transformers import AutoModelForCausalLM

    source = spec.get("source")
    if source not in SOURCES:
        raise ConfigError(
            f"models.{spec.get('model')}.source must be one of {SOURCES}, got {source!r}"
        )
    kwargs = {"dtype": dtype or torch.float32}
    if source == "hf":
        # Scoring jobs read what checkpoints_fetch put in the cache and never the network, whatever
        # HF_HUB_OFFLINE says in this process (a compute node may have no network at all).
        target = spec["repo"]
        kwargs.update(
            revision=spec["revision"], cache_dir=spec.get("cache_dir"), local_files_only=True
        )
    else:
        target = spec["path"]
        path = Path(target)
        if not path.is_dir():
            raise DataError(f"checkpoint directory missing for {describe(spec)}")
        if not any((path / name).exists() for name in WEIGHT_FILES) and not list(
            path.glob("*.safetensors")
        ):
            raise DataError(
                f"no weight file ({', '.join(WEIGHT_FILES)}) in {path} for {describe(spec)}"
            )
    try:
        model = AutoModelForCausalLM.from_pretrained(target, **kwargs)
    except Exception as err:  # safetensors, OS and config errors alike: name the checkpoint
        raise DataError(f"cannot load {describe(spec)}: {type(err).__name__}: {err}") from err
    return model.to(device).eval()


def save_checkpoint(model, directory: Path, meta: dict) -> None:
    """Write weights + config + meta.json into a temp dir, then rename: a checkpoint exists whole or not at all."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
    try:
        model.save_pretrained(tmp)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(tmp, directory)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


_STEP_FILE = re.compile(r"^step(\d+)\.")


def step_files(dirs, ext: str) -> dict[int, Path]:
    """Map step -> file for the per-step files `step{step}.{ext}` inside block directories."""
    found: dict[int, Path] = {}
    for directory in dirs:
        for path in sorted(Path(directory).glob(f"step*.{ext}")):
            match = _STEP_FILE.match(path.name)
            if match:
                found[int(match.group(1))] = path
    return dict(sorted(found.items()))
