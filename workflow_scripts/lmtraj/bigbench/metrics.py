"""Multiple-choice metrics from per-option scores: accuracies, chance level, option perplexities, scaling shape.

Input is the per-option table of `mc_scoring.score_items` (columns task, subtask, item, option,
is_correct, n_options, logprob_sum, n_tokens, n_chars, n_bytes, ...), possibly with model and step.

Accuracy variants (the prediction is the argmax of the option score; ties go to the first option):
- `acc`: mean log-probability per token, the paper's "probability normalised by length" (headline);
- `acc_sum`: unnormalised sum (lm-evaluation-harness `acc`, BIG-bench's own scoring);
- `acc_char`: sum / characters of the choice (lm-evaluation-harness `acc_norm`);
- `acc_byte`: sum / UTF-8 bytes of the choice (lm-evaluation-harness `acc_bytes`).
A task's accuracy and chance level (`random_baseline`, the mean of 1/#options) are means over its subtasks
of the means over their items, as BIG-bench aggregates container tasks; a task without subtasks is one.

Option perplexity (paper Fig. 5 right, Fig. 9): exp(-sum log p / sum tokens) pooled over all correct
(or all incorrect) options of a task, i.e. token-weighted; across tasks the token-weighted geometric
mean exp(sum_t n_t log ppl_t / sum_t n_t), as the authors' code does.

Scaling shape (BIG-bench, paper App. D.3) of a task's final-checkpoint accuracies y_1..y_n over sizes in
ascending order: I(y) = sign(argmax y - argmin y) * (max y - min y), z_i = y_{i+1} - y_i,
linearity L = I / sqrt(mean z^2), breakthroughness B = I / sqrt(median z^2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from lmtraj.errors import DataError

# metric -> the option-table column the log-prob sum is divided by (None: not divided).
METRICS: dict[str, str | None] = {
    "acc": "n_tokens",
    "acc_sum": None,
    "acc_char": "n_chars",
    "acc_byte": "n_bytes",
}
ITEM_KEYS = ["task", "subtask", "item"]
OPTION_COLUMNS = [
    "task",
    "subtask",
    "item",
    "option",
    "is_correct",
    "n_options",
    "logprob_sum",
    "n_tokens",
]


def _keys(df: pd.DataFrame) -> list[str]:
    return [k for k in ("model", "step") if k in df.columns]


def item_table(options: pd.DataFrame) -> pd.DataFrame:
    """One row per item: which option each metric picks, whether it is correct, chance level."""
    missing = [c for c in OPTION_COLUMNS + ["n_chars", "n_bytes"] if c not in options.columns]
    if missing:
        raise DataError(f"option table lacks column(s) {missing}")
    keys = _keys(options) + ITEM_KEYS
    opts = options.reset_index(drop=True)
    if (opts["n_tokens"] <= 0).any():
        bad = opts.loc[opts["n_tokens"] <= 0].iloc[0]
        raise DataError(
            f"task {bad['task']!r} item {bad['item']}: option {bad['option']} has no token"
        )
    grouped = opts.groupby(keys, sort=True)
    out = grouped.agg(
        example=("example", "first") if "example" in opts else ("item", "first"),
        n_options=("n_options", "first"),
        n_correct=("is_correct", "sum"),
    ).reset_index()
    if (out["n_correct"] != 1).any():
        bad = out.loc[out["n_correct"] != 1].iloc[0]
        raise DataError(
            f"task {bad['task']!r} item {bad['item']}: {bad['n_correct']} correct options (need exactly 1)"
        )
    out["random"] = 1.0 / out["n_options"]
    for metric, denom in METRICS.items():
        score = opts["logprob_sum"] / (opts[denom].clip(lower=1) if denom else 1.0)
        pick = score.groupby([opts[k] for k in keys], sort=True).idxmax().to_numpy()
        out[f"pred_{metric}"] = opts.loc[pick, "option"].to_numpy()
        out[metric] = opts.loc[pick, "is_correct"].to_numpy().astype(float)
    correct = opts[opts["is_correct"]].set_index(keys)
    out = out.set_index(keys)
    out["correct_logprob"] = correct["logprob_sum"]
    out["correct_tokens"] = correct["n_tokens"]
    for col in ("n_demos", "truncated_tokens"):
        if col in opts:
            out[col] = grouped[col].first()
    return out.reset_index().drop(columns="n_correct")


def _pooled_ppl(options: pd.DataFrame, keys: list[str], correct: bool) -> pd.DataFrame:
    part = options[options["is_correct"] == correct]
    agg = part.groupby(keys)[["logprob_sum", "n_tokens"]].sum()
    name = "correct" if correct else "incorrect"
    return pd.DataFrame(
        {
            f"{name}_ppl": np.exp(-agg["logprob_sum"] / agg["n_tokens"]),
            f"{name}_tokens": agg["n_tokens"],
        }
    )


def task_table(options: pd.DataFrame, items: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per task (and model, step): accuracies, chance level, option perplexities, prompt stats."""
    items = item_table(options) if items is None else items
    keys = _keys(options) + ["task"]
    metrics = list(METRICS) + ["random"]
    per_subtask = items.groupby(keys + ["subtask"])[metrics].mean()
    out = per_subtask.groupby(keys).mean().rename(columns={"random": "random_baseline"})
    out.insert(0, "n_items", items.groupby(keys).size())
    out.insert(1, "n_subtasks", per_subtask.groupby(keys).size())
    out = out.join(_pooled_ppl(options, keys, True)).join(_pooled_ppl(options, keys, False))
    if "n_demos" in items:
        out["mean_demos"] = items.groupby(keys)["n_demos"].mean()
        out["truncated_items"] = items.groupby(keys)["truncated_tokens"].apply(
            lambda s: int((s > 0).sum())
        )
    return out.reset_index()


def group_means(tasks: pd.DataFrame, groups: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Unweighted means of task rows per group (and model, step); rows missing any task are dropped.

    Option perplexities are combined by the token-weighted geometric mean.
    """
    keys = _keys(tasks)
    by = keys or ["_all"]
    frames = []
    for group, names in groups.items():
        present = set(names) & set(tasks["task"])
        if not present:
            continue
        part = tasks[tasks["task"].isin(present)].assign(_all=0)
        for name in ("correct", "incorrect"):
            part[f"_{name}_log"] = np.log(part[f"{name}_ppl"]) * part[f"{name}_tokens"]
        g = part.groupby(by)
        out = g[list(METRICS) + ["random_baseline"]].mean()
        out.insert(0, "n_tasks", g.size())
        for name in ("correct", "incorrect"):
            tokens = g[f"{name}_tokens"].sum()
            out[f"{name}_ppl"] = np.exp(g[f"_{name}_log"].sum() / tokens)
            out[f"{name}_tokens"] = tokens
        out = (
            out[out["n_tasks"] == len(present)].reset_index().drop(columns="_all", errors="ignore")
        )
        out.insert(len(keys), "group", group)
        frames.append(out)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def scaling_shape(y: Sequence[float]) -> dict[str, float]:
    """I(y), linearity L and breakthroughness B of accuracies over sizes in ascending order."""
    y = np.asarray(y, dtype=float)
    if y.size < 2 or not np.isfinite(y).all():
        return {"improvement": np.nan, "linearity": np.nan, "breakthroughness": np.nan}
    improvement = float(np.sign(np.argmax(y) - np.argmin(y)) * (y.max() - y.min()))
    z2 = np.diff(y) ** 2
    with np.errstate(divide="ignore", invalid="ignore"):
        linearity = improvement / np.sqrt(z2.mean())
        breakthroughness = improvement / np.sqrt(np.median(z2))
    return {
        "improvement": improvement,
        "linearity": float(linearity),
        "breakthroughness": float(breakthroughness),
    }


def scaling_table(final: pd.DataFrame, models: Sequence[str], metric: str = "acc") -> pd.DataFrame:
    """Per task, the scaling shape of `metric` over the final checkpoints of `models` (smallest first)."""
    wide = final.pivot_table(index="task", columns="model", values=metric)
    wide = wide.reindex(columns=[m for m in models if m in wide.columns])
    rows = []
    for task, y in wide.iterrows():
        rows.append(
            {"task": task, "n_sizes": int(y.notna().sum()), **scaling_shape(y.dropna().to_numpy())}
        )
        rows[-1].update({f"{metric}_{m}": y[m] for m in wide.columns})
    return pd.DataFrame(rows)


def ema(values: Sequence[float], weight: float) -> np.ndarray:
    """The authors' smoothing along checkpoints: e_0 = y_0, e_i = w e_{i-1} + (1 - w) y_i."""
    y = np.asarray(values, dtype=float)
    out = np.empty_like(y)
    for i, v in enumerate(y):  # a recurrence over tens of checkpoints, not a data-size loop
        out[i] = v if i == 0 else weight * out[i - 1] + (1 - weight) * v
    return out
