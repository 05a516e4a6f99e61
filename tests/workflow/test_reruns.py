"""Editing one stage's setting reruns that stage and what depends on it, nothing upstream."""

import copy

from conftest import dry_run_jobs, smoke_config

from lmtraj.checkpoints import suite

UPSTREAM_OF_LOSSES = ("corpus_", "checkpoints_")


def n_blocks(config):
    t = config["training"]
    grid = suite.checkpoint_grid(t["steps"], t["checkpoint_every"])
    return len(suite.blocks(grid, config["jobs"]["checkpoints_per_job"])) * len(config["models"])


def test_unchanged_config_has_nothing_to_do(smoke_run, tmp_path):
    assert dry_run_jobs(smoke_run, smoke_config(), tmp_path) == {}


def test_scoring_setting_reruns_losses_and_downstream_only(smoke_run, tmp_path):
    config = smoke_config()
    edited = copy.deepcopy(config)
    edited["losses"]["scoring"]["stride"] = 16
    jobs = dry_run_jobs(smoke_run, edited, tmp_path)
    assert jobs["losses_tokens"] == n_blocks(config)
    assert jobs["losses_trajectory"] == len(config["models"])
    assert {"losses_checkpoints", "losses_plot"} <= set(jobs)
    assert not [rule for rule in jobs if rule.startswith(UPSTREAM_OF_LOSSES)]
    assert "losses_index" not in jobs  # the token index does not depend on the windowing


def test_training_setting_retrains_but_keeps_the_corpus(smoke_run, tmp_path):
    edited = smoke_config()
    edited["training"]["lr"] = 0.001
    jobs = dry_run_jobs(smoke_run, edited, tmp_path)
    assert jobs["checkpoints_train"] == len(edited["models"])
    assert not [rule for rule in jobs if rule.startswith("corpus_")]
