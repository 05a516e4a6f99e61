"""The workflow's code is clean: lint, formatting, and a DAG for every shipped config."""

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, run_snakemake

BIN = Path(sys.executable).parent


def run(cmd):
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))}\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    )
    return proc


def test_snakemake_lint_is_clean():
    proc = run([sys.executable, "-m", "snakemake", "--lint"])
    assert "Congratulations" in proc.stdout + proc.stderr


def test_snakefmt_check():
    run([BIN / "snakefmt", "--check", "Snakefile", "rules"])


def test_python_is_formatted_and_linted():
    paths = ["workflow_scripts", "tests", "bench"]
    run([BIN / "ruff", "format", "--check", *paths])
    run([BIN / "ruff", "check", *paths])


@pytest.mark.parametrize("configfile", sorted(p.name for p in (ROOT / "config").glob("*.yaml")))
def test_every_shipped_config_builds_a_dag(configfile, tmp_path):
    run_snakemake(
        ["-n", "--quiet", "rules", "--configfile", str(ROOT / "config" / configfile)], tmp_path
    )


def test_embedded_default_builds_a_dag(tmp_path):
    proc = run_snakemake(["-n", "--quiet", "rules"], tmp_path)
    assert "checkpoints_train" in proc.stdout
