"""Figures 8, 9, 17/18 and 5 right of the bigbench stage."""

import pandas as pd

from _helpers import setup
from lmtraj.bigbench.figures import (
    accuracy_figure,
    linearity_figure,
    option_ppl_final_figure,
    per_task_figure,
)
from lmtraj.bigbench.task_lists import BREAKTHROUGHNESS_TASKS, LINEARITY_TASKS
from lmtraj.io import save_figure

log = setup(snakemake)
p, inp, out = snakemake.params, snakemake.input, snakemake.output
means = pd.read_csv(inp.means, sep="\t")
scaling = pd.read_csv(inp.scaling, sep="\t")
checkpoints = pd.read_csv(inp.checkpoints, sep="\t")
tasks = pd.read_csv(inp.tasks, sep="\t").merge(
    checkpoints[["model", "step", "params_total", "valid_ppl", "flops", "tokens_seen"]],
    on=["model", "step"],
)
main_groups = [g for g in ("bigbench", "corpus") if g in p.groups] or ["all"]
# Figs. 17/18 order: the paper's linearity tasks, its breakthroughness tasks, then the others.
names = list(dict.fromkeys(tasks["task"]))
order = [t for t in LINEARITY_TASKS if t in names] + [
    t for t in BREAKTHROUGHNESS_TASKS if t in names
]
order += [t for t in names if t not in order]
save_figure(accuracy_figure(means, p.models, main_groups), out.accuracy)
save_figure(linearity_figure(means, p.models), out.lists)
save_figure(per_task_figure(tasks, scaling, p.models, order), out.per_task)
save_figure(option_ppl_final_figure(means, p.models, main_groups), out.option_ppl)
log.info("4 figures written (%d tasks, groups %s)", len(names), ", ".join(main_groups))
