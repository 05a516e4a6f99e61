import numpy as np
import pandas as pd

from lmtraj.bigbench.figures import (
    accuracy_figure,
    linearity_figure,
    option_ppl_final_figure,
    per_task_figure,
)

MODELS = ["small", "big"]


def checkpoints() -> pd.DataFrame:
    rows = []
    for k, model in enumerate(MODELS):
        for step in (0, 1, 4, 16):
            rows.append(
                {
                    "model": model,
                    "step": step,
                    "tokens_seen": 512 * step,
                    "flops": 6e5 * (k + 1) * 512 * step,
                    "params_total": 1e5 * (k + 1),
                    "valid_ppl": 400.0 / (1 + step) ** (0.3 + 0.1 * k),
                }
            )
    return pd.DataFrame(rows)


def tasks_table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for _, c in checkpoints().iterrows():
        for task in ("corpus_next_word", "nonsense_words_grammar"):
            rows.append(
                {
                    "model": c["model"],
                    "step": c["step"],
                    "task": task,
                    "accuracy": rng.uniform(0.2, 0.6),
                    "random_baseline": 0.25,
                    "correct_ppl": rng.uniform(50, 100),
                    "incorrect_ppl": rng.uniform(100, 150),
                }
            )
    return pd.DataFrame(rows).merge(checkpoints(), on=["model", "step"])


def means_table(groups) -> pd.DataFrame:
    t = tasks_table()
    frames = [
        t.groupby(["model", "step"], as_index=False)
        .agg(
            accuracy=("accuracy", "mean"),
            random_baseline=("random_baseline", "mean"),
            correct_ppl=("correct_ppl", "mean"),
            incorrect_ppl=("incorrect_ppl", "mean"),
            n_tasks=("task", "size"),
        )
        .assign(group=g)
        .merge(checkpoints(), on=["model", "step"])
        for g in groups
    ]
    return pd.concat(frames)


def test_figures_draw_every_panel_and_say_when_a_list_is_absent():
    means = means_table(["bigbench", "corpus", "linearity"])
    fig = accuracy_figure(means, MODELS, ["bigbench", "corpus"])
    assert len(fig.axes) == 8
    # Step 0 is not drawn on the log FLOPs axis, but is on the symlog step axis.
    flops_ax, step_ax = fig.axes[1], fig.axes[3]
    assert len(flops_ax.collections[0].get_offsets()) == 3
    assert len(step_ax.collections[0].get_offsets()) == 4
    fig = linearity_figure(means, MODELS)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("no breakthroughness task" in t for t in texts)
    scaling = pd.DataFrame(
        {"task": ["nonsense_words_grammar"], "linearity": [1.0], "breakthroughness": [np.inf]}
    )
    fig = per_task_figure(
        tasks_table(), scaling, MODELS, ["nonsense_words_grammar", "corpus_next_word"]
    )
    assert fig.axes[0].get_title(loc="left") == "nonsense_words_grammar  L=1 B=inf"
    fig = option_ppl_final_figure(means, MODELS, ["bigbench", "corpus"])
    assert [ax.get_title() for ax in fig.axes] == ["BIG-bench tasks", "corpus-derived tasks"]
