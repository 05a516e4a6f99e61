"""Gather every checkpoint's task and item tables; mean accuracy per task group (with the checkpoint axes)
and the linearity / breakthroughness scores of each task over the final checkpoints of all sizes."""

from pathlib import Path

import pandas as pd

from _helpers import setup
from lmtraj.bigbench.metrics import group_means, scaling_table
from lmtraj.bigbench.task_lists import BREAKTHROUGHNESS_TASKS, LINEARITY_TASKS
from lmtraj.errors import DataError
from lmtraj.io import write_parquet, write_tsv

log = setup(snakemake)
p, inp, out = snakemake.params, snakemake.input, snakemake.output
dirs = [Path(d) for d in inp.blocks]
tasks = pd.concat(
    [pd.read_csv(f, sep="\t") for d in dirs for f in sorted(d.glob("step*.tasks.tsv"))]
)
items = pd.concat([pd.read_parquet(f) for d in dirs for f in sorted(d.glob("step*.items.parquet"))])
if tasks.empty:
    raise DataError(f"no step*.tasks.tsv in {', '.join(map(str, dirs))}")
tasks["accuracy"] = tasks[p.metric]  # the headline metric, under the name other stages read
tasks.insert(3, "kind", tasks["task"].isin(p.corpus_tasks).map({True: "corpus", False: "bigbench"}))
order = {m: k for k, m in enumerate(p.models)}  # size order, as in every table of the run
tasks = tasks.sort_values(
    ["model", "step", "task"], key=lambda col: col.map(order) if col.name == "model" else col
)
items = items.sort_values(
    ["model", "step", "task", "item"],
    key=lambda col: col.map(order) if col.name == "model" else col,
).reset_index(drop=True)

checkpoints = pd.read_csv(inp.checkpoints, sep="\t")
axes = ["model", "step", "tokens_seen", "flops", "params_total", "valid_ppl"]
means = group_means(tasks, p.groups)
means["accuracy"] = means[p.metric]
means = means.merge(checkpoints[axes], on=["model", "step"], how="left")

final_step = tasks.groupby("model")["step"].transform("max")
scaling = scaling_table(tasks[tasks["step"] == final_step], p.models, metric="accuracy")
scaling.insert(
    1,
    "paper_list",
    scaling["task"].map(
        lambda t: (
            "linearity"
            if t in LINEARITY_TASKS
            else "breakthroughness"
            if t in BREAKTHROUGHNESS_TASKS
            else ""
        )
    ),
)
write_tsv(out.tasks, tasks)
write_parquet(out.per_item, items)
write_tsv(out.means, means)
write_tsv(out.scaling, scaling)
for group, rows in means.groupby("group"):
    last = rows.loc[rows.groupby("model")["step"].idxmax()].set_index("model").reindex(p.models)
    log.info(
        "%s: final accuracy %s (chance %.3f)",
        group,
        ", ".join(f"{m} {a:.3f}" for m, a in last["accuracy"].items()),
        rows["random_baseline"].mean(),
    )
