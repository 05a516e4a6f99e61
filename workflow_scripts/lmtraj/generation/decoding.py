"""Decoding from an interpolation of two language models (Xia et al. 2023, §4.2, Eq. 2-3).

At every step the next-token distribution is

    p'(x) = λ_s·p_s(x) + λ_l·p_l(x),   p(x) = max(p'(x), 0) / Σ_y max(p'(y), 0)

in *probability* space (not log space as in contrastive decoding), with no plausibility cut-off.
`p_s - p_l` = (1, -1) gives the texts a small model favours over a large one.

Decoding keeps a key/value cache for both models (the authors' code recomputed the whole prefix at every
step). Prompts are decoded in batches with left padding: the workflow's prompts all have the same length
(the first 5 tokens of validation documents), so in practice there is no padding at all and batching is
pure gain; for mixed lengths the attention mask and explicit position ids keep each row exactly what it
would be alone. Finished rows (end-of-text) keep riding along with their output discarded, which costs a
little compute and keeps the batch shape fixed.

Sampling is reproducible and independent of batch size and batch order: each prompt draws its uniforms
from its own stream, seeded by (seed, prompt key), and a token is picked by inverting the CDF of the
top-p-truncated distribution. Greedy decoding takes the argmax (the first index on ties, as `generate`).

When every interpolated score is <= 0 at a step (possible only when both λ are nonzero with opposite
signs, e.g. p_s - p_l where the two models agree), the step either raises `DataError` (`on_degenerate=
"error"`) or falls back to p_l (`"fallback_large"`); the fallback is counted per text.

`decode_uncached` recomputes the full prefix at every step, one prompt at a time; it is the reference
that the tests compare the cached loop with, not meant for real runs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from lmtraj.errors import ConfigError, DataError
from lmtraj.generation.mixture import (
    Setting,
    check_setting,
    interpolate,
    pick_tokens,
    prompt_uniforms,
)

DECODINGS = ("greedy", "nucleus")
ON_DEGENERATE = ("error", "fallback_large")


@dataclass(frozen=True)
class DecodeConfig:
    """How to decode: greedy or nucleus (top-p), how many new tokens, what to do on an all-zero step."""

    decoding: str = "greedy"
    max_new_tokens: int = 50
    top_p: float = 0.9
    on_degenerate: str = "error"
    batch_size: int = 32

    def __post_init__(self) -> None:
        if self.decoding not in DECODINGS:
            raise ConfigError(f"generation.decodings: {self.decoding!r} not in {DECODINGS}")
        if self.max_new_tokens < 1:
            raise ConfigError(f"generation.max_new_tokens must be >= 1, got {self.max_new_tokens}")
        if not 0.0 < self.top_p <= 1.0:
            raise ConfigError(f"generation.top_p must be in (0, 1], got {self.top_p}")
        if self.on_degenerate not in ON_DEGENERATE:
            raise ConfigError(
                f"generation.on_degenerate: {self.on_degenerate!r} not in {ON_DEGENERATE}"
            )
        if self.batch_size < 1:
            raise ConfigError(f"generation.batch_size must be >= 1, got {self.batch_size}")


@dataclass
class Generation:
    """One decoded text: the new token ids exclude the end-of-text token that stopped it."""

    prompt_key: int
    prompt_ids: list[int]
    new_ids: list[int]
    ended_with_eos: bool
    fallback_steps: list[int]  # new-token indices where p_l replaced an all-zero interpolation

    @property
    def n_fallback_steps(self) -> int:
        return len(self.fallback_steps)

    def truncated(self, length: int) -> Generation:
        """What a run with `length` new tokens gives: the same prefix, token for token (greedy picks and
        each prompt's sampling stream do not depend on how many tokens are still to come)."""
        if len(self.new_ids) < length:
            return self
        return Generation(
            self.prompt_key,
            self.prompt_ids,
            self.new_ids[:length],
            False,
            [s for s in self.fallback_steps if s < length],
        )


# ---------------------------------------------------------------------------------------------------
# Checks done before any model runs


def check_pair(
    small_name: str,
    small_vocab: int,
    large_name: str,
    large_vocab: int,
    small_tokenizer: str | None = None,
    large_tokenizer: str | None = None,
) -> None:
    """Both models must score the same token ids: same output width and, when known, same tokenizer."""
    if (
        small_tokenizer is not None
        and large_tokenizer is not None
        and small_tokenizer != large_tokenizer
    ):
        raise ConfigError(
            f"generation: models {small_name!r} and {large_name!r} use different tokenizers "
            f"({small_tokenizer!r} vs {large_tokenizer!r}); interpolating their distributions needs one"
        )
    if small_vocab != large_vocab:
        raise ConfigError(
            f"generation: models {small_name!r} (vocab {small_vocab}) and {large_name!r} (vocab "
            f"{large_vocab}) have different vocabulary sizes; interpolating needs the same token ids"
        )


def check_prompts(prompts: Sequence[Sequence[int]], vocab_size: int) -> None:
    if len(prompts) == 0:
        raise DataError("generation: the prompt set is empty (no validation document long enough?)")
    for i, prompt in enumerate(prompts):
        if len(prompt) == 0:
            raise DataError(f"generation: prompt {i} is empty")
        lo, hi = min(prompt), max(prompt)
        if lo < 0 or hi >= vocab_size:
            raise DataError(
                f"generation: prompt {i} has token ids outside [0, {vocab_size}): {lo}..{hi}"
            )


# ---------------------------------------------------------------------------------------------------
# Cached, batched decoding


def _cache_kwarg(model: torch.nn.Module) -> str:
    # transformers 5.24 renamed past_key_values to cache (the old name is deprecated until 5.40).
    params = inspect.signature(model.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def _new_cache(model: torch.nn.Module):
    from transformers import DynamicCache

    return DynamicCache(config=model.config)


def _next_probs(
    model: torch.nn.Module,
    ids: torch.Tensor,
    mask: torch.Tensor,
    positions: torch.Tensor,
    cache,
    kwarg: str,
) -> torch.Tensor:
    """float32 next-token probabilities (B, V) at the last position; `cache` is extended in place."""
    out = model(
        input_ids=ids,
        attention_mask=mask,
        position_ids=positions,
        use_cache=True,
        **{kwarg: cache},
    )
    return torch.softmax(out.logits[:, -1, :].float(), dim=-1)


def _left_pad(prompts: Sequence[Sequence[int]], pad_id: int, device: str):
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, prompt in enumerate(prompts):
        ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
        mask[row, width - len(prompt) :] = 1
    return ids.to(device), mask.to(device)


def resolve_step(
    probs: torch.Tensor,
    degenerate: torch.Tensor,
    p_large: torch.Tensor | None,
    active: torch.Tensor,
    setting: Setting,
    on_degenerate: str,
    step: int,
    keys: Sequence[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply the degenerate-step policy; return (probs, rows that fell back)."""
    bad = degenerate & active
    if not bool(bad.any()):
        return probs, bad
    if on_degenerate == "error":
        rows = bad.nonzero().flatten().tolist()
        raise DataError(
            f"generation: setting {setting.name} ({setting.lambda_small}, {setting.lambda_large}) "
            f"gives no positive score at new token {step} for prompt(s) "
            f"{[keys[r] for r in rows][:10]}; set generation.on_degenerate: fallback_large to use p_l there"
        )
    assert p_large is not None, "a degenerate step needs both models"
    return torch.where(bad.unsqueeze(-1), p_large, probs), bad


@torch.no_grad()
def decode(
    small: torch.nn.Module,
    large: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    setting: Setting,
    config: DecodeConfig,
    *,
    eos_id: int,
    seed: int = 0,
    prompt_keys: Sequence[int] | None = None,
    device: str = "cpu",
    pad_id: int | None = None,
    pair_names: tuple[str, str] = ("small", "large"),
) -> list[Generation]:
    """Decode every prompt from the interpolation `setting` of `small` and `large`, with a KV cache.

    `prompt_keys` (default 0..n-1) name the prompts in errors and seed their sampling streams, so a
    prompt decodes to the same text whatever batch it lands in. A model whose λ is 0 is not run.
    """
    check_setting(setting)
    check_pair(pair_names[0], small.config.vocab_size, pair_names[1], large.config.vocab_size)
    check_prompts(prompts, small.config.vocab_size)
    keys = list(range(len(prompts))) if prompt_keys is None else [int(k) for k in prompt_keys]
    if len(keys) != len(prompts):
        raise DataError(f"generation: {len(prompts)} prompts but {len(keys)} prompt keys")
    pad = eos_id if pad_id is None else pad_id
    uniforms = prompt_uniforms(seed, keys, config.max_new_tokens)
    results: list[Generation] = []
    for start in range(0, len(prompts), config.batch_size):
        stop = start + config.batch_size
        results.extend(
            _decode_batch(
                small,
                large,
                prompts[start:stop],
                keys[start:stop],
                uniforms[start:stop],
                setting,
                config,
                eos_id,
                pad,
                device,
            )
        )
    return results


def _decode_batch(
    small: torch.nn.Module,
    large: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    keys: Sequence[int],
    uniforms: torch.Tensor,
    setting: Setting,
    config: DecodeConfig,
    eos_id: int,
    pad_id: int,
    device: str,
) -> list[Generation]:
    # Only the models with a nonzero weight run; a degenerate step needs both weights nonzero, so the
    # fallback to p_l always finds the large model running.
    models = {
        name: model
        for name, model, lam in (
            ("small", small, setting.lambda_small),
            ("large", large, setting.lambda_large),
        )
        if lam != 0
    }
    kwargs = {name: _cache_kwarg(m) for name, m in models.items()}
    caches = {name: _new_cache(m) for name, m in models.items()}
    ids, mask = _left_pad(prompts, pad_id, device)
    # Left padding: a row's positions start at 0 on its first real token.
    positions = (mask.cumsum(dim=-1) - 1).clamp_min(0)
    step_input = ids
    n = len(prompts)
    finished = torch.zeros(n, dtype=torch.bool, device=device)
    fell_back_at: list[torch.Tensor] = []
    chosen: list[torch.Tensor] = []
    uniforms = uniforms.to(device)
    for step in range(config.max_new_tokens):
        probs_of = {
            name: _next_probs(m, step_input, mask, positions, caches[name], kwargs[name])
            for name, m in models.items()
        }
        p_s = probs_of.get("small")
        p_l = probs_of.get("large")
        probs, degenerate = interpolate(
            p_s if p_s is not None else 0.0,
            p_l if p_l is not None else 0.0,
            setting.lambda_small,
            setting.lambda_large,
        )
        probs, fell_back = resolve_step(
            probs, degenerate, p_l, ~finished, setting, config.on_degenerate, step, keys
        )
        fell_back_at.append(fell_back)
        token = pick_tokens(probs, config.decoding, config.top_p, uniforms[:, step])
        token = torch.where(finished, pad_id, token)
        chosen.append(token)
        finished = finished | (token == eos_id)
        if bool(finished.all()):
            break
        step_input = token.unsqueeze(-1)
        mask = torch.cat([mask, torch.ones((n, 1), dtype=mask.dtype, device=device)], dim=-1)
        positions = positions[:, -1:] + 1
    tokens = torch.stack(chosen, dim=-1).cpu().tolist()
    fallbacks = torch.stack(fell_back_at, dim=-1).cpu()
    out: list[Generation] = []
    for row in range(n):
        new = tokens[row]
        ended = eos_id in new
        if ended:
            new = new[: new.index(eos_id)]
        steps = fallbacks[row].nonzero().flatten().tolist()
        out.append(Generation(keys[row], list(prompts[row]), new, ended, steps))
    return out


def decode_grid(
    small: torch.nn.Module,
    large: torch.nn.Module,
    prompts: Sequence[Sequence[int]],
    prompt_keys: Sequence[int],
    settings: Sequence[Setting],
    decodings: Sequence[str],
    lengths: Sequence[int],
    *,
    top_p: float,
    on_degenerate: str,
    batch_size: int,
    eos_id: int,
    seed: int,
    device: str = "cpu",
    pair_names: tuple[str, str] = ("small", "large"),
    on_batch: Callable[[int], None] | None = None,
) -> list[dict]:
    """Every (setting, decoding, length) text as a record for `lmtraj.generation.texts_frame`.

    Each (setting, decoding) is decoded once to the longest length; shorter lengths are its prefixes,
    which is exactly what separate runs would give (see `Generation.truncated`). Every prompt uses the
    same sampling stream in every setting, so settings differ by the distribution, not by the draw.
    """
    if not lengths or min(lengths) < 1:
        raise ConfigError(
            f"generation.max_new_tokens must be a non-empty list of ints >= 1, got {lengths}"
        )
    if not decodings:
        raise ConfigError("generation.decodings is empty")
    for setting in settings:
        check_setting(setting)
    check_pair(pair_names[0], small.config.vocab_size, pair_names[1], large.config.vocab_size)
    check_prompts(prompts, small.config.vocab_size)
    records: list[dict] = []
    for setting in settings:
        for decoding in decodings:
            config = DecodeConfig(decoding, max(lengths), top_p, on_degenerate, batch_size)
            generations = decode(
                small,
                large,
                prompts,
                setting,
                config,
                eos_id=eos_id,
                seed=seed,
                prompt_keys=prompt_keys,
                device=device,
                pair_names=pair_names,
            )
            for length in sorted(set(lengths)):
                for gen in generations:
                    text = gen.truncated(length)
                    records.append(
                        {
                            "setting": setting.name,
                            "lambda_small": setting.lambda_small,
                            "lambda_large": setting.lambda_large,
                            "decoding": decoding,
                            "top_p": top_p if decoding == "nucleus" else float("nan"),
                            "max_new_tokens": length,
                            "prompt_doc": text.prompt_key,
                            "prompt_ids": text.prompt_ids,
                            "new_ids": text.new_ids,
                            "ended_with_eos": text.ended_with_eos,
                            "n_fallback_steps": text.n_fallback_steps,
                        }
                    )
            if on_batch is not None:
                on_batch(len(prompts))
    return records
