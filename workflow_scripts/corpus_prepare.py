"""Collect the documents, cut them into chunks and split train / validation by chunk."""

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
    source["paths"] = [resolve(path, p.basedir) for path in source["paths"]]
docs = load_documents(source, Path(p.cache_dir), log)
log.info("%d documents, %.2f MB of text", len(docs), sum(len(d.text) for d in docs) / 1e6)
if p.need_train:
    train, valid = split_documents(docs, p.valid_documents, p.chunk_chars, p.seed)
else:  # nothing is trained here: every document (up to the count) is validation text
    train, valid = [], split_documents(docs, 0, p.chunk_chars, p.seed)[0][: p.valid_documents]
log.info("train %d chunks, validation %d chunks", len(train), len(valid))
for path, part in ((snakemake.output.train, train), (snakemake.output.valid, valid)):
    rows = pd.DataFrame(
        [
            {"doc": i, "source": d.source, "title": d.title, "text": d.text}
            for i, d in enumerate(part)
        ],
        columns=["doc", "source", "title", "text"],
    )
    with atomic_write(path) as fh:
        rows.to_json(fh, orient="records", lines=True, force_ascii=False)
