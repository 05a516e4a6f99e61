"""Fetch one hub revision's needed files into the Hugging Face cache and write its manifest.

A local rule: it runs where the network is; model-running jobs then read the cache offline.
"""

from _helpers import setup
from lmtraj.checkpoints.integrity import fetch_manifest
from lmtraj.io import write_json

log = setup(snakemake, offline=False)
p = snakemake.params
manifest = fetch_manifest(
    model=snakemake.wildcards.model,
    step=int(snakemake.wildcards.step),
    repo=p.repo,
    revision=p.revision,
    cache_dir=p.cache_dir,
    on_missing=p.on_defect,
)
if manifest["status"] == "ok":
    size = sum(f["size"] for f in manifest["files"] if f["weight"])
    log.info(
        "%s@%s = commit %s, weights %.1f MB", p.repo, p.revision, manifest["commit"], size / 1e6
    )
else:
    log.warning("%s@%s missing (hub.on_defect: skip): %s", p.repo, p.revision, manifest["reason"])
write_json(snakemake.output[0], manifest)
