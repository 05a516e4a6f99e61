"""All models analysed together must share one tokenizer: per-token losses are compared row by row."""

from __future__ import annotations

import logging
from pathlib import Path

from lmtraj.checkpoints.storage import describe
from lmtraj.errors import DataError
from lmtraj.tokenizer import load_tokenizer, tokenizer_fingerprint

TOKENIZER_FILES = ("tokenizer.json", "vocab.json", "tokenizer.model")


def _model_config(spec: dict):
    from transformers import AutoConfig

    if spec["source"] == "hf":
        return AutoConfig.from_pretrained(
            spec["repo"], revision=spec["revision"], cache_dir=spec.get("cache_dir")
        )
    return AutoConfig.from_pretrained(spec["path"])


def _model_tokenizer(spec: dict):
    """The checkpoint's own tokenizer, or None where it ships none (trained here, bare local folders)."""
    if spec["source"] == "train":
        return None
    if spec["source"] == "local":
        if not any((Path(spec["path"]) / f).exists() for f in TOKENIZER_FILES):
            return None
        return load_tokenizer(spec["path"])
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(
        spec["repo"], revision=spec["revision"], cache_dir=spec.get("cache_dir")
    )


def check_shared_tokenizer(tok, specs: list[dict], log: logging.Logger) -> list[dict]:
    """One row per model; raises DataError naming every model whose tokenizer or vocabulary differs."""
    reference = tokenizer_fingerprint(tok)
    rows, bad = [], []
    for spec in specs:
        try:
            vocab = int(_model_config(spec).vocab_size)
        except (OSError, ValueError) as err:
            raise DataError(f"cannot read the config of {describe(spec)}: {err}") from err
        own = _model_tokenizer(spec)
        fingerprint = tokenizer_fingerprint(own) if own is not None else None
        if fingerprint is not None and fingerprint != reference:
            status = "different tokenizer"
        elif vocab < len(tok):
            status = f"embedding has {vocab} rows < {len(tok)} tokens"
        else:
            status = (
                "ok" if fingerprint else "ok (vocabulary size checked; no tokenizer in checkpoint)"
            )
        rows.append(
            {
                "model": spec["model"],
                "source": spec["source"],
                "vocab_size": vocab,
                "tokenizer_fingerprint": fingerprint or reference,
                "status": status,
            }
        )
        log.info("%s: %s", spec["model"], status)
        if not status.startswith("ok"):
            bad.append(f"{spec['model']} ({status})")
    if bad:
        raise DataError(
            "all models must share the run's tokenizer (fingerprint "
            f"{reference[:12]}, {len(tok)} tokens); these do not: {', '.join(bad)}"
        )
    return rows
