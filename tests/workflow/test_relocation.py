"""A moved or freshly cloned project with its results is up to date: no absolute path (the workflow
folder, the bundled tasks' folder) reaches a param, so `snakemake -n` in the new place plans nothing."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from conftest import ROOT, SNAKEMAKE

pytestmark = pytest.mark.slow

# What a clone does not have: the git folder, environments, caches and every run's own outputs.
NOT_CLONED = shutil.ignore_patterns(
    ".git", ".venv", ".snakemake", "results", "logs", "resources", "__pycache__", ".*_cache"
)


def test_a_copied_project_and_its_results_plan_nothing(smoke_run, tmp_path):
    code = shutil.copytree(ROOT, tmp_path / "elsewhere" / "lm-trajectories", ignore=NOT_CLONED)
    run = shutil.copytree(smoke_run, tmp_path / "elsewhere" / "run", symlinks=True)  # keeps mtimes
    proc = subprocess.run(
        [
            *SNAKEMAKE,
            "-s",
            str(code / "Snakefile"),
            "--directory",
            str(run),
            "--configfile",
            str(code / "config" / "smoke.yaml"),
            "-n",
            "--quiet",
            "host",  # keep the per-job reasons: they say what a failure would rerun, and why
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    assert "Nothing to be done" in out, out[-6000:]
