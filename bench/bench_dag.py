"""Benchmark: building the DAG of the full Pythia suite, and how many SLURM jobs it becomes.

config/pythia.yaml is 10 sizes x 154 revisions with every analysis on (74 BIG-bench tasks): one
`snakemake -n` builds the whole plan, from the hub downloads to the last figure. Printed: the wall
time of the dry run, the number of jobs (per rule for the per-checkpoint ones), and the number of
SLURM submissions with and without profiles/slurm's job groups. Local rules (downloads, the hub
fetches) run on the submit host and are not SLURM jobs.

Run: ``python bench/bench_dag.py`` (about a minute on 2 cores; no network, nothing is executed).
``--json`` prints one JSON object instead (tests/test_dag_scale.py reads it).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCAL_RULES = {"all"}  # plus the rules declaring `localrule: True`, read from rules/*.smk


def local_rules() -> set[str]:
    names = set(LOCAL_RULES)
    for path in (ROOT / "rules").glob("*.smk"):
        for block in re.split(r"^(?=rule \w+:$)", path.read_text(), flags=re.M):
            if re.search(r"^    localrule: True$", block, re.M):
                names.add(re.match(r"rule (\w+):", block).group(1))
    return names


def dry_run(configfile: Path, profile_args: list[str], workdir: Path) -> tuple[float, str]:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-n",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--configfile",
        str(configfile),
        *profile_args,
    ]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(f"dry run failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, proc.stdout


def job_stats(stdout: str) -> Counter:
    """Rule -> jobs, from the 'Job stats' table of a dry run."""
    lines = stdout.splitlines()
    counts: Counter = Counter()
    for line in lines[lines.index("Job stats:") + 3 :]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", type=Path, default=ROOT / "config" / "pythia.yaml")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        plain_wall, plain = dry_run(args.configfile, ["--workflow-profile", "none"], Path(tmp))
        slurm_args = ["--workflow-profile", "none", "--profile", str(ROOT / "profiles" / "slurm")]
        slurm_wall, slurm = dry_run(args.configfile, slurm_args, Path(tmp))
    counts = job_stats(plain)
    local = local_rules()
    remote_jobs = sum(n for rule, n in counts.items() if rule not in local)
    groups = len(re.findall(r"Group job \w+ \(jobs in lexicogr\. order\):", slurm))
    in_groups = len(re.findall(r"^    (?:local)?rule \w+:$", slurm, re.M))  # members are indented
    result = {
        "config": str(
            args.configfile.relative_to(ROOT)
            if args.configfile.is_relative_to(ROOT)
            else args.configfile
        ),
        "dag_seconds": round(plain_wall, 1),
        "dag_seconds_slurm_profile": round(slurm_wall, 1),
        "jobs": sum(counts.values()),
        "jobs_per_rule": dict(counts.most_common()),
        "local_jobs": sum(n for rule, n in counts.items() if rule in local),
        "slurm_jobs_ungrouped": remote_jobs,
        "slurm_group_jobs": groups,
        "slurm_jobs_grouped": remote_jobs - in_groups + groups,
    }
    if args.json:
        print(json.dumps(result))
        return
    print(f"config                      {result['config']}")
    print(
        f"snakemake -n                {result['dag_seconds']:.1f} s ({result['dag_seconds_slurm_profile']:.1f} s with profiles/slurm)"
    )
    print(f"jobs                        {result['jobs']}")
    for rule, n in counts.most_common(6):
        print(f"  {rule:<26}{n}")
    print(f"local jobs (submit host)    {result['local_jobs']}")
    print(f"SLURM jobs, no grouping     {result['slurm_jobs_ungrouped']}")
    print(f"SLURM jobs, profiles/slurm  {result['slurm_jobs_grouped']} ({groups} group jobs)")
    print(
        f"ratio                       {result['slurm_jobs_ungrouped'] / result['slurm_jobs_grouped']:.1f}x fewer"
    )


if __name__ == "__main__":
    main()
