"""Per-token negative log-likelihood of documents under a causal LM: the core every stage scores with.

Windowing (documented contract): a document of L tokens yields L-1 predictions, for positions 1..L-1;
position 0 is context only (the paper's 50 x 2047 convention). Windows hold at most `context` tokens and
never cross documents. The first window covers tokens [0, min(L, context)); each next window ends `stride`
tokens later and scores only its new targets, so every target is predicted exactly once with at least
`context - stride` tokens of left context (all of its left context while the document is shorter than
`context`).

Batches are packed by a token budget (rows x padded length), padded on the right with the attention mask
off, and scored in float32 whatever the weights' dtype, so the numbers do not depend on the batch size.
On CUDA out-of-memory the budget halves and the batch is retried. On CPU a batch holds at most
`CPU_BATCH_TOKENS` tokens whatever the budget: larger batches were measured slower there, not faster.

Only what is scored is computed: a window's last token is a target, never an input, and the LM head runs
only on the positions whose next token is scored (through the model's `logits_to_keep`; a model without
it returns every position and the unscored ones are dropped). The NLL is logsumexp(logits) -
logit[target] in float32, a block of positions at a time, so neither the [rows, positions, vocabulary]
log-probabilities nor a float32 copy of low-precision logits are ever materialised.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass

import numpy as np
import torch

from lmtraj.device import is_oom
from lmtraj.errors import ConfigError, DataError
from lmtraj.progress import Progress

# Most tokens per batch on CPU, whatever the budget (gpt-256x4 shape, vocabulary 4096, context 128, a
# 2-core Xeon, one thread, CPU time: batches of 1k-2k tokens were fastest, 4k 5-8% and 8k ~13% slower).
CPU_BATCH_TOKENS = 2048
# Logits become NLL in blocks of at most this many elements: on CPU small enough that logsumexp's
# temporaries stay in cache (token_nll measured ~12% faster than with one block per batch), on CUDA
# large enough for few kernel launches while bounding the float32 copy of bf16/fp16 logits (256 MiB).
NLL_BLOCK_ELEMENTS = {"cpu": 1 << 18, "cuda": 1 << 26}


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


def batch_tokens(token_budget: int, device: str) -> int:
    """Tokens per batch: the configured budget, capped on CPU at the measured optimum."""
    return min(token_budget, CPU_BATCH_TOKENS) if device == "cpu" else token_budget


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
    # Longest input first, so similar lengths share a batch and padding stays small; among equal
    # lengths the fewest scored targets first, so a batch's rows share one scored span (a document's
    # first window scores all its positions, the next ones only their last `stride`).
    order = sorted(windows, key=lambda w: (w.start - w.end, w.end - w.score_from))
    progress = Progress(sum(n - 1 for n in lengths), log, "scoring", unit="tokens")
    accepts = _forward_parameters(model)
    budget = max(batch_tokens(token_budget, device), context)
    i = 0
    while i < len(order):
        width = order[i].end - order[i].start - 1  # model positions of the longest window left
        rows = max(1, budget // width)
        batch = order[i : i + rows]
        try:
            _score_batch(model, docs, batch, out, device, accepts)
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


def whole_sequence_nll(
    model: torch.nn.Module,
    seqs: list[np.ndarray],
    *,
    token_budget: int,
    device: str = "cpu",
    log: logging.Logger | None = None,
) -> list[np.ndarray]:
    """`token_nll` of short sequences (prompt + generated text) in one window each where the model's
    context allows, so every generated token sees its whole prompt; half-overlapping windows otherwise."""
    longest = max((len(s) for s in seqs), default=2)
    context = min(longest, model.config.max_position_embeddings)
    return token_nll(
        model,
        seqs,
        context=context,
        stride=max(1, context // 2),
        token_budget=token_budget,
        device=device,
        log=log,
    )


def _forward_parameters(model: torch.nn.Module) -> frozenset[str]:
    """Which of the optional forward arguments this model takes (transformers' causal LMs: both)."""
    try:
        names = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return frozenset()
    return frozenset({"logits_to_keep", "use_cache"} & set(names))


@torch.inference_mode()
def _score_batch(
    model,
    docs,
    batch: list[Window],
    out: list[np.ndarray],
    device: str,
    accepts: frozenset[str],
) -> None:
    # Row r feeds tokens start..end-2 of its window: the logits at input index k predict token
    # start+k+1, and the window scores targets score_from..end-1, i.e. input indices lo..n-1.
    spans = [(w.score_from - w.start - 1, w.end - w.start - 1) for w in batch]
    width = max(n for _, n in spans)
    ids = torch.zeros((len(batch), width + 1), dtype=torch.long)
    for r, w in enumerate(batch):
        ids[r, : w.end - w.start] = torch.as_tensor(docs[w.doc][w.start : w.end], dtype=torch.long)
    inputs, targets = ids[:, :-1], ids[:, 1:]
    mask = None
    if any(n < width for _, n in spans):  # right padding: masked (a full batch needs no mask)
        mask = torch.zeros_like(inputs)
        for r, (_, n) in enumerate(spans):
            mask[r, :n] = 1
        mask = mask.to(device)
    # Logits only for the batch's scored span: input indices first..width-1.
    first = min(lo for lo, _ in spans)
    keep = width - first
    kwargs = {"logits_to_keep": keep} if "logits_to_keep" in accepts else {}
    if "use_cache" in accepts:
        kwargs["use_cache"] = False  # no key/value cache to build: nothing is generated
    logits = model(input_ids=inputs.to(device), attention_mask=mask, **kwargs).logits
    logits = logits[:, -keep:]  # all positions came back where logits_to_keep is unknown
    block = NLL_BLOCK_ELEMENTS.get(device, NLL_BLOCK_ELEMENTS["cuda"])
    nll = _nll(logits, targets[:, first:].to(device), block).cpu().numpy()
    for r, (w, (lo, n)) in enumerate(zip(batch, spans)):
        out[w.doc][w.score_from - 1 : w.end - 1] = nll[r, lo - first : n - first]


def target_nll(logits: torch.Tensor, targets: torch.Tensor, device: str = "cpu") -> torch.Tensor:
    """-log softmax(logits)[target] in float32, for logits [..., vocabulary] and targets [...] of any
    leading shape, in blocks of NLL_BLOCK_ELEMENTS[device] logits: token_nll's arithmetic, for other
    scorers (option scoring) that gather the logits of their scored positions."""
    block = NLL_BLOCK_ELEMENTS.get(device, NLL_BLOCK_ELEMENTS["cuda"])
    flat = logits.reshape(1, -1, logits.shape[-1])
    return _nll(flat, targets.reshape(1, -1), block).reshape(targets.shape)


def _nll(
    logits: torch.Tensor, targets: torch.Tensor, block_elements: int = 1 << 18
) -> torch.Tensor:
    """-log softmax(logits)[target] = logsumexp(logits) - logits[target], in float32, [rows, positions].

    A few positions at a time (at most `block_elements` logits), so neither the log-probabilities nor a
    float32 copy of all the logits ever exist.
    """
    rows, positions, vocab = logits.shape
    step = max(1, block_elements // max(1, rows * vocab))
    out = torch.empty((rows, positions), dtype=torch.float32, device=logits.device)
    for p in range(0, positions, step):
        block = logits[:, p : p + step].float()
        target = block.gather(-1, targets[:, p : p + step, None]).squeeze(-1)
        out[:, p : p + step] = torch.logsumexp(block, dim=-1) - target
    return out
