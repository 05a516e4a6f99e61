"""Collect the documents, cut them into chunks, and split them into training text and the three
disjoint held-out sets (token analysis, validation perplexity, corpus-derived tasks)."""

from pathlib import Path

import pandas as pd

from _helpers import setup
from lmtraj.checkpoints.suite import resolve
from lmtraj.corpus.sources import load_documents
from lmtraj.corpus.split import split_documents
from lmtraj.io import atomic_write

log = setup(snakemake, offline=False)
p = snakemake.params
source = dict(p.source)
if source["kind"] == "files":
    source["paths"] = [resolve(path) for path in source["paths"]]  # relative to the workflow folder
docs = load_documents(source, Path(p.cache_dir), log)
log.info("%d documents, %.2f MB of text", len(docs), sum(len(d.text) for d in docs) / 1e6)
# Without training (hub suites) every document is held-out text, taken in corpus order.
split = split_documents(docs, dict(p.counts), p.chunk_chars, p.seed, need_train=p.need_train)
if split.duplicates:
    log.warning("dropped %d chunks whose text repeats an earlier chunk", split.duplicates)
log.info(
    "%d chunks: train %d, token analysis %d, validation perplexity %d, corpus tasks %d",
    len(split.chunks),
    *(len(split.ids[name]) for name in ("train", "valid", "ppl", "task")),
)
out = snakemake.output
for name, path in (
    ("train", out.train),
    ("valid", out.valid),
    ("ppl", out.ppl),
    ("task", out.task),
):
    rows = pd.DataFrame(
        [
            {"doc": i, "chunk": c, "source": d.source, "title": d.title, "text": d.text}
            for i, (c, d) in enumerate(zip(split.ids[name], split.part(name)))
        ],
        columns=["doc", "chunk", "source", "title", "text"],
    )
    with atomic_write(path) as fh:
        rows.to_json(fh, orient="records", lines=True, force_ascii=False)
