"""The scoring benchmarks run and do their agreement checks (tiny shapes: speed is not measured here).

A benchmark nobody runs rots: these make sure `bench_losses.py` and `bench_mc_scoring.py` still read
config.yaml's workload, score it with every scorer they compare (lm-eval only where it is installed)
and fail when the numbers disagree.
"""

from __future__ import annotations

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


def test_bench_mc_scoring_scorers_agree():
    out = run_bench("bench_mc_scoring.py")
    errors = [
        float(line.split(":")[1].split()[0])
        for line in out.splitlines()
        if "max |log-likelihood" in line
    ]
    assert errors and max(errors) <= 1e-5
    assert "options/s" in out


@pytest.mark.parametrize("name", ["bench_losses.py", "bench_mc_scoring.py"])
def test_bench_help(name):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0 and "--d-model" in proc.stdout
