"""Task summaries (examples, options, kinds) and the paper's selection rule; task groups for figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from lmtraj.bigbench.sdist import iter_sdist_tasks
from lmtraj.bigbench.task_lists import (
    BREAKTHROUGHNESS_TASKS,
    HAND_ADDED_TASKS,
    LINEARITY_TASKS,
    MAX_EXAMPLES_EXCLUSIVE,
)

if (
    TYPE_CHECKING
):  # pandas is imported where used: the Snakefile imports this module to build the DAG
    import pandas as pd


# ---------------------------------------------------------------------------------------------------
# Summaries and the selection rule


def _part_summary(examples: list) -> dict:
    """Counts for one task.json's examples (a task without subtasks, or one subtask)."""
    distinct = list({json.dumps(e): e for e in examples}.values()) if examples else []
    mc = [e for e in distinct if isinstance(e, dict) and isinstance(e.get("target_scores"), dict)]
    n_choices = [len(e["target_scores"]) for e in mc]
    n_correct = []
    for e in mc:
        scores = list(e["target_scores"].values())
        top = max(scores) if scores else 0
        n_correct.append(sum(s == top for s in scores) if scores and top > min(scores) else 0)
    return {
        "n_examples": len(examples),
        "n_distinct": len(distinct),
        "n_mc": len(mc),
        "n_single_correct": sum(c == 1 for c in n_correct),
        "min_choices": min(n_choices, default=0),
        "max_choices": max(n_choices, default=0),
        "sum_inverse_choices": sum(1.0 / c for c in n_choices if c),
    }


def summarize_parts(name: str, parts: list[dict]) -> dict:
    """Combine per-part counts into one row of the task summary (see `task_summary_columns`)."""
    total = {
        k: sum(p[k] for p in parts)
        for k in ("n_examples", "n_distinct", "n_mc", "n_single_correct")
    }
    with_mc = [p for p in parts if p["n_mc"]]
    return {
        "task": name,
        "n_subtasks": len(parts) if len(parts) > 1 else 0,
        **total,
        "all_mc": total["n_distinct"] > 0 and total["n_mc"] == total["n_distinct"],
        "single_correct": total["n_mc"] > 0 and total["n_single_correct"] == total["n_mc"],
        "min_choices": min((p["min_choices"] for p in with_mc), default=0),
        "max_choices": max((p["max_choices"] for p in with_mc), default=0),
        # BIG-bench scores a container task as the mean over its subtasks, chance level included.
        "random_baseline": sum(p["sum_inverse_choices"] / p["n_mc"] for p in with_mc) / len(with_mc)
        if with_mc
        else float("nan"),
    }


def summarize_task(task: dict, name: str | None = None) -> dict:
    """Summary row of a task dict as returned by `load_task`."""
    name = name or str(task.get("name", "?"))
    parts = task["subtasks"] if "subtasks" in task else [task]
    return summarize_parts(name, [_part_summary(p.get("examples", [])) for p in parts])


def summarize_sdist(sdist: Path) -> pd.DataFrame:
    """One summary row per top-level BIG-bench JSON task in the archive (about 35 s)."""
    import pandas as pd

    top: dict[str, dict] = {}
    subs: dict[str, dict[str, dict]] = {}
    for task, subtask, data in iter_sdist_tasks(sdist):
        part = _part_summary(data.get("examples", []))
        if subtask is None:
            top[task] = part if "examples" in data else None
        else:
            subs.setdefault(task, {})[subtask] = part
    rows = []
    for task in sorted(top):
        parts = (
            [top[task]]
            if top[task] is not None
            else [subs[task][s] for s in sorted(subs.get(task, {}))]
        )
        rows.append(summarize_parts(task, parts))
    return pd.DataFrame(rows)


def paper_selection(summary: pd.DataFrame) -> list[str]:
    """The paper's rule on a task summary: MC, < 1000 distinct examples, one correct option; + hand-added."""
    keep = (
        summary["all_mc"].astype(bool)
        & (summary["n_distinct"] < MAX_EXAMPLES_EXCLUSIVE)
        & summary["single_correct"].astype(bool)
    ) | summary["task"].isin(HAND_ADDED_TASKS)
    return sorted(summary.loc[keep, "task"])


def task_groups(bigbench: list[str], corpus: list[str]) -> dict[str, list[str]]:
    """Task groups whose mean accuracy is reported: all, bigbench, corpus, and the paper's two lists."""
    groups = {
        "all": [*bigbench, *corpus],
        "bigbench": list(bigbench),
        "corpus": list(corpus),
        "linearity": [t for t in bigbench if t in LINEARITY_TASKS],
        "breakthroughness": [t for t in bigbench if t in BREAKTHROUGHNESS_TASKS],
    }
    return {name: tasks for name, tasks in groups.items() if tasks}
