"""DAG-time config checks (lmtraj.config_checks): each mistake is found with its key and value, and the
shipped configs (as they are) raise nothing."""

from __future__ import annotations

import copy
import json

import pytest
import yaml
from conftest import ROOT, SMOKE_CONFIG

from lmtraj import config_checks
from lmtraj.corpus.cleaning import clean_text, decode_bytes
from lmtraj.corpus.split import chunk_text
from lmtraj.errors import ConfigError
from lmtraj.families.suites import family_configs

SCHEMA = ROOT / "schemas" / "config.schema.yaml"
FIXTURE_CORPUS = ROOT / "tests" / "fixtures" / "corpus"


def filled(config: dict) -> dict:
    """The config as rules/common.smk sees it: schema defaults filled in."""
    from snakemake.utils import validate

    config = copy.deepcopy(config)
    validate(config, str(SCHEMA), set_default=True)
    return config


def problems(config: dict) -> list[str]:
    return config_checks.config_problems(filled(config), ROOT)


@pytest.fixture
def smoke() -> dict:
    return yaml.safe_load(SMOKE_CONFIG.read_text())


@pytest.mark.parametrize(
    "path", [ROOT / "config.yaml", *sorted((ROOT / "config").glob("*.yaml"))], ids=lambda p: p.name
)
def test_shipped_configs_pass(path):
    config = yaml.safe_load(path.read_text())
    if "families" in config:  # a run of several suites: each family's suite, as the stage builds it
        for name, suite in family_configs(config["families"], ROOT).items():
            assert problems(suite) == [], name
        return
    assert problems(config) == []


def test_heads_that_do_not_divide_the_width(smoke):
    smoke["models"]["tiny-32x2"]["n_heads"] = 3
    (found,) = problems(smoke)
    assert "models.tiny-32x2.n_heads=3" in found and "models.tiny-32x2.d_model=32" in found
    smoke["models"]["tiny-32x2"]["n_heads"] = 8
    assert problems(smoke) == []


@pytest.mark.parametrize("stride, bad", [(64, True), (100, True), (63, False), (1, False)])
def test_stride_must_leave_left_context(smoke, stride, bad):
    smoke["losses"]["scoring"]["stride"] = stride  # context 64
    found = problems(smoke)
    assert bool(found) == bad
    if bad:
        assert f"losses.scoring.stride={stride}" in found[0] and "[1, 63]" in found[0]


def test_scoring_window_longer_than_the_trained_context(smoke):
    smoke["losses"]["scoring"]["context"] = 128  # training.context 64
    found = problems(smoke)
    assert found and all("losses.scoring.context=128" in p for p in found)
    assert {p.split("model ")[1].split()[0] for p in found} == {"'tiny-16x2'", "'tiny-32x2'"}


@pytest.mark.parametrize("longest, bad", [(60, True), (59, False)])
def test_generated_text_must_fit_every_models_context(smoke, longest, bad):
    # 5 prompt tokens + the longest generation against 64 positions
    smoke["generation"]["max_new_tokens"] = [16, longest]
    found = problems(smoke)
    assert bool(found) == bad
    if bad:
        assert f"generation.max_new_tokens=[16, {longest}]" in found[0]
        assert f"{5 + longest} tokens exceed the 64 positions" in found[0]


def test_generation_is_not_checked_when_off(smoke):
    smoke["generation"] = {"enabled": False, "max_new_tokens": [500]}
    assert problems(smoke) == []


def test_unknown_bigbench_task_per_source(smoke):
    smoke["bigbench"]["tasks"] = ["nonsense_words_grammar", "no_such_task"]
    (found,) = problems(smoke)
    assert "bigbench.tasks" in found and "'no_such_task'" in found and "data/bigbench" in found
    # a real task that the bundled tasks do not hold, and that the sdist does
    smoke["bigbench"]["tasks"] = ["simple_ethical_questions"]
    assert "'simple_ethical_questions'" in problems(smoke)[0]
    smoke["bigbench"]["source"] = "sdist"
    assert problems(smoke) == []
    smoke["bigbench"]["tasks"] = ["simple_ethical_question"]  # a typo
    assert "'simple_ethical_question'" in problems(smoke)[0]


def test_local_bigbench_folder(smoke, tmp_path):
    smoke["bigbench"].update(source="local", local_dir=str(tmp_path / "nowhere"))
    assert "bigbench.local_dir=" in problems(smoke)[0]
    tasks = tmp_path / "checkout" / "bigbench" / "benchmark_tasks"
    for name in smoke["bigbench"]["tasks"]:
        (tasks / name).mkdir(parents=True)
        (tasks / name / "task.json").write_text("{}")
    smoke["bigbench"]["local_dir"] = str(tmp_path / "checkout")
    assert problems(smoke) == []
    smoke["bigbench"]["tasks"].append("missing_task")
    assert "'missing_task'" in problems(smoke)[0]


def test_missing_corpus_path_is_named(smoke, tmp_path):
    smoke["corpus"]["source"]["paths"] = ["tests/fixtures/corpus", "tests/fixtures/no_such_folder"]
    (found,) = problems(smoke)
    assert "corpus.source.paths: tests/fixtures/no_such_folder does not exist" in found
    (tmp_path / "empty").mkdir()
    smoke["corpus"]["source"]["paths"] = [str(tmp_path / "empty")]
    assert "holds no *.txt file" in problems(smoke)[0]


def _heldout(config: dict, valid: int) -> dict:
    """valid_documents = valid and one chunk for each other held-out set the schema has."""
    config["corpus"]["valid_documents"] = valid
    for key in config_checks.HELDOUT_KEYS[1:]:
        config["corpus"][key] = 1
    return config


def test_more_held_out_documents_than_whole_files(smoke):
    smoke["corpus"]["chunk_chars"] = 0  # six fixture files: six documents, one of them for training
    others = len(config_checks.HELDOUT_KEYS) - 1
    assert problems(_heldout(smoke, 6 - 1 - others)) == []
    (found,) = problems(_heldout(smoke, 6 - others))
    assert f"corpus.valid_documents={6 - others}" in found and "at most 6" in found
    assert "1 for training" in found


def test_chunk_bound_is_never_below_the_real_chunk_count():
    files = sorted(FIXTURE_CORPUS.glob("*.txt"))
    sizes = [f.stat().st_size for f in files]
    texts = [clean_text(decode_bytes(f.read_bytes())) for f in files]
    for chunk_chars in (0, 3, 50, 500, 2000, 6000, 100_000):
        real = sum(len(chunk_text(t, chunk_chars)) for t in texts)
        bound = config_checks.most_chunks({"kind": "files"}, chunk_chars, sizes)
        assert real <= bound, (chunk_chars, real, bound)
    # and tight enough to catch a config asking for far too much
    assert config_checks.most_chunks({"kind": "files"}, 6000, sizes) < 200


def test_whole_documents_of_registry_and_datasets_are_counted(smoke):
    config = filled(smoke)
    config["corpus"].update(
        source={"kind": "registry", "packages": ["austen"]}, chunk_chars=0, valid_documents=6
    )
    assert "at most 6" in config_checks.corpus_problems(config, ROOT)[0]
    config["corpus"]["source"] = {
        "kind": "hf_dataset",
        "path": "x",
        "split": "v",
        "max_documents": 9,
    }
    assert "at most 9" in config_checks.corpus_problems(config, ROOT)[0]
    config["corpus"]["source"]["max_documents"] = None  # unknown without reading the dataset
    assert config_checks.corpus_problems(config, ROOT) == []
    config["corpus"].update(source={"kind": "registry", "packages": ["austen"]}, chunk_chars=6000)
    assert config_checks.corpus_problems(config, ROOT) == []  # chunks of a registry: not counted


def test_hub_and_local_contexts_come_from_cached_config_files(smoke, tmp_path):
    """A hub model's config.json in the Hugging Face cache (try_to_load_from_cache) and a local
    checkpoint's own config.json give its context; a model not cached yet is left to the jobs."""
    from hubcache import add_revision

    cache = tmp_path / "hub"
    repo_dir = cache / "models--org--tiny"
    add_revision(repo_dir, "org/tiny", "step8", {"config.json": b'{"max_position_embeddings": 48}'})
    local = tmp_path / "run" / "step8"
    local.mkdir(parents=True)
    (local / "config.json").write_text(json.dumps({"n_positions": 40}))
    smoke["hub"] = {"cache_dir": str(cache), "on_defect": "stop"}
    entry = {"steps": [0, 8], "tokens_per_step": 10}
    smoke["models"] = {
        "hub": {"source": "hf", "repo": "org/tiny", **entry},
        "local": {
            "source": "local",
            "path_template": str(tmp_path / "run" / "step{step}"),
            **entry,
        },
        "uncached": {"source": "hf", "repo": "org/elsewhere", **entry},
    }
    smoke["tokenizer"] = {"source": "local", "path": str(tmp_path)}
    contexts = config_checks.model_contexts(filled(smoke), ROOT)
    assert {m: c for m, (c, _) in contexts.items()} == {"hub": 48, "local": 40}
    smoke["generation"]["max_new_tokens"] = [36]  # 5 + 36 = 41: too long for the local model only
    (found,) = [p for p in problems(smoke) if "generation" in p]
    assert "model 'local'" in found and "40 positions" in found


def test_check_config_lists_every_problem_at_once(smoke):
    smoke["models"]["tiny-16x2"]["n_heads"] = 3
    smoke["losses"]["scoring"]["stride"] = 64
    with pytest.raises(ConfigError, match=r"2 problem\(s\)") as err:
        config_checks.check_config(filled(smoke), ROOT)
    assert "n_heads=3" in str(err.value) and "stride=64" in str(err.value)
