"""The run's configuration (with defaults filled in) and software versions, for the report.

Package versions come from the rule (read when the workflow is parsed), so an upgrade reruns this job.
"""

import datetime
import json
import platform
import subprocess
import sys

import pandas as pd
import yaml

from _helpers import setup
from lmtraj.checkpoints.suite import WORKFLOW_DIR
from lmtraj.io import write_text, write_tsv

log = setup(snakemake)
out, p = snakemake.output, snakemake.params


def git(*args):
    try:
        proc = subprocess.run(
            ["git", "-C", str(WORKFLOW_DIR), *args], capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return proc.stdout.strip() if proc.returncode == 0 else "unknown"


status = git("status", "--porcelain")
rows = [
    ("written_utc", datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")),
    ("workflow_commit", git("rev-parse", "HEAD")),
    ("workflow_uncommitted_changes", status if status == "unknown" else "yes" if status else "no"),
    ("models", ", ".join(p.models)),
    ("python", sys.version.split()[0]),
    ("platform", platform.platform()),
    ("machine", platform.machine()),
    *((f"package {name}", p.versions.get(name, "not installed")) for name in p.packages),
]
write_tsv(out.info, pd.DataFrame(rows, columns=["key", "value"]))
# A JSON round trip turns snakemake's config mapping into plain dicts and lists for the YAML dumper.
config = json.loads(json.dumps(p.config))
write_text(out.config, yaml.safe_dump(config, sort_keys=False, default_flow_style=False))
log.info("run info:\n%s", "\n".join(f"{k}\t{v}" for k, v in rows))
