"""Build the corpus-derived multiple-choice tasks from the task documents (a held-out set disjoint from
the token-analysis and validation-perplexity sets), as task.json folders."""

import json
from pathlib import Path

from _helpers import setup
from lmtraj.bigbench.corpus_tasks import build_corpus_tasks
from lmtraj.bigbench.prompts import build_items
from lmtraj.errors import ConfigError
from lmtraj.io import write_json

log = setup(snakemake)
p = snakemake.params
cfg = p.corpus_tasks
with open(snakemake.input.docs) as fh:
    texts = [json.loads(line)["text"] for line in fh]
if not texts:
    raise ConfigError(
        f"{snakemake.input.docs} is empty: corpus.task_documents must be >= 1 to build corpus tasks"
    )
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
        "%s: %d items from %d task documents; first prompt:\n%s",
        name,
        len(items),
        len(texts),
        items[0].context(),
    )
