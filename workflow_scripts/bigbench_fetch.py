"""Copy the selected BIG-bench tasks into results (from the sdist cache, a checkout or the bundled tasks), check
that each yields multiple-choice prompts, and write a summary row per task (selection-rule columns)."""

from pathlib import Path

import pandas as pd

from _helpers import setup
from lmtraj.bigbench.prompts import build_items
from lmtraj.bigbench.sdist import fetch_tasks, load_task
from lmtraj.bigbench.selection import summarize_task
from lmtraj.bigbench.task_lists import PAPER_TASKS
from lmtraj.checkpoints.suite import resolve
from lmtraj.io import write_tsv

log = setup(snakemake, offline=False)
p, out = snakemake.params, snakemake.output
# The bundled tasks' folder is relative to the workflow folder, a local_dir to the working directory.
local_dir = resolve(p.local_dir) if p.source == "bundled" else p.local_dir
paths = fetch_tasks(
    p.tasks,
    Path(out.tasks),
    source="sdist" if p.source == "sdist" else "local",
    cache_dir=Path(p.cache_dir),
    local_dir=Path(local_dir) if local_dir else None,
    pip_command=list(p.pip_command) if p.pip_command else None,
    log=log,
)
shots, seed, cap = p.prompts["shots"], p.prompts["seed"], p.prompts["max_examples"]
rows = []
for name, path in paths.items():
    task = load_task(path)
    scored = build_items(task, name, shots=shots, seed=seed, cap=cap)  # fails early on a bad task
    rows.append(
        summarize_task(task, name) | {"scored_items": len(scored), "paper74": name in PAPER_TASKS}
    )
    log.info(
        "%s: %d items scored (%d-shot); first prompt:\n%s",
        name,
        len(scored),
        shots,
        scored[0].context(),
    )
write_tsv(out.summary, pd.DataFrame(rows))
