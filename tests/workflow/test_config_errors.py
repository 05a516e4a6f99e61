"""Mistakes that a job would find only after minutes of work (or never) stop the run when the DAG is
built: the message names the key and the value, and nothing is written under results/.

Each case is a real run (not a dry run), so a check that did not fire would let corpus_prepare and the
training start and write results/.
"""

from __future__ import annotations

import pytest
import yaml
from conftest import run_snakemake, smoke_config

pytestmark = pytest.mark.slow


def _models(config, n_heads):
    config["models"]["tiny-32x2"]["n_heads"] = n_heads


def _stride(config, stride):
    config["losses"]["scoring"]["stride"] = stride  # context 64


def _lengths(config, lengths):
    config["generation"]["max_new_tokens"] = lengths  # 5 prompt tokens, 64 positions


def _tasks(config, tasks):
    config["bigbench"]["tasks"] = tasks


def _paths(config, paths):
    config["corpus"]["source"]["paths"] = paths


def _whole_files(config, valid):
    config["corpus"].update(chunk_chars=0, valid_documents=valid)  # 6 fixture files


CASES = {
    "heads": (_models, 3, ["models.tiny-32x2.n_heads=3", "models.tiny-32x2.d_model=32"]),
    "stride": (_stride, 64, ["losses.scoring.stride=64", "[1, 63]"]),
    "max_new_tokens": (_lengths, [16, 100], ["generation.max_new_tokens=[16, 100]", "105 tokens"]),
    "bigbench_task": (
        _tasks,
        ["nonsense_words_grammar", "no_such_task"],
        ["bigbench.tasks", "'no_such_task'"],
    ),
    "corpus_path": (
        _paths,
        ["tests/fixtures/corpus", "tests/fixtures/no_such_corpus"],
        ["corpus.source.paths: tests/fixtures/no_such_corpus does not exist"],
    ),
    "valid_documents": (_whole_files, 6, ["corpus.valid_documents=6", "gives at most 6"]),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_when_the_dag_is_built(case, tmp_path):
    edit, value, expected = CASES[case]
    config = smoke_config()
    edit(config, value)
    configfile = tmp_path / "config.yaml"
    configfile.write_text(yaml.safe_dump(config, sort_keys=False))
    workdir = tmp_path / "run"
    proc = run_snakemake(["--configfile", str(configfile), "--cores", "2"], workdir, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-3000:]
    for text in expected:
        assert text in out, out[-3000:]
    assert "problem(s) in the config, found before running any job" in out
    assert not (workdir / "results").exists()
    assert not (workdir / "logs").exists()
