"""Build the corpus-derived multiple-choice tasks from the validation documents, as task.json folders."""

import json
from pathlib import Path

from _helpers import setup
from lmtraj.bigbench.corpus_tasks import build_corpus_tasks
from lmtraj.bigbench.prompts import build_items
from lmtraj.io import write_json

log = setup(snakemake)
p = snakemake.params
cfg = p.corpus_tasks
with open(snakemake.input.valid) as fh:
    texts = [json.loads(line)["text"] for line in fh]
tasks = build_corpus_tasks(
    texts,
    list(cfg["types"]),
    n_items=cfg["n_items"],
    n_choices=cfg["n_choices"],
    prefix_words=cfg["prefix_words"],
    continuation_words=cfg["continuation_words"],
    seed=p.seed,
)
out = Path(snakemake.output[0])
for name, task in tasks.items():
    items = build_items(task, name, shots=p.prompts["shots"], seed=p.prompts["seed"])
    write_json(out / name / "task.json", task)
    log.info(
        "%s: %d items from %d validation documents; first prompt:\n%s",
        name,
        len(items),
        len(texts),
        items[0].context(),
    )
