"""Per-token negative log-likelihood of documents under a causal LM: the core every stage scores with.

Windowing (documented contract): a document of L tokens yields L-1 predictions, for positions 1..L-1;
position 0 is context only (the paper's 50 x 2047 convention). Windows hold at most `context` tokens and
never cross documents. The first window covers tokens [0, min(L, context)); each next window ends `stride`
tokens later and scores only its new targets, so every target is predicted exactly once with at least
`context - stride` tokens of left context (all of its left context while the document is shorter than
`context`).

Batches are packed by a token budget (rows x padded length), padded on the right with the attention mask
off, and scored in float32 whatever the weights' dtype, so the numbers do not depend on the batch size.
On CUDA out-of-memory the budget halves and the batch is retried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch

from .device import is_oom
from .errors import ConfigError, DataError
from .progress import Progress


@dataclass(frozen=True)
class Window:
    doc: int
    start: int  # first token of the window in the document
    end: int  # one past the last token
    score_from: int  # first target position scored by this window


def plan_windows(lengths: list[int], context: int, stride: int) -> list[Window]:
    if context < 2:
        raise ConfigError(f"losses.context must be >= 2, got {context}")
    if not 1 <= stride <= context - 1:
        raise ConfigError(
            f"losses.stride must be in [1, context-1] = [1, {context - 1}], got {stride}"
        )
    windows = []
    for doc, length in enumerate(lengths):
        if length < 2:
            raise DataError(
                f"document {doc} has {length} token(s); at least 2 are needed to score one"
            )
        end = min(length, context)
        windows.append(Window(doc, 0, end, 1))
        while end < length:
            new_end = min(length, end + stride)
            windows.append(Window(doc, new_end - context, new_end, end))
            end = new_end
    return windows


def token_nll(
    model: torch.nn.Module,
    docs: list[np.ndarray],
    *,
    context: int,
    stride: int,
    token_budget: int = 8192,
    device: str = "cpu",
    log: logging.Logger | None = None,
) -> list[np.ndarray]:
    """NLL (nats, float32) of tokens 1..len-1 of every document; see the module docstring."""
    log = log or logging.getLogger(__name__)
    lengths = [len(d) for d in docs]
    windows = plan_windows(lengths, context, stride)
    out = [np.full(n - 1, np.nan, dtype=np.float32) for n in lengths]
    # Longest first: similar lengths share a batch, so padding stays small.
    order = sorted(range(len(windows)), key=lambda i: -(windows[i].end - windows[i].start))
    progress = Progress(sum(n - 1 for n in lengths), log, "scoring", unit="tokens")
    budget = max(token_budget, context)
    i = 0
    while i < len(order):
        width = windows[order[i]].end - windows[order[i]].start
        rows = max(1, budget // width)
        batch = [windows[j] for j in order[i : i + rows]]
        try:
            _score_batch(model, docs, batch, out, device)
        except RuntimeError as err:
            if device != "cuda" or not is_oom(err) or budget <= width:
                raise
            torch.cuda.empty_cache()
            budget //= 2
            log.warning("CUDA out of memory: token budget halved to %d", budget)
            continue
        i += len(batch)
        progress.update(sum(w.end - w.score_from for w in batch))
    progress.done()
    return out


@torch.inference_mode()
def _score_batch(model, docs, batch: list[Window], out: list[np.ndarray], device: str) -> None:
    width = max(w.end - w.start for w in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for r, w in enumerate(batch):
        n = w.end - w.start
        ids[r, :n] = torch.as_tensor(docs[w.doc][w.start : w.end], dtype=torch.long)
        mask[r, :n] = 1
    ids, mask = ids.to(device), mask.to(device)
    logits = model(input_ids=ids, attention_mask=mask).logits
    logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    nll = -logprobs.gather(-1, ids[:, 1:, None]).squeeze(-1).cpu().numpy()
    for r, w in enumerate(batch):
        # logits at window index k predict token start+k+1; target t sits at row index t-start-1.
        lo, hi = w.score_from - w.start - 1, w.end - w.start - 1
        out[w.doc][w.score_from - 1 : w.end - 1] = nll[r, lo:hi]
