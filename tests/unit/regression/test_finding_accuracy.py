"""Finding 3 on synthetic suites of items (no training): the claim holds where accuracy is a function of
perplexity, and is never claimed where it follows compute or where size matters beyond perplexity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmtraj.regression.bootstrap import Bootstrap
from lmtraj.regression.finding_accuracy import accuracy_rows, item_matrix, task_means
from lmtraj.regression.points import accuracy_responses

BOOT = Bootstrap(n_boot=300, seed=11)
SIZES = {f"m{i}": n for i, n in enumerate([1e6, 3e6, 1e7, 3e7, 1e8, 3e8])}


def checkpoints(sizes: dict[str, float] = SIZES, n_steps: int = 10) -> pd.DataFrame:
    """Chinchilla-shaped losses (E + A/N^a + B/D^b): equal FLOPs do not mean equal perplexity."""
    rows = []
    for model, n in sizes.items():
        batch = 1e4 * (n / 1e6) ** 0.5  # larger models, larger batches (as OPT)
        for step in [0, *np.geomspace(200, 20000, n_steps).round()]:
            tokens = batch * step
            loss = 1.7 + 40 / n**0.3 + (400 / tokens**0.3 if tokens else 6.0)
            rows.append(
                {
                    "model": model,
                    "step": int(step),
                    "tokens_seen": tokens,
                    "flops": 6 * n * tokens,
                    "params_total": n,
                    "valid_ppl": float(np.exp(loss)),
                }
            )
    return pd.DataFrame(rows)


def items_for(
    ckpts: pd.DataFrame, accuracy: np.ndarray, n_tasks: int = 8, per_task: int = 40, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-item 0/1 scores: item i of task t is right at a checkpoint when its fixed difficulty plus a
    per-checkpoint draw lies below the checkpoint's accuracy plus the task's offset."""
    rng = np.random.default_rng(seed)
    rows = []
    for t in range(n_tasks):
        offset = rng.normal(0, 0.05)
        difficulty = rng.random(per_task)
        for k, rec in enumerate(ckpts.itertuples(index=False)):
            right = difficulty + rng.normal(0, 0.1, per_task) < accuracy[k] + offset
            for i in range(per_task):
                rows.append(
                    {
                        "model": rec.model,
                        "step": rec.step,
                        "task": f"t{t}",
                        "subtask": f"s{i % 2}" if t == 0 else "",
                        "item": i,
                        "acc": float(right[i]),
                    }
                )
    items = pd.DataFrame(rows)
    per_subtask = items.groupby(["model", "step", "task", "subtask"])["acc"].mean()
    tasks = per_subtask.groupby(["model", "step", "task"]).mean().rename("accuracy").reset_index()
    return tasks.assign(kind="bigbench"), items


def run(accuracy_of, sizes=SIZES, **kwargs) -> dict:
    ckpts = checkpoints(sizes)
    acc = accuracy_of(ckpts).to_numpy()
    tasks, items = items_for(ckpts, acc, **kwargs)
    rows = accuracy_rows(
        tasks, items, ckpts, metric="acc", bootstrap=BOOT, size_margin=0.02, min_clusters=4
    )
    return {(r["response"], r["stat"]): r for r in rows}


def by_ppl(ckpts: pd.DataFrame) -> pd.Series:
    """From about 0.35 (PPL 2000, early) to 0.8 (PPL 10)."""
    return 0.8 - 0.2 * (np.log10(ckpts["valid_ppl"]) - 1)


def test_the_mean_is_the_bigbench_stages_mean_over_tasks():
    ckpts = checkpoints({"a": 1e6, "b": 1e7}, n_steps=3)
    tasks, items = items_for(ckpts, by_ppl(ckpts).to_numpy(), n_tasks=3, per_task=10)
    keys, cols, x = item_matrix(items, "acc")
    point, boot = task_means(keys, x, 50, np.random.default_rng(0))
    mean = accuracy_responses(tasks).query("subset == 'mean'").set_index(["model", "step"])["y"]
    want = mean.loc[list(cols.itertuples(index=False, name=None))].to_numpy()
    np.testing.assert_allclose(point, want)
    assert boot.shape == (50, len(cols))
    assert np.all((boot >= 0) & (boot <= 1))


def test_perplexity_predicts_an_interior_size_and_size_adds_nothing():
    rows = run(by_ppl)
    interp = rows["BIG-bench tasks", "interpolation"]
    assert interp["ci_low"] <= interp["value"] <= interp["ci_high"]
    assert interp["verdict"] == "yes", interp
    size = rows["BIG-bench tasks", "size"]
    assert size["verdict"] == "yes", size
    assert "clustered by model" in size["note"]
    # no corpus-derived task in this suite: its rows say so rather than guess
    assert rows["corpus-derived tasks", "size"]["verdict"] == "not in this run"


def test_compute_not_perplexity_is_never_a_yes():
    rows = run(lambda c: 0.3 + 0.05 * (np.log10(c["flops"].clip(lower=1)) - 11))
    assert rows["BIG-bench tasks", "interpolation"]["verdict"] == "no"


def test_size_beyond_perplexity_is_never_a_yes():
    rows = run(lambda c: by_ppl(c) - 0.1 + 0.06 * np.log10(c["params_total"] / 1e6))
    size = rows["BIG-bench tasks", "size"]
    assert size["ci_low"] > 0.02 and size["verdict"] == "no", size


def test_two_sizes_have_no_interior_fold_and_too_few_clusters():
    rows = run(by_ppl, sizes={"a": 1e6, "b": 1e8})
    assert rows["BIG-bench tasks", "interpolation"]["verdict"] == "not in this run"
    assert "three or more sizes" in rows["BIG-bench tasks", "interpolation"]["note"]
    size = rows["BIG-bench tasks", "size"]
    assert size["verdict"] == "inconclusive"
    assert "too few models for a cluster-robust interval" in size["note"]


def test_corpus_tasks_are_a_separate_response():
    ckpts = checkpoints(n_steps=4)
    tasks, items = items_for(ckpts, by_ppl(ckpts).to_numpy(), n_tasks=4, per_task=10)
    corpus = tasks["task"].isin(["t2", "t3"])
    tasks.loc[corpus, "kind"] = "corpus"
    rows = accuracy_rows(tasks, items, ckpts, metric="acc", bootstrap=BOOT, size_margin=0.02)
    got = {(r["response"], r["stat"]): r for r in rows}
    assert got["corpus-derived tasks", "interpolation"]["note"].endswith(
        "2 tasks; rivals ['log_flops', 'log_params_tokens']"
    )
    assert "2 tasks" in got["BIG-bench tasks", "interpolation"]["note"]
    with pytest.raises(Exception, match="lacks column"):
        item_matrix(items.drop(columns="acc"), "acc")
