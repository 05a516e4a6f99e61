"""Score every option of every item under each checkpoint of a block, and write one checkpoint's files.

Per checkpoint: step{step}.options.parquet (one row per option: log-prob sum, token / char / byte
counts), step{step}.items.parquet (per item: each metric's pick and correctness), step{step}.tasks.tsv
(per task: accuracies, chance level, option perplexities, demonstrations kept, truncations, items left
out because an option does not fit the model's context) and step{step}.json (timing, device, mode).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from lmtraj.bigbench.metrics import item_table, task_table
from lmtraj.bigbench.option_scoring import choose_mode, score_items
from lmtraj.bigbench.prompts import PromptItem, encode_items
from lmtraj.checkpoints.storage import describe, load_checkpoint
from lmtraj.io import write_json, write_parquet, write_tsv


class Encodings:
    """Items encoded for a context length, computed once: every checkpoint of a model shares them."""

    def __init__(self, items: Sequence[PromptItem], encode: Callable, empty_id: int, shots: int):
        self.items, self.encode, self.empty_id, self.shots = items, encode, empty_id, shots
        self._cache: dict[int, tuple] = {}

    def fitting(self, max_tokens: int, log: logging.Logger) -> tuple:
        """(kept items, their encodings, skipped (item, message) pairs) for `max_tokens` positions."""
        if max_tokens not in self._cache:
            kept, encoded, skipped = encode_items(
                self.items, self.encode, max_tokens, self.empty_id
            )
            self._cache[max_tokens] = kept, encoded, skipped
            for _, message in skipped:
                log.warning("left out: %s", message)
            log.info(
                "%d items (%d options) fit %d positions; %d left out; %d lost demonstrations, "
                "%d truncated",
                len(kept),
                sum(len(e.option_ids) for e in encoded),
                max_tokens,
                len(skipped),
                sum(e.n_demos < self.shots for e in encoded),
                sum(e.truncated_tokens > 0 for e in encoded),
            )
        return self._cache[max_tokens]


def score_block(
    specs: Sequence[dict],
    encodings: Encodings,
    out: Path,
    *,
    scoring: dict,
    device: str,
    dtype: torch.dtype,
    log: logging.Logger,
) -> None:
    """Load each checkpoint of `specs` in turn, score it, and write its four files into `out`."""
    for spec in specs:
        start = time.monotonic()
        model = load_checkpoint(spec, device, dtype)
        max_tokens = int(model.config.max_position_embeddings)
        if scoring["max_tokens"]:
            max_tokens = min(max_tokens, int(scoring["max_tokens"]))
        kept, encoded, skipped = encodings.fitting(max_tokens, log)
        mode = scoring["mode"]
        if mode == "auto":
            mode = choose_mode(model, encoded, device, log)
        options = score_items(
            model,
            kept,
            encoded,
            mode=mode,
            token_budget=scoring["token_budget"],
            device=device,
            log=log,
        ).assign(model=spec["model"], step=int(spec["step"]))
        per_item = item_table(options)
        per_task = task_table(options, per_item)
        left_out = Counter(it.task for it, _ in skipped)
        per_task["skipped_items"] = per_task["task"].map(left_out).fillna(0).astype(int)
        step = int(spec["step"])
        write_parquet(out / f"step{step}.options.parquet", options)
        write_parquet(out / f"step{step}.items.parquet", per_item)
        write_tsv(out / f"step{step}.tasks.tsv", per_task)
        seconds = time.monotonic() - start
        write_json(
            out / f"step{step}.json",
            {
                "model": spec["model"],
                "step": step,
                "n_items": len(kept),
                "n_options": len(options),
                "skipped_items": len(skipped),
                "max_tokens": max_tokens,
                "mode": mode,
                "device": device,
                "dtype": str(dtype),
                "seconds": seconds,
            },
        )
        log.info(
            "%s: mean acc %.3f over %d tasks, %.1f s (%s)",
            describe(spec),
            per_task["acc"].mean(),
            len(per_task),
            seconds,
            mode,
        )
        del model
