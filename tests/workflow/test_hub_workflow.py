"""A Pythia-style hub suite end to end, offline: two model "sizes" in an on-disk Hugging Face cache
(tests/hubcache.py) with one defective revision, fetched by checkpoints_fetch and loaded by every
stage through the real `from_pretrained(repo, revision=..., cache_dir=...)` path.

The network rules (checkpoints_fetch, corpus_tokenizer) get HF_HUB_OFFLINE=1 as their stand-in for a
network that knows the fake repos; every other job runs with no offline variable in its environment and
a recording stand-in for the hub's endpoint, which must see no request: the jobs go offline by
themselves, as on a compute node without network.

Also: the integrity policy `stop` fails naming the duplicate, and adding one revision to the config
makes `snakemake -n` plan only that revision's jobs plus the merges, tables and figures downstream.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import run_snakemake, smoke_config
from hubcache import build_hub_cache, offline_env, recording_hub

pytestmark = pytest.mark.slow

REPO_A = "EleutherAI/pythia-tiny-a"
REPO_B = "EleutherAI/pythia-tiny-b"
CACHED_STEPS = (0, 1, 2, 4, 8)  # revisions in the fake cache
RUN_STEPS = [0, 1, 2, 8]  # revisions in the run's config; step 4 is added later
TOKENS_PER_STEP = 2048


def hub_config(cache_dir, steps=RUN_STEPS, on_defect="skip") -> dict:
    """The smoke config with its trained models replaced by a Pythia-like hub suite."""
    config = smoke_config()
    config["hub"] = {"cache_dir": str(cache_dir), "on_defect": on_defect}
    config["jobs"]["checkpoints_per_job"] = 1  # as config/pythia.yaml
    config["tokenizer"] = {"source": "hf", "repo": REPO_A, "revision": "main"}
    entry = {"source": "hf", "steps": list(steps), "tokens_per_step": TOKENS_PER_STEP}
    config["models"] = {
        "tiny-a": {**entry, "repo": REPO_A},
        "tiny-b": {**entry, "repo": REPO_B},
    }
    return config


def write_config(path, config) -> str:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


@pytest.fixture(scope="module")
def fake_cache(tmp_path_factory):
    assert "HF_HUB_OFFLINE" not in os.environ, "the jobs, not the tests, must set it"
    cache = tmp_path_factory.mktemp("hub") / "cache"
    # tiny-a's step2 branch serves step8's weights (Pythia #205); tiny-b is clean and twice as wide.
    build_hub_cache(cache, repo_id=REPO_A, steps=CACHED_STEPS, duplicates={2: 8})
    build_hub_cache(
        cache,
        repo_id=REPO_B,
        steps=CACHED_STEPS,
        seed=1,
        shape={"hidden_size": 64, "intermediate_size": 128},
    )
    return cache


def network_targets(steps=RUN_STEPS) -> list[str]:
    """The outputs of the rules that may use the network (_helpers.NETWORK_RULES) in the hub run."""
    manifests = [
        f"results/checkpoints/{m}/hub/step{s}.json" for m in ("tiny-a", "tiny-b") for s in steps
    ]
    return [*manifests, "results/corpus/tokenizer"]


@pytest.fixture(scope="module")
def hub_run_requests(fake_cache, tmp_path_factory):
    """The finished hub run and the requests its compute jobs sent to the hub's endpoint."""
    workdir = tmp_path_factory.mktemp("hub-run")
    configfile = write_config(workdir / "hub.yaml", hub_config(fake_cache))
    args = ["--configfile", configfile, "--cores", "2"]
    run_snakemake([*args, *network_targets()], workdir, env=offline_env())
    with recording_hub() as hub:
        run_snakemake(args, workdir, timeout=1800, env=hub.env())
    return workdir, list(hub.requests)


@pytest.fixture(scope="module")
def hub_run(hub_run_requests):
    return hub_run_requests[0]


def test_compute_jobs_stay_off_the_network_by_themselves(hub_run_requests):
    workdir, requests = hub_run_requests
    assert (workdir / "results/losses/checkpoints.tsv").exists()
    assert requests == [], requests


def test_the_recording_endpoint_sees_a_job_that_is_not_offline(fake_cache):
    """The control: a process without the offline switch that asks the hub reaches the recorder."""
    code = (
        "from huggingface_hub import hf_hub_download\n"
        "try:\n"
        f"    hf_hub_download({REPO_A!r}, 'config.json', revision='step1')\n"
        "except Exception:\n"
        "    pass\n"
    )
    with recording_hub() as hub:
        subprocess.run([sys.executable, "-c", code], env=hub.env(), timeout=120, check=True)
    assert any("pythia-tiny-a" in r for r in hub.requests), hub.requests


def test_integrity_table_flags_the_duplicate_and_nothing_else(hub_run):
    table = pd.read_csv(hub_run / "results/checkpoints/integrity.tsv", sep="\t")
    status = {
        (m, s): st for m, s, st in zip(table["model"], table["step"], table["status"], strict=True)
    }
    assert status == {
        **{("tiny-a", s): "ok" for s in (0, 1, 8)},
        ("tiny-a", 2): "duplicate_of:tiny-a@step8",
        **{("tiny-b", s): "ok" for s in RUN_STEPS},
    }
    assert (table["n_weight_files"] == 1).all()


def test_manifests_record_commit_files_and_hashes(hub_run, fake_cache):
    from safetensors.torch import load_file

    manifest = pd.read_csv(hub_run / "results/checkpoints/tiny-a/manifest.tsv", sep="\t")
    assert sorted(manifest["step"].unique()) == RUN_STEPS
    weights = manifest[manifest["file"].eq("model.safetensors")].set_index("step")
    assert weights.loc[2, "sha256"] == weights.loc[8, "sha256"] != weights.loc[1, "sha256"]
    assert (weights["tokens"] == weights.index * TOKENS_PER_STEP).all()
    ref = (fake_cache / "models--EleutherAI--pythia-tiny-a" / "refs" / "step1").read_text()
    assert weights.loc[1, "commit"] == ref
    # the hash is the file's: the cached blob of step1's weights loads and hashes to it
    blob = fake_cache / "models--EleutherAI--pythia-tiny-a" / "blobs" / weights.loc[1, "sha256"]
    assert "embed_out.weight" in load_file(blob)


def test_flagged_duplicate_is_skipped_and_the_rest_scored_through_their_own_revision(hub_run):
    """Step 2 serves step 8's bytes (hub.on_defect: skip): it is left out of scoring and of the
    checkpoint table, and every other revision is scored with its own weights."""

    def nll(model, step):
        return np.load(hub_run / f"results/losses/{model}/steps{step}-{step}/step{step}.npy")

    assert not (hub_run / "results/losses/tiny-a/steps2-2/step2.npy").exists()
    a = {s: nll("tiny-a", s) for s in RUN_STEPS if s != 2}
    b = {s: nll("tiny-b", s) for s in RUN_STEPS}
    assert len({v.tobytes() for v in a.values()}) == len(a)
    assert len({v.tobytes() for v in b.values()}) == len(RUN_STEPS)
    assert all(np.isfinite(v).all() and v.dtype == np.float32 for v in (*a.values(), *b.values()))
    table = pd.read_csv(hub_run / "results/losses/checkpoints.tsv", sep="\t")
    assert table.loc[table["model"].eq("tiny-a"), "step"].tolist() == [0, 1, 8]
    assert table.loc[table["model"].eq("tiny-b"), "step"].tolist() == RUN_STEPS


def test_policy_stop_fails_naming_the_duplicate(fake_cache, tmp_path):
    configfile = write_config(tmp_path / "stop.yaml", hub_config(fake_cache, on_defect="stop"))
    proc = run_snakemake(
        ["--configfile", configfile, "--cores", "2", "results/checkpoints/integrity.tsv"],
        tmp_path,
        check=False,
        env=offline_env(),
    )
    assert proc.returncode != 0
    log = (tmp_path / "logs/checkpoints/checkpoints_integrity.log").read_text()
    assert (
        "1 hub checkpoint(s) failed the integrity check: tiny-a step 2 (step2): duplicate_of:tiny-a@step8"
        in log
    )
    assert not (tmp_path / "results/checkpoints/integrity.tsv").exists()


# ---- adding a revision ------------------------------------------------------------------------------
_JOB = re.compile(r"^(?:local)?rule (\w+):$")
_WILDCARDS = re.compile(r"^\s+wildcards: (.*)$")


def planned_jobs(workdir, config) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job `snakemake -n` would run with `config`, written where the run's
    config file was (report_run_info records the config files' paths, so a new path alone reruns it)."""
    configfile = write_config(workdir / "hub.yaml", config)
    proc = run_snakemake(["-n", "--configfile", configfile, "--cores", "2"], workdir)
    jobs: list[tuple[str, dict]] = []
    for line in proc.stdout.splitlines():
        if m := _JOB.match(line):
            jobs.append((m.group(1), {}))
        elif (m := _WILDCARDS.match(line)) and jobs:
            jobs[-1][1].update(kv.split("=", 1) for kv in m.group(1).split(", "))
    return jobs


def test_adding_a_revision_plans_only_its_jobs_and_the_merges(hub_run, fake_cache):
    config = hub_config(fake_cache)
    assert planned_jobs(hub_run, config) == [], "the finished run should be up to date"

    edited = copy.deepcopy(config)
    edited["models"]["tiny-a"]["steps"] = sorted(RUN_STEPS + [4])
    jobs = planned_jobs(hub_run, edited)
    rules = {rule for rule, _ in jobs}
    per_checkpoint = [(r, w) for r, w in jobs if "step" in w or "block" in w]
    assert per_checkpoint, jobs
    # every per-checkpoint job is step 4 of tiny-a: nothing else is recomputed
    for rule, wildcards in per_checkpoint:
        assert wildcards["model"] == "tiny-a", (rule, wildcards)
        assert wildcards.get("step", "4") == "4" and wildcards.get("block", "4-4") == "4-4", (
            rule,
            wildcards,
        )
    assert ("checkpoints_fetch", {"model": "tiny-a", "step": "4"}) in jobs
    assert ("losses_tokens", {"model": "tiny-a", "block": "4-4"}) in jobs
    assert ("losses_trajectory", {"model": "tiny-a"}) in jobs  # the merge of tiny-a's checkpoints
    assert {"checkpoints_integrity", "losses_checkpoints", "losses_plot"} <= rules
    # upstream of the checkpoints and the other model's per-model jobs stay as they are
    assert not [r for r in rules if r.startswith("corpus_")]
    assert "checkpoints_tokenizer_check" not in rules
    assert not [(r, w) for r, w in jobs if w.get("model") == "tiny-b"]
