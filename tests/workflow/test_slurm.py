"""profiles/slurm on a real SLURM cluster: a single node on localhost with accounting (slurmctld,
slurmd, slurmdbd + mariadb, from Debian's packages; .ci/slurm/) and three fake GPUs.

The smoke config runs through `--profile profiles/slurm --profile profiles/slurm-ci`; every job must be
a SLURM job that sacct reports COMPLETED, the model-running rules must have been given a GPU and no
other rule one, and the result tables must equal a local run's. Skipped where SLURM is not installed
or the test is not root (with the reason), but failed instead when CI=true. The daemons it started
are always stopped, by PID (.ci/slurm/stop-slurm.sh).

The fake GPUs are GRES entries backed by dummy device files: SLURM schedules and accounts them, but
CUDA is absent, so the jobs get LMTRAJ_FAKE_GPUS=1 and run their models on the CPU.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, SMOKE_CONFIG, run_snakemake

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

CI = os.environ.get("CI", "").lower() == "true"
DAEMONS = ("munged", "slurmctld", "slurmd", "slurmdbd", "mariadbd")
CLIENTS = ("sbatch", "sacct", "sacctmgr", "sinfo", "squeue")
GPU_RULES = {
    "checkpoints_train",
    "losses_tokens",
    "bigbench_score",
    "generation_decode",
    "generation_score",
    "generation_corrupted",
}
GROUPED_RULES = {
    "losses_tokens",
    "bigbench_score",
    "generation_score",
}  # profiles/slurm: group "score"
# Columns that hold timings or the host, which legitimately differ between two runs.
VOLATILE = re.compile(r"second|time|elapsed|host|date|device|rate|^s$|max_rss|max_vms|cpu_time|io_")


def _missing_prerequisites() -> str | None:
    missing = [
        name
        for name in DAEMONS + CLIENTS
        if not (shutil.which(name) or Path("/usr/sbin", name).exists())
    ]
    if missing:
        return f"SLURM is not installed (missing {', '.join(missing)}); run .ci/slurm/install.sh as root"
    if os.geteuid() != 0:
        return "starting munged/slurmctld/slurmd needs root (.ci/slurm/start-slurm.sh)"
    return None


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    reason = _missing_prerequisites()
    if reason:
        if CI:
            pytest.fail(f"CI=true, so the SLURM test must run, but: {reason}")
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm")
    env = {
        **os.environ,
        "SLURM_TEST_DIR": str(state),
        "SLURM_ACCOUNTING": "1",
        "SLURM_FAKE_GPUS": "1",
    }
    try:
        start = time.monotonic()
        proc = subprocess.run(
            [str(ROOT / ".ci/slurm/start-slurm.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if proc.returncode != 0:
            pytest.fail(f"start-slurm.sh failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
        print(f"SLURM cluster up in {time.monotonic() - start:.1f} s:\n{proc.stdout}")
        yield state
    finally:
        subprocess.run([str(ROOT / ".ci/slurm/stop-slurm.sh")], env=env, timeout=180)


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    """The smoke config through the SLURM profile; returns (workdir, snakemake output, wall seconds)."""
    workdir = tmp_path_factory.mktemp("slurm-run")
    args = [
        "--configfile",
        str(SMOKE_CONFIG),
        "--workflow-profile",
        "none",
        "--profile",
        str(ROOT / "profiles/slurm"),
        "--profile",
        str(ROOT / "profiles/slurm-ci"),
    ]
    env = {**os.environ, "LMTRAJ_FAKE_GPUS": "1", "SLURM_CONF": "/etc/slurm/slurm.conf"}
    start = time.monotonic()
    # snakemake can ignore one SIGTERM while it waits on jobs: timeout -k sends SIGKILL 30 s later.
    proc = run_snakemake(
        args,
        workdir,
        timeout=2500,
        check=False,
        env=env,
        prefix=("timeout", "-k", "30", "2400"),
        cwd=workdir,
    )
    wall = time.monotonic() - start
    output = proc.stdout + proc.stderr
    (workdir / "snakemake-slurm.log").write_text(output)
    if proc.returncode != 0:
        logs = "\n".join(
            f"--- {p} ---\n{p.read_text()[-3000:]}"
            for p in sorted((workdir / ".snakemake/slurm_logs").rglob("*.log"))[-3:]
        )
        pytest.fail(
            f"snakemake on SLURM failed ({proc.returncode}) after {wall:.0f} s:\n{output[-8000:]}\n{logs}"
        )
    print(f"smoke config on SLURM: {wall:.0f} s wall")
    return workdir, output, wall


def _submissions(output: str) -> dict[str, str]:
    """SLURM job id -> log folder (rule_<rule> or group_<group>_<rules>) from the plugin's lines."""
    found = re.findall(r"submitted with SLURM jobid (\d+) \(log: \S*/slurm_logs/(\w+)/", output)
    return {jobid: where for jobid, where in found}


def _sacct(run_id: str) -> pd.DataFrame:
    proc = subprocess.run(
        [
            "sacct",
            "-X",
            "-n",
            "-P",
            "--name",
            run_id,
            "-o",
            "JobID,State,AllocTRES,Account,Partition,ExitCode",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = [line.split("|") for line in proc.stdout.splitlines() if line.strip()]
    return pd.DataFrame(
        rows, columns=["jobid", "state", "alloc_tres", "account", "partition", "exit_code"]
    )


def test_every_job_ran_as_a_slurm_job_and_completed(slurm_run):
    workdir, output, wall = slurm_run
    run_id = re.search(r"SLURM run ID: (\S+)", output).group(1)
    submitted = _submissions(output)
    acct = _sacct(run_id)
    print(
        f"{len(submitted)} SLURM jobs in {wall:.0f} s; states: {acct['state'].value_counts().to_dict()}"
    )
    assert len(submitted) >= 20
    assert set(acct["jobid"]) == set(submitted)
    assert (acct["state"] == "COMPLETED").all(), acct[acct["state"] != "COMPLETED"]
    assert (acct["account"] == "ci").all() and (acct["partition"] == "debug").all()
    # group jobs were used: several scoring jobs per SLURM job
    assert any(where.startswith("group_score_") for where in submitted.values())


def test_gpus_go_to_model_running_rules_only(slurm_run):
    workdir, output, _ = slurm_run
    run_id = re.search(r"SLURM run ID: (\S+)", output).group(1)
    where = _submissions(output)
    acct = _sacct(run_id).set_index("jobid")
    for jobid, name in where.items():
        rule = name.removeprefix("rule_")
        # a group job's log folder is group_<group>_<its rules>, e.g. group_score_losses_tokens
        wants_gpu = rule in GPU_RULES or name.startswith("group_score_")
        tres = acct.loc[jobid, "alloc_tres"]
        if wants_gpu:
            assert "gres/gpu:h100=1" in tres, (name, tres)  # one GPU, even for a group of four
        else:
            assert "gres/gpu" not in tres, (name, tres)
    # the grouped rules never ran as lone jobs, and everything else never ran inside a group
    assert not {f"rule_{r}" for r in GROUPED_RULES} & set(where.values())


def _tables(workdir: Path) -> dict[str, Path]:
    return {
        str(p.relative_to(workdir)): p
        for p in sorted((workdir / "results").rglob("*.tsv"))
        if "benchmarks" not in p.parts and p.parent.name != "report"
    }


def test_outputs_equal_a_local_run(slurm_run, smoke_run):
    workdir = slurm_run[0]
    local, remote = _tables(smoke_run), _tables(workdir)
    assert set(remote) == set(local) and len(local) >= 10
    for name, path in local.items():
        a = pd.read_csv(path, sep="\t")
        b = pd.read_csv(remote[name], sep="\t")
        assert list(a.columns) == list(b.columns) and len(a) == len(b), name
        for col in a.columns:
            if VOLATILE.search(col):
                continue
            if pd.api.types.is_numeric_dtype(a[col]):
                np.testing.assert_allclose(
                    b[col], a[col], rtol=1e-5, atol=1e-7, err_msg=f"{name}:{col}"
                )
            else:
                assert a[col].astype(str).tolist() == b[col].astype(str).tolist(), f"{name}:{col}"
    arrays = sorted(p.relative_to(smoke_run) for p in (smoke_run / "results").rglob("*.npy"))
    assert arrays
    for rel in arrays:
        np.testing.assert_allclose(
            np.load(workdir / rel), np.load(smoke_run / rel), rtol=1e-5, atol=1e-6
        )
