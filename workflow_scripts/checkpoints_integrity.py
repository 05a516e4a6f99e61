"""Compare every hub checkpoint's manifest: missing revisions and byte-identical weights.

Writes the suite's integrity table and one file manifest per model; under hub.on_defect: stop a
flagged checkpoint fails the job with a message listing every one of them.
"""

import pandas as pd

from _helpers import setup
from lmtraj.checkpoints.integrity import flagged, integrity_table
from lmtraj.errors import DataError
from lmtraj.io import read_json, write_tsv

log = setup(snakemake)
out = snakemake.output
manifests = [read_json(path) for path in snakemake.input.manifests]
table = integrity_table(manifests)
bad = flagged(table)
for row in bad.itertuples():
    log.warning("model %s step %d (%s): %s", row.model, row.step, row.revision, row.status)
log.info("%d checkpoints, %d flagged", len(table), len(bad))

tokens_per_step = snakemake.params.tokens_per_step
for model, path in zip(snakemake.params.models, out.manifests, strict=True):
    rows = [
        {
            "step": m["step"],
            "tokens": m["step"] * tokens_per_step[model],
            "revision": m["revision"],
            "commit": m["commit"] or "",
            "status": m["status"],
            "file": f["name"],
            "size": f["size"],
            "sha256": f["sha256"],
        }
        for m in manifests
        if m["model"] == model
        for f in (m["files"] or [{"name": "", "size": 0, "sha256": ""}])
    ]
    write_tsv(path, pd.DataFrame(rows).sort_values(["step", "file"]))

if snakemake.params.on_defect == "stop" and not bad.empty:
    listing = "; ".join(
        f"{r.model} step {r.step} ({r.revision}): {r.status}" for r in bad.itertuples()
    )
    raise DataError(
        f"{len(bad)} hub checkpoint(s) failed the integrity check: {listing}. Remove them from the "
        "models' steps, or set hub.on_defect: skip to analyse the others without them"
    )
write_tsv(out.table, table)
