"""The benchmarks run and do their checks (tiny shapes: speed is not measured here).

A benchmark nobody runs rots: these make sure `bench_losses.py` and `bench_mc_scoring.py` still read
config.yaml's workload, score it with every scorer they compare (lm-eval only where it is installed)
and fail when the numbers disagree; that `bench_attention.py`'s kernels agree with SDPA; that
`bench_default.py` still reads Snakemake's log; and that `gpu_check.sh --cpu` (the GPU proof's checks
that need no GPU) passes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--d-model", "32", "--layers", "1", "--heads", "2", "--repeats", "1", "--threads", "1"]


def run_bench(name: str, *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), *TINY, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def test_bench_losses_defaults_follow_config_and_scorers_agree():
    import yaml

    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    out = run_bench("bench_losses.py", "--docs", "4")
    stride = cfg["losses"]["scoring"]["stride"]
    assert f"default stride (ctx {cfg['losses']['scoring']['context']}, stride {stride})" in out
    assert f"V={cfg['tokenizer']['vocab_size']}" in out
    errors = [
        float(line.split(":")[1].split()[0]) for line in out.splitlines() if "max |NLL" in line
    ]
    assert len(errors) == 4 and max(errors) <= 1e-5  # two windowings x (text, random ids)


@pytest.mark.skipif(
    shutil.which("c++") is None, reason="torch.compile's CPU backend needs a C++ compiler"
)
def test_bench_losses_compiled_scorer_agrees():
    out = run_bench("bench_losses.py", "--docs", "2", "--compile")
    errors = [
        float(line.split("per token:")[1].split()[0])
        for line in out.splitlines()
        if "max |NLL compiled" in line
    ]
    assert len(errors) == 4 and max(errors) <= 1e-5


def test_bench_mc_scoring_scorers_agree():
    out = run_bench("bench_mc_scoring.py", "--kv-cache")
    errors = {
        line.split("|")[1].split()[1]: float(line.split(":")[1].split()[0])
        for line in out.splitlines()
        if "max |log-likelihood" in line
    }
    assert {"packed", "kv-cache"} <= set(errors) and max(errors.values()) <= 1e-5
    assert "options/s" in out


def test_bench_attention_kernels_agree():
    out = run_bench("bench_attention.py", "--rows", "2")
    rows = [line.split() for line in out.splitlines() if "ms  x" in line]
    kernels = {(r[0], r[1]) for r in rows}
    assert {("loss", k) for k in ("sdpa", "math", "explicit", "explicit/qb")} <= kernels
    assert {("packed", "explicit"), ("model", "explicit")} <= kernels
    errors = [
        float(line.split("max |diff|")[1]) for line in out.splitlines() if "max |diff|" in line
    ]
    assert len(errors) == len(rows) and max(errors) <= 1e-5


@pytest.mark.parametrize("name", ["bench_losses.py", "bench_mc_scoring.py", "bench_attention.py"])
def test_bench_help(name):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "--d-model" in proc.stdout


# An excerpt of a real `bench_default.py` run's Snakemake log (embedded default, 2 cores): two jobs that
# ran side by side, with the jobs' own log lines in between.
LOG = """\
[Wed Dec  2 07:20:03 2026]
localrule bigbench_corpus_tasks:
    input: results/corpus/task_documents.jsonl
    output: results/bigbench/tasks/corpus
    log: logs/bigbench/bigbench_corpus_tasks.log
    jobid: 61
    resources: tmpdir=/tmp, runtime=10, mem_mb=2000, mem=2 GB, mem_mib=1908
[Wed Dec  2 07:20:03 2026]
localrule corpus_tokenizer:
    input: results/corpus/train_documents.jsonl
    output: results/corpus/tokenizer
    log: logs/corpus/corpus_tokenizer.log
    jobid: 6
    resources: tmpdir=/tmp, runtime=20, mem_mb=4000, mem=4 GB, mem_mib=3815
07:20:03 INFO rule bigbench_corpus_tasks, wildcards {}
[Wed Dec  2 07:20:05 2026]
Finished jobid: 61 (Rule: bigbench_corpus_tasks)
4 of 70 steps (6%) done
[Wed Dec  2 07:20:09 2026]
Finished jobid: 6 (Rule: corpus_tokenizer)
"""


def test_bench_default_reads_jobs_and_stage_spans_from_the_log(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import bench_default

    jobs = bench_default.parse_log(LOG)
    assert {j: job["rule"] for j, job in jobs.items()} == {
        61: "bigbench_corpus_tasks",
        6: "corpus_tokenizer",
    }
    seconds = {j: (job["end"] - job["start"]).total_seconds() for j, job in jobs.items()}
    assert seconds == {61: 2.0, 6: 6.0}
    assert bench_default.stage_of("corpus_tokenizer") == "corpus"
    # Overlapping jobs count once in a stage's wall span: 07:20:03-07:20:09 is 6 s, not 8.
    intervals = [(job["start"], job["end"]) for job in jobs.values()]
    assert bench_default.union_seconds(intervals) == 6.0
    assert set(bench_default.AVX2_ONLY) == {
        "ATEN_CPU_CAPABILITY",
        "MKL_ENABLE_INSTRUCTIONS",
        "ONEDNN_MAX_CPU_ISA",
    }


def test_gpu_check_cpu_mode_passes():
    """The GPU proof's checks that need no GPU (dtypes, tolerances, simulated out-of-memory halving)."""
    proc = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_check.sh"), "--cpu"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "all checks passed" in proc.stdout
    assert "[ok] the budget halved" in proc.stdout
