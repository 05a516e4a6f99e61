"""Atomic writers: every output goes to a temp file in the same folder, then `os.replace`.

A job killed half-way therefore never leaves a truncated file that a rerun would take for done.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "w") -> Iterator[IO[Any]]:
    """Yield a file object whose content replaces `path` only if the block finishes."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_text(path, text: str) -> None:
    with atomic_write(path) as fh:
        fh.write(text)


def write_json(path, obj: Any) -> None:
    with atomic_write(path) as fh:
        json.dump(obj, fh, indent=2, sort_keys=True, default=_json_default)
        fh.write("\n")


def read_json(path) -> Any:
    with open(path) as fh:
        return json.load(fh)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_tsv(path, df) -> None:
    with atomic_write(path) as fh:
        df.to_csv(fh, sep="\t", index=False)


def write_parquet(path, df) -> None:
    with atomic_write(path, "wb") as fh:
        df.to_parquet(fh, index=False)


def save_npy(path, arr: np.ndarray) -> None:
    with atomic_write(path, "wb") as fh:
        np.save(fh, arr)


def save_npz(path, **arrays: np.ndarray) -> None:
    with atomic_write(path, "wb") as fh:
        np.savez(fh, **arrays)


def save_figure(fig, png_path) -> None:
    """Write `fig` as PNG (for the report) and as PDF beside it (for papers)."""
    png_path = Path(png_path)
    for suffix in (".png", ".pdf"):
        with atomic_write(png_path.with_suffix(suffix), "wb") as fh:
            fig.savefig(fh, format=suffix[1:], dpi=150, bbox_inches="tight")


def load_ragged(path) -> list[np.ndarray]:
    with np.load(path) as data:
        ids, offsets = data["ids"], data["offsets"]
    return [ids[offsets[d] : offsets[d + 1]] for d in range(len(offsets) - 1)]
