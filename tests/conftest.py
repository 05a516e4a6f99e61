"""Shared fixtures: lmtraj on sys.path, a tiny random GPT-NeoX, and one completed smoke run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow_scripts"))
# No HF_HUB_OFFLINE here: the workflow runs the tests start inherit this environment, and their jobs must
# go offline by themselves, as on a compute node without network (workflow_scripts/_helpers.py).
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SNAKEMAKE = [sys.executable, "-m", "snakemake"]
SMOKE_CONFIG = ROOT / "config" / "smoke.yaml"


def snakemake_cmd(args: list[str], workdir: Path) -> list[str]:
    """The command line that runs this repo's workflow in `workdir` (outputs never land in the checkout)."""
    return [*SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--directory", str(workdir), *args]


@pytest.fixture(autouse=True, scope="session")
def hub_offline_in_this_process():
    """The tests' own hub calls (fake caches, tests/hubcache.py) never reach the network: the flag that
    huggingface_hub and transformers read at call time, not the environment."""
    from huggingface_hub import constants

    saved = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    yield
    constants.HF_HUB_OFFLINE = saved


def pytest_collection_modifyitems(config, items):
    """Everything under tests/workflow/ runs the workflow end to end: slow (`pytest tests/unit` or
    `-m "not slow"` is the quick check)."""
    workflow_dir = ROOT / "tests" / "workflow"
    for item in items:
        if workflow_dir in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)


def run_snakemake(
    args: list[str],
    workdir: Path,
    timeout: int = 900,
    check: bool = True,
    env: dict | None = None,
    prefix: tuple[str, ...] = (),
    cwd: Path | None = None,
):
    """Run the workflow in `workdir` (`prefix`: a wrapper such as `timeout -k 30 2400`)."""
    cmd = [*prefix, *snakemake_cmd(args, workdir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=cwd)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"snakemake failed ({proc.returncode}): {' '.join(cmd)}\n"
            f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-12000:]}"
        )
    return proc


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """One complete run of config/smoke.yaml, shared by every end-to-end test of the session."""
    workdir = tmp_path_factory.mktemp("smoke")
    run_snakemake(["--configfile", str(SMOKE_CONFIG), "--cores", "2"], workdir, timeout=1800)
    return workdir


def tiny_neox(vocab_size: int = 97, seed: int = 0, hidden: int = 32, positions: int = 64, **config):
    """A random 2-layer GPT-NeoX in eval mode: the tiny model every model-running unit test uses."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    torch.manual_seed(seed)
    cfg = GPTNeoXConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=2 * hidden,
        max_position_embeddings=positions,
        **config,
    )
    cfg._attn_implementation = "sdpa"
    return GPTNeoXForCausalLM(cfg).eval()


@pytest.fixture
def tiny_model():
    return tiny_neox()


def text_tokenizer(texts: list[str], vocab_size: int):
    """A byte-level BPE trained on the corpus fixture's first 20,000 characters plus `texts` (repeated,
    so their characters and words get tokens of their own): real merges on hand-built texts."""
    from lmtraj.tokenizer import train_bpe

    corpus = (ROOT / "tests/fixtures/corpus/hamlet_acts_1-2.txt").read_text()[:20000]
    return train_bpe([corpus, *texts * 20], vocab_size)


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst


def dry_run_jobs(workdir: Path, config: dict, tmp_path: Path) -> dict[str, int]:
    """Rule name -> job count that `snakemake -n` would run in `workdir` with `config`."""
    import yaml

    configfile = tmp_path / "edited.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    proc = run_snakemake(
        ["-n", "--quiet", "rules", "--configfile", str(configfile), "--cores", "2"], workdir
    )
    jobs: dict[str, int] = {}
    lines = proc.stdout.splitlines()
    if "Job stats:" in lines:
        for line in lines[lines.index("Job stats:") + 3 :]:
            parts = line.split()
            if len(parts) != 2 or parts[0] == "total":
                break
            jobs[parts[0]] = int(parts[1])
    return jobs


def smoke_config() -> dict:
    import yaml

    return yaml.safe_load(SMOKE_CONFIG.read_text())
