"""After kill -9 (or a power loss) Snakemake's lock stays behind: the next run stops with "Directory
cannot be locked". The message a user sees then says what to do (rules/common.smk), and doing it resumes."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest
from conftest import SMOKE_CONFIG, run_snakemake, snakemake_cmd

pytestmark = pytest.mark.slow

TARGET = "results/corpus/tokenizer"


def test_killed_run_tells_how_to_unlock_and_then_resumes(tmp_path):
    args = ["--configfile", str(SMOKE_CONFIG), "--cores", "2", TARGET]
    proc = subprocess.Popen(
        snakemake_cmd(args, tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: kill -9 takes snakemake and its jobs at once
    )
    started = tmp_path / "logs/corpus/corpus_prepare.log"
    deadline = time.monotonic() + 300
    while not started.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert started.exists() and proc.poll() is None, "the run did not get to its first job"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert list((tmp_path / ".snakemake/locks").iterdir()), "kill -9 leaves the lock behind"

    locked = run_snakemake(args, tmp_path, check=False)
    out = locked.stdout + locked.stderr
    assert locked.returncode != 0 and "cannot be locked" in out, out[-3000:]
    assert "snakemake --unlock" in out and "rerun the same command" in out, out[-3000:]

    unlocked = run_snakemake([*args, "--unlock"], tmp_path)
    assert "This folder is locked" not in unlocked.stdout + unlocked.stderr
    run_snakemake(args, tmp_path)
    assert (tmp_path / TARGET / "tokenizer.json").is_file()
