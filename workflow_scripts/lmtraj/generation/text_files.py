"""The generated texts on disk: JSONL (exact strings and token ids) and TSV (one text per line, to read)."""

from __future__ import annotations

import json
import math
import re

import pandas as pd

from lmtraj.io import atomic_write, write_tsv

CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def write_texts(texts: pd.DataFrame, jsonl_path, tsv_path) -> None:
    """Write `texts` (lmtraj.generation.texts.texts_frame plus the pair's columns) atomically to both."""
    with atomic_write(jsonl_path) as fh:
        for row in texts.to_dict(orient="records"):
            # top_p is NaN for greedy texts; JSON has no NaN, so it becomes null.
            clean = {
                k: None if isinstance(v, float) and math.isnan(v) else v for k, v in row.items()
            }
            fh.write(json.dumps(clean) + "\n")
    readable = texts.copy()
    for column in ("prompt_ids", "new_ids"):
        readable[column] = readable[column].map(lambda ids: " ".join(map(str, ids)))
    for column in ("prompt_text", "text"):
        # One text per line in the TSV (control characters escaped); the JSONL keeps the exact strings.
        readable[column] = readable[column].str.replace(
            CONTROL, lambda m: repr(m.group())[1:-1], regex=True
        )
    write_tsv(tsv_path, readable)
