"""Benchmark: the embedded default end to end, as a user runs it, in a fresh working directory.

Runs `snakemake --cores all` on config.yaml (or `--configfile`) in a new, empty folder (downloads
included, unless `--caches` names a folder of an earlier run whose `resources/` download caches are
copied in), then runs it again (the no-op rerun: nothing may be rebuilt), and prints:

- the machine: CPU model, logical CPUs, the SIMD flags that decide fp32 GEMM speed (avx2, avx512f, amx),
  torch's version and threads, the load average before and after (other processes skew every number);
- per stage (the rule-name prefix: corpus, checkpoints, losses, ...): jobs, the wall time its jobs
  spanned (union of their start-to-finish intervals, from the Snakemake log; stages overlap when jobs run
  side by side) and the summed job time (from the per-job benchmark TSVs where the rule has one);
- the slowest jobs, the total wall time, the peak resident memory of any job and the no-op rerun's time.

`--isa avx2` runs every job with torch's kernels, MKL and oneDNN limited to AVX2 (environment
variables, see AVX2_ONLY): on an AVX-512 machine, the nearest thing to the AVX2-only machines the budget
is set for. It shows what the instruction set costs (on a 2-core Xeon its fp32 GEMM drops from ~280 to
~190 GFLOP/s); clock, caches and memory stay this machine's, so it is an estimate, not a measurement of
such a machine.

Budgets: the whole run at most 15 minutes on a 2-core AVX2 machine, the rerun at most 10 s.
`--budget-s` and `--rerun-budget-s` set the limits checked here (exit status 1 past either).

Run: ``.venv/bin/python bench/bench_default.py`` (minutes: the whole default); ``--keep`` keeps the
folder, ``--directory`` chooses it (it must be empty or absent).
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path

from machine import cpu_and_flags  # bench/ is the script's folder, on sys.path

ROOT = Path(__file__).resolve().parents[1]
STAGES = (
    "corpus",
    "checkpoints",
    "losses",
    "trends",
    "generation",
    "bigbench",
    "regression",
    "report",
)
# `--isa avx2`: torch's own kernels (ATen), MKL's GEMM and oneDNN limited to AVX2 on an AVX-512 machine,
# the nearest this machine gets to an AVX2-only one (its clock, caches and memory stay its own).
AVX2_ONLY = {
    "ATEN_CPU_CAPABILITY": "avx2",
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",
    "ONEDNN_MAX_CPU_ISA": "AVX2",
}
DATE = re.compile(r"^\[(\w{3} \w{3}\s+\d+ \d\d:\d\d:\d\d \d{4})\]$")
START = re.compile(r"^(?:local)?(?:rule|checkpoint) (\w+):$")
JOBID = re.compile(r"^\s+jobid: (\d+)$")
FINISHED = re.compile(r"^Finished jobid: (\d+) \(Rule: (\w+)\)")


def machine() -> dict:
    cpu, flags = cpu_and_flags()
    simd = [
        f for f in ("avx2", "fma", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile") if f in flags
    ]
    try:
        import torch

        torch_line = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    except ImportError:
        torch_line = "torch not importable"
    return {"cpu": cpu, "cpus": os.cpu_count(), "simd": simd, "torch": torch_line}


def stage_of(rule: str) -> str:
    prefix = rule.split("_", 1)[0]
    return prefix if prefix in STAGES else rule


def parse_log(text: str) -> dict[int, dict]:
    """jobid -> {rule, start, end} (datetimes, 1 s resolution) from a Snakemake log."""
    jobs: dict[int, dict] = {}
    date = pending = None
    for line in text.splitlines():
        if m := DATE.match(line):
            date = datetime.strptime(" ".join(m.group(1).split()), "%a %b %d %H:%M:%S %Y")
        elif m := START.match(line):
            pending = (m.group(1), date)
        elif (m := JOBID.match(line)) and pending:
            jobs[int(m.group(1))] = {"rule": pending[0], "start": pending[1], "end": None}
            pending = None
        elif m := FINISHED.match(line):
            job = jobs.setdefault(int(m.group(1)), {"rule": m.group(2), "start": date})
            job["end"] = date
    return jobs


def union_seconds(intervals: list[tuple[datetime, datetime]]) -> float:
    total, last_end = 0.0, None
    for start, end in sorted(intervals):
        if last_end is None or start > last_end:
            total += (end - start).total_seconds()
            last_end = end
        elif end > last_end:
            total += (end - last_end).total_seconds()
            last_end = end
    return total


def benchmark_seconds(workdir: Path) -> dict[str, list[tuple[str, float, float]]]:
    """stage -> [(job, seconds, max_rss MB)] from results/benchmarks/**/*.tsv."""
    out: dict[str, list] = defaultdict(list)
    for tsv in sorted((workdir / "results" / "benchmarks").rglob("*.tsv")):
        with tsv.open() as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        if not rows:
            continue
        rel = tsv.relative_to(workdir / "results" / "benchmarks")
        stage = rel.parts[0]
        job = str(rel.with_suffix("")).split("/", 1)[-1]
        out[stage].append((job, float(rows[-1]["s"]), float(rows[-1].get("max_rss") or 0)))
    return out


def snakemake(workdir: Path, args, log_path: Path) -> tuple[float, int]:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(ROOT / "Snakefile"),
        "--directory",
        str(workdir),
        "--cores",
        args.cores,
    ]
    if args.configfile:
        cmd += ["--configfile", str(Path(args.configfile).resolve())]
    cmd += shlex.split(args.snakemake_args)
    t0 = time.perf_counter()
    env = {**os.environ, **(AVX2_ONLY if args.isa == "avx2" else {})}
    with log_path.open("w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    return time.perf_counter() - t0, proc.returncode


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--configfile", default=None, help="a suite instead of the embedded default")
    ap.add_argument("--directory", default=None, help="working directory (empty or absent)")
    ap.add_argument("--cores", default="all")
    ap.add_argument(
        "--caches",
        default=None,
        help="a working directory of an earlier run: its resources/ (corpus archives, BIG-bench "
        "sdist) is copied in, so nothing is downloaded (the time then excludes downloads)",
    )
    ap.add_argument(
        "--snakemake-args",
        default="",
        help="more arguments for both runs, e.g. '--set-threads losses_tokens=1' (one string)",
    )
    ap.add_argument(
        "--isa",
        choices=("native", "avx2"),
        default="native",
        help="avx2: every job's torch limited to AVX2 kernels (an AVX2-only machine, emulated)",
    )
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    ap.add_argument("--budget-s", type=float, default=None, help="fail above this total")
    ap.add_argument("--rerun-budget-s", type=float, default=10.0)
    args = ap.parse_args()

    if args.directory:
        workdir = Path(args.directory).resolve()
        if workdir.exists() and any(workdir.iterdir()):
            raise SystemExit(f"--directory {workdir} is not empty: the run must start fresh")
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(tempfile.mkdtemp(prefix="lmtraj-bench-default-"))
    if args.caches:
        src = Path(args.caches) / "resources"
        if not src.is_dir():
            raise SystemExit(f"--caches: {src} is not a folder")
        shutil.copytree(src, workdir / "resources", symlinks=True)

    info = machine()
    load_before = os.getloadavg()
    print(f"CPU {info['cpu']}, {info['cpus']} logical CPUs, flags {' '.join(info['simd']) or '?'}")
    print(f"{info['torch']}; python {platform.python_version()}; working directory {workdir}")
    print(f"config {args.configfile or 'config.yaml (embedded default)'}; --cores {args.cores} "
          f"{args.snakemake_args}; downloads {'copied from ' + args.caches if args.caches else 'included'}")  # fmt: skip
    if args.isa == "avx2":
        print("ISA: AVX2 kernels only (" + " ".join(f"{k}={v}" for k, v in AVX2_ONLY.items()) + ")")
    print(f"load average before: {' '.join(f'{x:.2f}' for x in load_before)}", flush=True)

    wall, rc = snakemake(workdir, args, workdir / "bench_run.log")
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if rc:
        raise SystemExit(f"snakemake failed (exit {rc}); see {workdir / 'bench_run.log'}")
    rerun, rc2 = snakemake(workdir, args, workdir / "bench_rerun.log")
    rerun_text = (workdir / "bench_rerun.log").read_text()
    rebuilt = "Nothing to be done" not in rerun_text
    load_after = os.getloadavg()

    jobs = parse_log((workdir / "bench_run.log").read_text())
    bench = benchmark_seconds(workdir)
    by_stage: dict[str, list[dict]] = defaultdict(list)
    for job in jobs.values():
        if job.get("start") and job.get("end"):
            by_stage[stage_of(job["rule"])].append(job)
    print(f"\n{'stage':12s} {'jobs':>4s} {'wall span s':>11s} {'job-s (benchmarks)':>19s}")
    order = [s for s in STAGES if s in by_stage] + sorted(set(by_stage) - set(STAGES))
    for stage in order:
        span = union_seconds([(j["start"], j["end"]) for j in by_stage[stage]])
        summed = sum(s for _, s, _ in bench.get(stage, []))
        shown = f"{summed:.1f} ({len(bench[stage])} jobs)" if stage in bench else "-"
        print(f"{stage:12s} {len(by_stage[stage]):4d} {span:11.0f} {shown:>19s}")
    slow = sorted(
        ((s, f"{stage}/{job}", rss) for stage, rows in bench.items() for job, s, rss in rows),
        reverse=True,
    )[:8]
    print("\nslowest jobs (benchmark TSVs): " + "; ".join(f"{j} {s:.1f} s" for s, j, _ in slow))
    print(
        f"\ntotal: {len(jobs)} jobs in {wall:.0f} s ({int(wall // 60)} min {wall % 60:.0f} s) wall; "
        f"peak RSS of one job {peak_mb:,.0f} MB"
    )
    print(
        f"no-op rerun: {rerun:.1f} s ({'REBUILT SOMETHING' if rebuilt else 'nothing to be done'}"
        f"{', exit ' + str(rc2) if rc2 else ''})"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in load_after)}")
    failures = []
    if args.budget_s is not None and wall > args.budget_s:
        failures.append(f"total {wall:.0f} s > budget {args.budget_s:.0f} s")
    if rerun > args.rerun_budget_s or rebuilt or rc2:
        failures.append(f"no-op rerun {rerun:.1f} s (budget {args.rerun_budget_s:.0f} s)")
    if not args.keep and not args.directory:
        shutil.rmtree(workdir, ignore_errors=True)
    if failures:
        raise SystemExit("; ".join(failures))


if __name__ == "__main__":
    main()
