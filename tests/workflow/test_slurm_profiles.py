"""The SLURM profiles agree with the workflow, without a cluster: every rule they name exists, exactly
the rules that run a model get a GPU (and nothing else does), the CI override repeats those requests,
and a dry run through the profiles shows it job by job. Unknown rule names in set-resources or
groups are silently ignored by Snakemake, so a renamed rule would otherwise lose its GPU unnoticed."""

from __future__ import annotations

import re

import pytest
import yaml
from conftest import ROOT, SMOKE_CONFIG, run_snakemake

PROFILE_KEYS_PER_GPU_RULE = {"gpu", "gpu_model", "slurm_partition", "cpus_per_gpu"}


def profile(name: str) -> dict:
    return yaml.safe_load((ROOT / "profiles" / name / "config.yaml").read_text())


def rules_declaring_gpu() -> set[str]:
    """Rules whose resources say gpu=GPU (the model-running rules), read from rules/*.smk."""
    found, current = set(), None
    for path in sorted((ROOT / "rules").glob("*.smk")):
        for line in path.read_text().splitlines():
            if m := re.match(r"^rule (\w+):", line):
                current = m.group(1)
            elif current and re.match(r"^\s+gpu=GPU,?\s*$", line):
                found.add(current)
    return found


def test_exactly_the_model_running_rules_get_one_gpu():
    slurm = profile("slurm")["set-resources"]
    assert set(slurm) == rules_declaring_gpu()
    for rule, res in slurm.items():
        assert res["gpu"] == 1, rule  # one GPU per job: gpu > 1 starts the script once per GPU
        assert set(res) == PROFILE_KEYS_PER_GPU_RULE, (
            rule
        )  # no gres next to gpu, no mem/runtime override


@pytest.mark.parametrize("name", ["slurm", "slurm-ci"])
def test_model_jobs_get_their_gpus_cpus_as_threads(name):
    """The rules declare one thread (a laptop's best); on a cluster each model job's torch threads are
    the CPUs its GPU job gets (the CI cluster's too: torch's results depend on its thread count)."""
    slurm = profile(name)
    assert set(slurm["set-threads"]) == rules_declaring_gpu()
    for rule, threads in slurm["set-threads"].items():
        assert threads == slurm["set-resources"][rule]["cpus_per_gpu"], rule


def test_ci_profile_repeats_the_gpu_requests_and_groups():
    slurm, ci = profile("slurm"), profile("slurm-ci")
    assert set(ci["set-resources"]) == set(slurm["set-resources"])
    for rule, res in slurm["set-resources"].items():
        assert set(ci["set-resources"][rule]) == set(res), rule
        assert ci["set-resources"][rule]["gpu"] == res["gpu"], rule
    assert (
        set(ci["group-components"])
        == set(slurm["group-components"])
        == set(slurm["groups"].values())
    )
    assert {"slurm_partition", "slurm_account", "mem_mb", "runtime"} <= set(ci["default-resources"])


def test_grouped_rules_run_models_and_agree_on_string_resources():
    slurm = profile("slurm")
    grouped = set(slurm["groups"])
    assert grouped <= set(slurm["set-resources"])
    # Snakemake refuses a group whose members differ in a string resource (partition, GPU model).
    for key in ("gpu_model", "slurm_partition"):
        assert len({slurm["set-resources"][r][key] for r in grouped}) == 1, key
    # one GPU per group job, members one after another
    assert slurm["resources"] == {"gpu": 1} and slurm["set-resource-scopes"] == {"gpu": "local"}


def test_every_rule_named_in_the_profiles_exists(tmp_path):
    rules = set(
        run_snakemake(["--list-rules", "--configfile", str(SMOKE_CONFIG)], tmp_path).stdout.split()
    )
    for name in ("slurm", "slurm-ci"):
        named = set(profile(name).get("set-resources", {})) | set(profile(name).get("groups", {}))
        assert named <= rules, (name, named - rules)


def test_dry_run_through_the_profiles_requests_gpus_only_for_model_rules(tmp_path):
    proc = run_snakemake(
        [
            "-n",
            "--configfile",
            str(SMOKE_CONFIG),
            "--workflow-profile",
            "none",
            "--profile",
            str(ROOT / "profiles/slurm"),
            "--profile",
            str(ROOT / "profiles/slurm-ci"),
        ],
        tmp_path,
    )
    gpu_rules = rules_declaring_gpu()
    seen: dict[str, set[str]] = {}
    in_group, grouped_members = False, set()
    rule = None
    for line in proc.stdout.splitlines():
        if line.endswith("Group job score (jobs in lexicogr. order):"):
            in_group = True
        elif re.match(r"^\[.*\]$", line):
            in_group = False  # a top-level job starts
        elif m := re.match(r"^\s*(?:local)?rule (\w+):$", line):
            rule = m.group(1)
            if in_group:
                grouped_members.add(rule)
        elif rule and (m := re.match(r"^\s+resources: (.*)$", line)):
            gpu = re.search(r"\bgpu=(\d+)", m.group(1))
            seen.setdefault(rule, set()).add(gpu.group(1) if gpu else "0")
    assert gpu_rules & set(seen), "no model-running job in the dry run"
    for name, gpus in seen.items():
        assert gpus == ({"1"} if name in gpu_rules else {"0"}), (name, gpus)
    assert grouped_members == set(profile("slurm")["groups"])
