"""Compute jobs go offline when their script imports _helpers, before any Hugging Face import (the
libraries read HF_HUB_OFFLINE once, at import); the rules that may use the network are listed once."""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pytest
from conftest import ROOT

import _helpers

SCRIPTS = sorted((ROOT / "workflow_scripts").glob("[!_]*.py"))
HF_MODULES = ("transformers", "huggingface_hub", "datasets", "tokenizers")


def _imports(path):
    """Top-level imported module names of a script, in order."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_network_rules_are_the_scripts_that_say_offline_false():
    online = {p.stem for p in SCRIPTS if "setup(snakemake, offline=False)" in p.read_text()}
    assert online == _helpers.NETWORK_RULES


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_helpers_come_before_any_hugging_face_or_lmtraj_import(script):
    names = _imports(script)
    assert "_helpers" in names, "every rule script starts with `from _helpers import setup`"
    before = names[: names.index("_helpers")]
    assert not [n for n in before if n.split(".")[0] in (*HF_MODULES, "lmtraj")], before


JOB = """
import sys, types
sys.path.insert(0, {scripts!r})
snakemake = types.SimpleNamespace(rule={rule!r})
import _helpers
import huggingface_hub.constants as c
print(c.HF_HUB_OFFLINE)
"""


def _offline_in_job(rule, env_value):
    env = {k: v for k, v in os.environ.items() if "OFFLINE" not in k}
    if env_value is not None:
        env["HF_HUB_OFFLINE"] = env_value
    code = JOB.format(scripts=str(ROOT / "workflow_scripts"), rule=rule)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip() == "True"


def test_a_compute_job_is_offline_whatever_it_inherits():
    assert _offline_in_job("losses_tokens", None)
    assert _offline_in_job("bigbench_score", "0")  # an inherited HF_HUB_OFFLINE=0 is overridden


def test_a_network_rule_keeps_the_users_setting():
    assert not _offline_in_job("checkpoints_fetch", None)
    # a pre-filled cache and no network: the user says so
    assert _offline_in_job("checkpoints_fetch", "1")


def test_outside_a_job_nothing_is_set():
    assert not _offline_in_job(None, None)
