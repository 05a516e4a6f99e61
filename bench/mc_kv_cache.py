"""A two-phase option scorer with a key/value cache, timed by bench_mc_scoring.py `--kv-cache` as the
alternative to the packed scorer that was measured and not adopted (bench/README.md says by how much).

Phase 1 runs the contexts alone, right-padded without an attention mask, so attention is plain causal
(SDPA's `is_causal` path, not a custom 4-D mask) and the key/value cache is kept. Phase 2 feeds every
option of more than one token as a continuation of its own item's cache: the cache rows are repeated
per option, a 2-D mask hides the padding between a shorter context and the option, and position ids
continue from the context's length. The first token of every option is predicted from the context's
last position, as in the packed scorer; the language-model head runs only where a token is scored.

The idea was that causal attention would skip the masked half of every context row. On CPU it does
not at these lengths: flash attention's blocks are as long as the rows (<= 128 positions), so causal
and masked attention cost the same, and the cache's concatenations and copies come on top.
"""

from __future__ import annotations

import inspect

import numpy as np
import torch

from lmtraj.scoring import target_nll


def _cache_name(base: torch.nn.Module) -> str:
    """The keyword of the key/value cache: `cache` in recent transformers 5, `past_key_values` before."""
    return "cache" if "cache" in inspect.signature(base.forward).parameters else "past_key_values"


def _scored(head, hidden, rows, positions, targets, device) -> torch.Tensor:
    """float32 log-probability of each target, the head run only at its predicting position."""
    return -target_nll(head(hidden[rows, positions]), targets, device)


@torch.inference_mode()
def kv_cache_option_logprobs(model, contexts, options, token_budget: int = 2048, device="cpu"):
    """Summed log-probability (float64) of every option given its context; one array per item."""
    base, head = model.base_model, model.get_output_embeddings()
    cache_kw = _cache_name(base)
    first = np.cumsum([0] + [len(o) for o in options])
    sums = np.zeros(first[-1], dtype=np.float64)
    order = sorted(range(len(contexts)), key=lambda i: -len(contexts[i]))
    i = 0
    while i < len(order):
        width = len(contexts[order[i]])
        items = order[i : i + max(1, token_budget // width)]
        i += len(items)
        lens = np.array([len(contexts[k]) for k in items])
        ids = torch.zeros((len(items), width), dtype=torch.long)
        for r, k in enumerate(items):
            ids[r, : lens[r]] = torch.as_tensor(contexts[k])
        out = base(input_ids=ids.to(device), use_cache=True)
        hidden = out.last_hidden_state
        cache = out["cache"] if "cache" in out else out.past_key_values

        # Every option's first token, from its context's last position.
        row, opt, tgt, multi = [], [], [], []
        for r, k in enumerate(items):
            for j, o in enumerate(options[k]):
                row.append(r)
                opt.append(first[k] + j)
                tgt.append(o[0])
                if len(o) > 1:
                    multi.append((r, first[k] + j, o))
        row_t = torch.as_tensor(row, device=device)
        lp = _scored(
            head,
            hidden,
            row_t,
            torch.as_tensor(lens - 1, device=device)[row_t],
            torch.as_tensor(tgt, device=device),
            device,
        )
        sums += np.bincount(opt, weights=lp.double().cpu().numpy(), minlength=len(sums))
        if not multi:
            continue

        # The other tokens of the longer options, each option on a copy of its item's cache rows.
        fed = max(len(o) - 1 for _, _, o in multi)
        option_ids = torch.zeros((len(multi), fed), dtype=torch.long)
        for q, (_, _, o) in enumerate(multi):
            option_ids[q, : len(o) - 1] = torch.as_tensor(o[:-1])
        source = torch.as_tensor([r for r, _, _ in multi])
        n_ctx = torch.as_tensor(lens)[source]
        mask = torch.cat(
            [
                torch.arange(width)[None] < n_ctx[:, None],
                torch.ones((len(multi), fed), dtype=torch.bool),
            ],
            dim=1,
        ).long()
        cache.reorder_cache(source.to(device))
        hidden = base(
            input_ids=option_ids.to(device),
            attention_mask=mask.to(device),
            position_ids=(n_ctx[:, None] + torch.arange(fed)[None]).to(device),
            use_cache=True,
            **{cache_kw: cache},
        ).last_hidden_state
        q = np.concatenate([np.full(len(o) - 1, q) for q, (_, _, o) in enumerate(multi)])
        p = np.concatenate([np.arange(len(o) - 1) for _, _, o in multi])
        g = np.concatenate([np.full(len(o) - 1, g) for _, g, o in multi])
        t = np.concatenate([o[1:] for _, _, o in multi])
        lp = _scored(head, hidden, *(torch.as_tensor(a, device=device) for a in (q, p, t)), device)
        sums += np.bincount(g, weights=lp.double().cpu().numpy(), minlength=len(sums))
    return [sums[first[k] : first[k + 1]] for k in range(len(options))]
