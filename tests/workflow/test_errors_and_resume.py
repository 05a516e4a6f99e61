"""Bad input fails fast, names the culprit and leaves no partial output; an interrupted run resumes."""

import copy
import re
import shutil
import signal
import subprocess
import time

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import ROOT, run_snakemake, smoke_config, snakemake_cmd

from lmtraj.checkpoints.model import ModelShape, build_model
from lmtraj.checkpoints.storage import save_checkpoint
from lmtraj.tokenizer import save_tokenizer, train_bpe

FIXTURES = ROOT / "tests" / "fixtures" / "corpus"
ANALYSES_OFF = {
    stage: {"enabled": False} for stage in ("trends", "generation", "bigbench", "regression")
}


def write_config(tmp_path, config):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def failing(workdir, configfile, *args):
    proc = run_snakemake(
        ["--configfile", str(configfile), "--cores", "2", *args], workdir, check=False
    )
    assert proc.returncode != 0
    return proc.stdout + proc.stderr


@pytest.mark.parametrize(
    "edit, culprit",
    [
        (lambda c: c["losses"].update(windowing=3), "windowing"),
        (lambda c: c["training"].update(steps="many"), "many"),
        (lambda c: c["models"]["tiny-16x2"].pop("n_heads"), "models.tiny-16x2 .*n_heads"),
        (lambda c: c["models"].update({"Bad Name": {"source": "train"}}), "Bad Name"),
    ],
)
def test_config_errors_name_the_key(tmp_path, edit, culprit):
    config = smoke_config()
    edit(config)
    out = failing(tmp_path, write_config(tmp_path, config), "-n")
    assert re.search(culprit, out), out[-3000:]


def test_empty_corpus_is_named_and_writes_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "blank.txt").write_text("\n\n  \n")
    config = smoke_config() | ANALYSES_OFF
    config["corpus"]["source"] = {"kind": "files", "paths": [str(tmp_path / "empty")]}
    out = failing(tmp_path / "run", write_config(tmp_path, config))
    assert "blank.txt" in out or str(tmp_path / "empty") in out
    assert not (tmp_path / "run" / "results" / "corpus" / "valid_documents.jsonl").exists()


@pytest.fixture(scope="module")
def local_suite(tmp_path_factory):
    """A suite of local checkpoint folders sharing a tokenizer saved on disk."""
    root = tmp_path_factory.mktemp("local")
    tok = train_bpe([p.read_text() for p in sorted(FIXTURES.glob("*.txt"))], 400)
    save_tokenizer(tok, root / "tokenizer")
    for step in (0, 10):
        model = build_model(ModelShape(16, 1, 2, 64, len(tok)), tok.eos_token_id, seed=step)
        save_checkpoint(model, root / "run" / f"step{step}", {"step": step})
    config = smoke_config() | ANALYSES_OFF
    config["jobs"] = {"checkpoints_per_job": 1}
    config["tokenizer"] = {"source": "local", "path": str(root / "tokenizer")}
    config["models"] = {
        "local-16x1": {
            "source": "local",
            "path_template": str(root / "run" / "step{step}"),
            "steps": [0, 10],
            "tokens_per_step": 1000,
        }
    }
    return root, tok, config


def test_local_checkpoints_run_and_missing_or_corrupt_ones_are_named(tmp_path, local_suite):
    root, tok, config = local_suite
    run_snakemake(
        ["--configfile", str(write_config(tmp_path, config)), "--cores", "2"], tmp_path / "ok"
    )
    table = pd.read_csv(tmp_path / "ok/results/losses/checkpoints.tsv", sep="\t")
    assert table["step"].tolist() == [0, 10] and (table["tokens_seen"] == [0, 10000]).all()

    missing = copy.deepcopy(config)
    missing["models"]["local-16x1"]["steps"] = [0, 10, 20]
    out = failing(tmp_path / "missing", write_config(tmp_path, missing), "-n")
    assert str(root / "run" / "step20") in out

    corrupt_root = tmp_path / "corrupt"
    shutil.copytree(root / "run", corrupt_root)
    weights = corrupt_root / "step10" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    bad = copy.deepcopy(config)
    bad["models"]["local-16x1"]["path_template"] = str(corrupt_root / "step{step}")
    out = failing(tmp_path / "bad", write_config(tmp_path, bad), "--keep-going")
    assert "cannot load model 'local-16x1' step 10" in out
    assert not (tmp_path / "bad/results/losses/local-16x1/steps10-10").exists()
    assert (tmp_path / "bad/results/losses/local-16x1/steps0-0/step0.npy").exists()


def test_a_checkpoint_with_another_tokenizer_is_named(tmp_path, local_suite):
    root, tok, config = local_suite
    other = train_bpe([(FIXTURES / "ruth.txt").read_text()], 400)
    folder = tmp_path / "other" / "step0"
    save_checkpoint(
        build_model(ModelShape(16, 1, 2, 64, len(other)), other.eos_token_id, 0), folder, {}
    )
    save_tokenizer(other, tmp_path / "other-tok")
    for f in (tmp_path / "other-tok").iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    config = copy.deepcopy(config)
    config["models"]["other-16x1"] = {
        "source": "local",
        "path_template": str(tmp_path / "other" / "step{step}"),
        "steps": [0],
        "tokens_per_step": 1,
    }
    out = failing(tmp_path / "run", write_config(tmp_path, config))
    assert "other-16x1 (different tokenizer)" in out
    assert not (
        tmp_path / "run/results/losses/local-16x1"
    ).exists()  # nothing scored before the check


@pytest.mark.slow
def test_interrupted_run_resumes_and_reproduces_the_tables(smoke_run, tmp_path):
    workdir = tmp_path / "resumed"
    cmd = snakemake_cmd(
        [
            "--configfile",
            str(ROOT / "config/smoke.yaml"),
            "--cores",
            "2",
            "results/losses/checkpoints.tsv",
        ],
        workdir,
    )
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = workdir / "results/checkpoints/tiny-16x2/train_history.tsv"
    deadline = time.monotonic() + 600
    while not first.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    proc.send_signal(signal.SIGINT)  # Ctrl-C
    proc.wait(timeout=300)
    assert first.exists()
    jobs = run_snakemake(
        ["results/losses/checkpoints.tsv", "-n", "--configfile", str(ROOT / "config/smoke.yaml")],
        workdir,
    ).stdout
    assert "corpus_prepare" not in jobs  # finished jobs are kept
    run_snakemake(
        [
            "--configfile",
            str(ROOT / "config/smoke.yaml"),
            "--cores",
            "2",
            "results/losses/checkpoints.tsv",
        ],
        workdir,
    )
    for name in ("results/losses/checkpoints.tsv",):
        pd.testing.assert_frame_equal(
            pd.read_csv(workdir / name, sep="\t"), pd.read_csv(smoke_run / name, sep="\t")
        )
    for model in smoke_config()["models"]:
        path = f"results/losses/{model}/trajectory.npy"
        np.testing.assert_array_equal(np.load(workdir / path), np.load(smoke_run / path))
