"""The schema documents every key that a shipped config uses, and its defaults are the embedded default's.

As PyPSA-Eur's test_config_schema: a key that a config sets but the schema does not describe is a key a
user cannot look up; a schema default that silently differs from config.yaml is a second, drifting
"default".
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import ROOT

SCHEMA = yaml.safe_load((ROOT / "schemas" / "config.schema.yaml").read_text())
# A run of several families (config/*families*, config/pythia-olmo.yaml) has its own schema; each family's
# `set` overrides are suite keys.
FAMILIES_SCHEMA = yaml.safe_load((ROOT / "schemas" / "families.schema.yaml").read_text())
EMBEDDED = yaml.safe_load((ROOT / "config.yaml").read_text())
CONFIGS = [ROOT / "config.yaml", *sorted((ROOT / "config").glob("*.yaml"))]

# Keys whose embedded-default value differs from the schema default on purpose (the schema default
# serves hub suites and other configs that leave the key out).
DIFFERS_ON_PURPOSE = {
    "jobs.checkpoints_per_job": "laptop runs save ~4 s of imports per job; hub suites want 1",
    # The schema holds the paper's settings; the embedded default is sized to finish in minutes on
    # two cores (config.yaml says what each choice costs).
    "generation.max_new_tokens": "paper lengths 50 and 100; the default decodes 50 only",
    "generation.n_prompts": "fewer prompts on a laptop",
    "generation.corruption.n_documents": "fewer documents on a laptop",
    "bigbench.tasks": "the paper's 74 tasks vs four real tasks capped to a few examples",
    "bigbench.max_examples": "no cap in the paper",
    "bigbench.corpus_tasks.n_items": "fewer items on a laptop",
    # The embedded default's budget (15 minutes on a 2-core AVX2 machine; config.yaml's comments give
    # each choice's cost): a smaller vocabulary and schedule, a coarser scoring stride, CPU batch sizes.
    "tokenizer.vocab_size": "2048 entries: the output layer is most of a tiny model's work",
    "training.steps": "128 steps instead of 256",
    "training.batch_size": "16 sequences per update: more, smaller updates at a fixed token budget",
    "training.lr": "near the largest default model's best at its short schedule, sizes kept apart",
    "losses.scoring.stride": "stride 96 (>= 32 tokens of context) costs 29% less than 64",
    "generation.scoring.token_budget": "a smaller batch is faster on CPU for 55-token texts",
    "bigbench.scoring.token_budget": "a smaller batch is faster on CPU (measured by bench_mc_scoring)",
}


def _subschema(schema: dict, key: str) -> dict | None:
    if key in schema.get("properties", {}):
        return schema["properties"][key]
    extra = schema.get("additionalProperties")
    return extra if isinstance(extra, dict) else None


def _walk(config: dict, schema: dict, path: tuple = ()):
    """Yield (key path, value, its subschema or None) for every key of `config`; free-form maps
    (an object schema without properties, e.g. a model's `revisions`) are leaves."""
    for key, value in config.items():
        where = (*path, str(key))
        sub = _subschema(schema, key)
        yield where, value, sub
        nested = sub is not None and (
            "properties" in sub or isinstance(sub.get("additionalProperties"), dict)
        )
        if nested and isinstance(value, dict):
            yield from _walk(value, sub, where)


def _keys_and_schemas(config: dict):
    """(key path, subschema) of every key; a families config's `set` overrides are checked as suite keys."""
    if "families" not in config:
        yield from ((key, sub) for key, _, sub in _walk(config, SCHEMA))
        return
    yield from ((key, sub) for key, _, sub in _walk(config, FAMILIES_SCHEMA))
    for name, entry in config["families"].get("suites", {}).items():
        where = ("families", "suites", name, "set")
        for key, _, sub in _walk(entry.get("set") or {}, SCHEMA):
            yield (*where, *key), sub


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_key_is_in_the_schema_with_a_description(path: Path):
    config = yaml.safe_load(path.read_text())
    missing, undocumented = [], []
    for key, sub in _keys_and_schemas(config):
        if sub is None:
            missing.append(".".join(key))
        elif not sub.get("description") and key[-2:-1] != ("models",):
            undocumented.append(".".join(key))  # a model's own entry is named by its key
    assert not missing, f"{path.name}: keys not in the schema: {missing}"
    assert not undocumented, f"{path.name}: schema keys without a description: {undocumented}"


def test_schema_defaults_are_the_embedded_default():
    differ = {}
    for key, value, sub in _walk(EMBEDDED, SCHEMA):
        if key[0] == "models" or sub is None or "default" not in sub:
            continue
        if isinstance(value, dict):
            continue  # nested objects are compared key by key
        if sub["default"] != value and ".".join(key) not in DIFFERS_ON_PURPOSE:
            differ[".".join(key)] = (sub["default"], value)
    assert not differ, f"schema default != config.yaml value (key: (schema, config.yaml)): {differ}"


def test_the_allow_list_names_real_differences():
    """An entry of DIFFERS_ON_PURPOSE that no longer differs is stale and must go."""
    values = {".".join(key): (value, sub) for key, value, sub in _walk(EMBEDDED, SCHEMA)}
    for key in DIFFERS_ON_PURPOSE:
        value, sub = values[key]
        assert sub["default"] != value, key
