"""Log-likelihood of every option of a multiple-choice prompt, the prompt computed once per item.

Packed layout ("packed", the default): one row per item holds the context followed by all of its options,
`[c_1 .. c_n | o1_1 .. o1_a | o2_1 .. o2_b | ...]`. A 4-D additive attention mask lets context tokens see
earlier context tokens and each option token see the whole context plus the earlier tokens of its own
option; position ids restart at n for every option. Each option is therefore scored exactly as if it
followed the context alone, while the context's hidden states are computed once and shared: a row costs
n + sum(option lengths - 1) tokens instead of options x n + sum(option lengths - 1) (an option's last
token is a target only, so it is never fed in). The first option token is predicted from the last
context position (shared by all options), the others from their own option.

"separate" builds one right-padded row per (item, option), the usual way; it serves as the reference
and as the fallback for models whose attention ignores custom 4-D masks: `mode="auto"` scores the first
item both ways and keeps "packed" only if they agree.

Rows are sorted longest first and batched by a token budget (rows x padded length). The language-model
head runs only at the positions that predict a scored token: the backbone's hidden states are gathered
there and projected, whenever `model(x).logits` is `head(backbone(x))` (checked on the first context;
otherwise the model's own logits are kept from the shortest context onward). Each log-probability is
the target's logit minus the logsumexp of its row, in float32, so no full log-softmax is materialised;
option sums are accumulated in float64. Results do not depend on the batch size beyond float rounding.
On CUDA out-of-memory the budget halves and the batch is retried.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from lmtraj.bigbench.prompts import EncodedItem, PromptItem
from lmtraj.device import is_oom
from lmtraj.errors import ConfigError, DataError
from lmtraj.progress import Progress
from lmtraj.scoring import target_nll

MODES = ("auto", "packed", "separate")


def _accepts(module: torch.nn.Module, name: str) -> bool:
    try:
        return name in inspect.signature(module.forward).parameters
    except (TypeError, ValueError):
        return False


class _Forward:
    """How a batch reaches logits at the predictor positions, fixed once per model.

    `split`: the backbone and the LM head of a Hugging Face causal LM (`base_model`,
    `get_output_embeddings()`), used only after checking that head(backbone(x)) reproduces the model's
    logits on a probe (a model that scales or post-processes its logits keeps the full path).
    """

    def __init__(self, model: torch.nn.Module, probe: np.ndarray, device: str):
        self.model = model
        self.keep_ok = _accepts(model, "logits_to_keep")
        self.kwargs = {"use_cache": False} if _accepts(model, "use_cache") else {}
        self.split = self._find_split(model, probe, device)

    def _find_split(self, model, probe, device):
        base = getattr(model, "base_model", None)
        get_head = getattr(model, "get_output_embeddings", None)
        head = get_head() if callable(get_head) else None
        if base is None or base is model or head is None:
            return None
        ids = torch.as_tensor(probe[-8:], dtype=torch.long, device=device)[None]
        try:
            with torch.inference_mode():
                full = model(input_ids=ids, **self.kwargs).logits.float()
                hidden = base(input_ids=ids, **self.kwargs)[0]
                mine = head(hidden).float()
        except (TypeError, ValueError, RuntimeError, AttributeError):
            return None
        if mine.shape != full.shape or not torch.allclose(mine, full, rtol=1e-4, atol=1e-4):
            return None
        return base, head

    def logits(self, ids, kwargs, rows: torch.Tensor, pred: np.ndarray) -> torch.Tensor:
        """float32 logits predicting each scored token: one row per (batch row, predictor position)."""
        if self.split is not None:
            base, head = self.split
            hidden = base(input_ids=ids, **kwargs, **self.kwargs)[0]
            at = torch.from_numpy(pred).to(ids.device)
            return head(hidden[rows, at]).float()
        offset = 0
        if self.keep_ok:
            # Logits before the earliest predictor position are never used: skip the LM head there.
            offset = int(pred.min())
            kwargs = {**kwargs, "logits_to_keep": ids.shape[1] - offset}
        logits = self.model(input_ids=ids, **kwargs, **self.kwargs).logits
        return logits[rows, torch.from_numpy(pred - offset).to(ids.device)].float()


def _ragged_arange(lengths: np.ndarray) -> np.ndarray:
    """0..l-1 for every l of `lengths`, concatenated."""
    return np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)


def _rows(
    contexts, options, mode: str
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per row: (ids, segment ids, position ids, (option global index, predictor pos, target id) table).

    Segment 0 is the context, j+1 option j. Option global index counts options over all items. An
    option's last token is only ever a target, never a predictor, so it is not part of the input.
    """
    rows = []
    first = np.cumsum([0] + [len(o) for o in options])
    for i, (ctx, opts) in enumerate(zip(contexts, options)):
        n, k = len(ctx), len(opts)
        lens = np.array([len(o) for o in opts])
        within = _ragged_arange(lens)  # index of each target token inside its option
        option = np.repeat(first[i] + np.arange(k), lens)
        targets = np.concatenate(opts)
        if mode == "packed":
            fed = lens - 1
            ids = np.concatenate([ctx, *(o[:-1] for o in opts)])
            seg = np.concatenate([np.zeros(n, np.int64), np.repeat(np.arange(1, k + 1), fed)])
            pos = np.concatenate([np.arange(n), n + _ragged_arange(fed)])
            starts = np.repeat(n + np.cumsum(fed) - fed, lens)
            pred = np.where(within == 0, n - 1, starts + within - 1)
            rows.append((ids, seg, pos, np.stack([option, pred, targets], axis=1)))
        else:
            for j, o in enumerate(opts):
                ids = np.concatenate([ctx, o[:-1]])
                table = np.stack([np.full(len(o), first[i] + j), n - 1 + np.arange(len(o)), o], 1)
                rows.append((ids, np.zeros(len(ids), np.int64), np.arange(len(ids)), table))
    return rows


def packed_attention_mask(seg: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The [rows, 1, width, width] additive mask of packed rows, from their segment ids [rows, width]
    (0: context, k: option k, -1: padding): context tokens see earlier context, an option token the
    whole context and the earlier tokens of its own option."""
    width = seg.shape[-1]
    causal = torch.ones((width, width), dtype=torch.bool, device=seg.device).tril()
    seg_q, seg_k = seg[:, :, None], seg[:, None, :]
    # Padding (segment -1) only sees padding, so no row of the mask is empty.
    allowed = causal & (((seg_k == 0) & (seg_q >= 0)) | (seg_k == seg_q))
    mask = torch.zeros(allowed.shape, dtype=dtype, device=seg.device)
    mask.masked_fill_(~allowed, torch.finfo(dtype).min)
    return mask[:, None]


@torch.inference_mode()
def _score_batch(
    forward: _Forward, batch, device: str, packed: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(option global index, float32 log-prob) of every scored token in the batch."""
    width = max(len(r[0]) for r in batch)
    grid = np.zeros((3, len(batch), width), dtype=np.int64)
    grid[1] = -1
    for r, (i, s, p, _) in enumerate(batch):
        grid[:, r, : len(i)] = i, s, p
    ids, seg, pos = torch.from_numpy(grid).to(device)
    kwargs = {}
    if packed:
        mask = packed_attention_mask(seg, next(forward.model.parameters()).dtype)
        kwargs.update(attention_mask=mask, position_ids=pos)
    else:
        kwargs.update(attention_mask=(seg >= 0).long())
    table = np.concatenate([r[3] for r in batch])
    row = np.concatenate([np.full(len(r[3]), k) for k, r in enumerate(batch)])
    r_t = torch.from_numpy(row).to(device)
    logits = forward.logits(ids, kwargs, r_t, table[:, 1])
    target = torch.from_numpy(table[:, 2]).to(device)
    return table[:, 0], -target_nll(logits, target, device).cpu().numpy()


def option_logprobs(
    model: torch.nn.Module,
    contexts: Sequence[np.ndarray],
    options: Sequence[Sequence[np.ndarray]],
    *,
    mode: str = "packed",
    token_budget: int = 8192,
    device: str = "cpu",
    log: logging.Logger | None = None,
) -> list[np.ndarray]:
    """Summed log-probability (float64, nats) of every option given its context; one array per item."""
    log = log or logging.getLogger(__name__)
    if mode not in ("packed", "separate"):
        raise ConfigError(f"bigbench.scoring_mode must be one of {MODES}, got {mode!r}")
    for i, (ctx, opts) in enumerate(zip(contexts, options)):
        if len(ctx) == 0 or not opts or any(len(o) == 0 for o in opts):
            raise DataError(f"item {i}: a context and every option need at least one token")
    contexts = [np.asarray(c, dtype=np.int64) for c in contexts]
    options = [[np.asarray(o, dtype=np.int64) for o in opts] for opts in options]
    n_options = sum(len(o) for o in options)
    sums = np.zeros(n_options, dtype=np.float64)
    rows = _rows(contexts, options, mode)
    rows.sort(key=lambda r: -len(r[0]))  # stable: equal lengths keep input order
    forward = _Forward(model, contexts[0], device)
    progress = Progress(len(rows), log, f"scoring options ({mode})", unit="rows")
    budget = token_budget
    i = 0
    while i < len(rows):
        width = len(rows[i][0])
        n_rows = max(1, budget // width)
        batch = rows[i : i + n_rows]
        try:
            idx, lp = _score_batch(forward, batch, device, mode == "packed")
        except RuntimeError as err:
            if device != "cuda" or not is_oom(err) or n_rows == 1:
                raise
            torch.cuda.empty_cache()
            budget = max(width, budget // 2)
            log.warning("CUDA out of memory: option-scoring token budget halved to %d", budget)
            continue
        sums += np.bincount(idx, weights=lp.astype(np.float64), minlength=n_options)
        i += len(batch)
        progress.update(len(batch))
    progress.done()
    bounds = np.cumsum([0] + [len(o) for o in options])
    return [sums[bounds[k] : bounds[k + 1]] for k in range(len(options))]


def choose_mode(
    model: torch.nn.Module, encoded: Sequence[EncodedItem], device: str, log=None
) -> str:
    """'packed' if it reproduces 'separate' on the first item (a model honouring 4-D masks), else 'separate'."""
    log = log or logging.getLogger(__name__)
    probe = encoded[:1]
    args = ([e.context_ids for e in probe], [e.option_ids for e in probe])
    quiet = logging.getLogger(__name__ + ".probe")
    quiet.setLevel(logging.WARNING)
    a = option_logprobs(model, *args, mode="packed", device=device, log=quiet)[0]
    b = option_logprobs(model, *args, mode="separate", device=device, log=quiet)[0]
    n_tokens = np.array([len(o) for o in probe[0].option_ids])
    per_token = float(np.max(np.abs(a - b) / n_tokens))
    tol = 1e-3 if next(model.parameters()).dtype == torch.float32 else 5e-2
    if per_token <= tol:
        return "packed"
    log.warning(
        "packed option scoring differs from separate by %.3g nats/token on %s item %d (tolerance %.0e): "
        "this model ignores custom 4-D attention masks; falling back to one row per option",
        per_token,
        probe[0].task,
        probe[0].item,
        tol,
    )
    return "separate"


def score_items(
    model: torch.nn.Module,
    items: Sequence[PromptItem],
    encoded: Sequence[EncodedItem],
    *,
    mode: str = "auto",
    token_budget: int = 8192,
    device: str = "cpu",
    log: logging.Logger | None = None,
) -> pd.DataFrame:
    """Per-option table: ids and labels of the option, its log-prob sum, token / char / byte counts."""
    if mode not in MODES:
        raise ConfigError(f"bigbench.scoring_mode must be one of {MODES}, got {mode!r}")
    if len(items) != len(encoded):
        raise ValueError("items and encoded must have the same length")
    if not items:
        raise DataError("no item to score")
    if mode == "auto":
        mode = choose_mode(model, encoded, device, log)
    sums = option_logprobs(
        model,
        [e.context_ids for e in encoded],
        [e.option_ids for e in encoded],
        mode=mode,
        token_budget=token_budget,
        device=device,
        log=log,
    )
    n_opt = np.array([len(it.choices) for it in items])
    rep = lambda values: np.repeat(np.asarray(values), n_opt)  # noqa: E731
    choices = [c for it in items for c in it.choices]
    scores = np.array([s for it in items for s in it.scores])
    return pd.DataFrame(
        {
            "task": rep([it.task for it in items]),
            "subtask": rep([it.subtask for it in items]),
            "item": rep([it.item for it in items]),
            "example": rep([it.example for it in items]),
            "option": np.concatenate([np.arange(n) for n in n_opt]),
            "choice": choices,
            "n_options": rep(n_opt),
            "target_score": scores,
            "is_correct": np.concatenate(
                [np.arange(n) == it.correct for n, it in zip(n_opt, items)]
            ),
            "logprob_sum": np.concatenate(sums),
            "n_tokens": np.array([len(o) for e in encoded for o in e.option_ids], dtype=np.int64),
            "n_chars": np.array([len(c) for c in choices], dtype=np.int64),
            "n_bytes": np.array([len(c.encode("utf-8")) for c in choices], dtype=np.int64),
            "n_demos": rep([e.n_demos for e in encoded]),
            "truncated_tokens": rep([e.truncated_tokens for e in encoded]),
        }
    )
