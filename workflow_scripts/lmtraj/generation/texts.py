"""Generated-text tables and their perplexities (Xia et al. 2023, §4.2-4.3), without torch.

- `prompts_from_documents`: the first `prompt_tokens` tokens of the first N long-enough validation documents.
- `texts_frame`: one row per decoded text (setting, decoding, length, prompt, token ids, text).
- `scoring_plan` / `generated_nll`: turn texts into prompt+generated token sequences for
  `lmtraj.scoring.token_nll` (a shorter length is scored as the prefix of the longer text it is), then
  keep only the generated positions (the prompt is not counted; nor is the end-of-text token that stopped
  a text).
- `perplexity_table`: per (model, step, setting, decoding, length), the token-weighted perplexity
  exp(Σ NLL / Σ tokens) over the texts (the geometric mean used for token groups in §3), and the mean of
  per-text perplexities for comparison.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from lmtraj.errors import ConfigError, DataError

TEXT_KEYS = ["setting", "decoding", "max_new_tokens"]


def prompts_from_documents(
    docs: Sequence[np.ndarray], n_prompts: int, prompt_tokens: int = 5
) -> tuple[list[int], list[list[int]]]:
    """(document indices, prompts): the first `prompt_tokens` ids of the first `n_prompts` documents
    that are at least that long, in document order (`docs` as `lmtraj.io.load_ragged` gives them)."""
    if n_prompts < 1 or prompt_tokens < 1:
        raise ConfigError(
            "generation.n_prompts and generation.prompt_tokens must be >= 1, "
            f"got {n_prompts}, {prompt_tokens}"
        )
    picked = [d for d, doc in enumerate(docs) if len(doc) >= prompt_tokens][:n_prompts]
    if not picked:
        raise DataError(
            f"generation: the prompt set is empty: none of the {len(docs)} validation documents has "
            f"{prompt_tokens} tokens"
        )
    return picked, [np.asarray(docs[d][:prompt_tokens]).tolist() for d in picked]


def texts_frame(records: Iterable[dict], detokenize: Callable[[list[int]], str]) -> pd.DataFrame:
    """Table of decoded texts; each record carries the settings and `prompt_ids` / `new_ids` lists.

    Adds `text_id` (row number), `n_new_tokens`, `prompt_text` and `text` (the generated part only).
    """
    df = pd.DataFrame(list(records))
    if df.empty:
        raise DataError("generation: no texts were decoded")
    df.insert(0, "text_id", np.arange(len(df)))
    df["n_new_tokens"] = df["new_ids"].map(len)
    df["prompt_text"] = df["prompt_ids"].map(detokenize)
    df["text"] = df["new_ids"].map(detokenize)
    return df


def scoring_plan(texts: pd.DataFrame) -> tuple[list[np.ndarray], np.ndarray]:
    """The prompt + generated sequences to score, and for each text the sequence that contains it.

    A shorter length of the same (setting, decoding, prompt) is a prefix of the longest text, and a causal
    LM gives a prefix the same NLLs, so only the longest is scored. Returns (sequences, index) with
    index[i] the sequence holding text i, or -1 when text i has nothing to score (no new token).
    """
    group_keys = [c for c in ("setting", "decoding", "prompt_doc") if c in texts.columns]
    prompts, news = texts["prompt_ids"].tolist(), texts["new_ids"].tolist()
    groups = (
        texts.groupby(group_keys, sort=False).indices.values()
        if group_keys
        else [np.array([i]) for i in range(len(texts))]
    )
    seqs: list[np.ndarray] = []
    index = np.full(len(texts), -1, dtype=np.int64)
    for rows in groups:
        # Longest first, so every shorter text can look for a sequence that extends it.
        held: list[tuple[list[int], list[int], int]] = []
        for i in sorted(rows, key=lambda r: -len(news[r])):
            if not news[i]:
                continue
            for prompt, new, k in held:
                if prompt == list(prompts[i]) and new[: len(news[i])] == list(news[i]):
                    index[i] = k
                    break
            else:
                index[i] = len(seqs)
                held.append((list(prompts[i]), list(news[i]), len(seqs)))
                seqs.append(np.asarray(list(prompts[i]) + list(news[i]), dtype=np.int64))
    return seqs, index


def generated_nll(
    texts: pd.DataFrame, index: np.ndarray, nll: Sequence[np.ndarray]
) -> pd.DataFrame:
    """Per text: `nll_sum` and `n_tokens` over its generated positions only.

    `nll[k]` is the scorer's output for sequence k of `scoring_plan`: entry j is the NLL of token j+1, so a
    text's first generated token (index len(prompt)) sits at entry len(prompt)-1.
    """
    if len(index) != len(texts):
        raise DataError(f"generation: {len(texts)} texts but a scoring plan for {len(index)}")
    sums, counts = [], []
    for prompt, new, k in zip(texts["prompt_ids"], texts["new_ids"], index, strict=True):
        if k < 0:
            sums.append(0.0)
            counts.append(0)
            continue
        row = nll[k]
        lo, hi = len(prompt) - 1, len(prompt) - 1 + len(new)
        if hi > len(row):
            raise DataError(f"generation: scored sequence {k} has {len(row)} NLLs, text needs {hi}")
        sums.append(float(np.sum(row[lo:hi], dtype=np.float64)))
        counts.append(len(new))
    keys = [c for c in ["text_id", *TEXT_KEYS] if c in texts.columns]
    out = texts[keys].copy()
    out["nll_sum"] = sums
    out["n_tokens"] = counts
    return out


def perplexity_table(
    scores: pd.DataFrame, by: Sequence[str] = ("model", "step", *TEXT_KEYS)
) -> pd.DataFrame:
    """Per group: `ppl` = exp(Σ nll / Σ tokens), `ppl_text_mean` = mean of per-text perplexities
    (texts with no token left out), `n_texts`, `n_empty` (texts that ended at once), `n_tokens`."""
    by = list(by)
    df = scores.assign(
        text_ppl=np.where(
            scores["n_tokens"] > 0,
            np.exp(scores["nll_sum"] / scores["n_tokens"].clip(lower=1)),
            np.nan,
        ),
        empty=scores["n_tokens"] == 0,
    )
    grouped = df.groupby(by, sort=False)
    out = grouped.agg(
        nll_sum=("nll_sum", "sum"),
        n_tokens=("n_tokens", "sum"),
        n_texts=("nll_sum", "size"),
        n_empty=("empty", "sum"),
        ppl_text_mean=("text_ppl", "mean"),
    ).reset_index()
    out["ppl"] = np.exp(out["nll_sum"] / out["n_tokens"].where(out["n_tokens"] > 0))
    return out[[*by, "ppl", "ppl_text_mean", "n_texts", "n_empty", "n_tokens", "nll_sum"]]


def final_table(
    ppl: pd.DataFrame, final_steps: dict[str, int], models: Sequence[str]
) -> pd.DataFrame:
    """Final-checkpoint perplexity, one row per (setting, decoding, length), one column per model in
    size order (the layout of the paper's numbers)."""
    final = ppl[ppl["step"] == ppl["model"].map(final_steps)]
    wide = final.pivot_table(index=TEXT_KEYS, columns="model", values="ppl", sort=False)
    return wide.reindex(columns=[m for m in models if m in wide.columns]).reset_index()


def resolve_checkpoint(
    entry: dict, role: str, models: Sequence[str], steps: dict[str, Sequence[int]]
) -> tuple[str, int]:
    """(model, step) of the `small` or `large` side of the interpolation from `generation.<role>`.

    `model` null means the first (smallest) model for `small` and the last (largest) for `large`; `step`
    null means that model's final checkpoint. `steps` maps each model to its checkpoint steps.
    """
    if role not in ("small", "large"):
        raise ConfigError(f"generation: role must be small or large, got {role!r}")
    model = entry.get("model") or (models[0] if role == "small" else models[-1])
    if model not in models:
        raise ConfigError(
            f"generation.{role}.model: {model!r} is not one of the models {list(models)}"
        )
    step = entry.get("step")
    step = max(steps[model]) if step is None else int(step)
    if step not in steps[model]:
        raise ConfigError(
            f"generation.{role}.step: {step} is not a checkpoint of {model!r} ({list(steps[model])})"
        )
    return model, step
