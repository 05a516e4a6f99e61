"""The families of a run: each family's full suite config, and where its checkpoints and tables live.

A family is a suite config file (config/pythia.yaml, config/smoke.yaml, ...) plus overrides (`set`). It
runs the whole per-suite workflow as a Snakemake module under `families/<name>/` (rules/families.smk), so
its files are `families/<name>/results/...`. Cross-family comparisons need the same validation text, so
every family must share `corpus` and `seed`; that is checked here, when the DAG is built.

Overrides are merged into the file key by key, except `models`, which an override replaces whole: a
family may be a subset of a suite's models (a merge could only add models).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import yaml

from lmtraj.checkpoints import suite
from lmtraj.errors import ConfigError

SHARED_KEYS = ("corpus", "seed")
REPLACED_KEYS = frozenset({"models"})


def family_dir(name: str) -> str:
    return f"families/{name}"


def merge(base: dict, over: dict, path: str = "") -> dict:
    """`over` merged into a copy of `base`: mappings key by key, anything else (and `models`) replaced."""
    out = copy.deepcopy(base)
    for key, value in over.items():
        here = f"{path}.{key}" if path else key
        if isinstance(value, dict) and isinstance(out.get(key), dict) and here not in REPLACED_KEYS:
            out[key] = merge(out[key], value, here)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _load(path: Path, key: str) -> dict:
    if not path.is_file():
        raise ConfigError(f"{key}: no such config file {path}")
    with path.open() as fh:
        loaded = yaml.safe_load(fh)
    if not isinstance(loaded, dict):
        raise ConfigError(f"{key}: {path} is not a mapping of config keys")
    if "families" in loaded:
        raise ConfigError(f"{key}: {path} is itself a families config; a family must be one suite")
    return loaded


def family_configs(families: dict, basedir: str | Path) -> dict[str, dict]:
    """name -> that family's suite config (file + `set`, with `family_dir`), in the families' order."""
    configs = {}
    for name, entry in families["suites"].items():
        key = f"families.suites.{name}.configfile"
        loaded = _load(Path(suite.resolve(entry["configfile"], basedir)), key)
        merged = merge(loaded, entry.get("set") or {})
        if "family_dir" in merged:
            raise ConfigError(
                f"families.suites.{name}: family_dir is set by the workflow, not a config"
            )
        merged["family_dir"] = family_dir(name)
        configs[name] = merged
    check_shared_text(configs)
    return configs


def check_shared_text(configs: dict[str, dict]) -> None:
    """Every family scores the same validation text: same corpus settings and seed (the split's seed)."""
    names = list(configs)
    first = names[0]
    for name in names[1:]:
        for key in SHARED_KEYS:
            if configs[name].get(key) != configs[first].get(key):
                raise ConfigError(
                    f"families.suites: family {name!r} has a different `{key}` than {first!r}; "
                    "families are compared on the same validation text, so they must share "
                    f"{' and '.join(SHARED_KEYS)} (set them alike in the files or in `set`)"
                )


def model_files(name: str, config: dict, model: str, step: int, workflow_rel: str) -> list[str]:
    """The files whose existence means a family's checkpoint is ready (rules/common.smk's
    checkpoint_files, for one family)."""
    entry = config["models"][model]
    if entry["source"] == "train":
        return [os.path.join(family_dir(name), f"results/checkpoints/{model}/step{step}")]
    if entry["source"] == "local":
        return [suite.local_path(entry, step, workflow_rel)]
    return [os.path.join(family_dir(name), f"results/checkpoints/{model}/hub/step{step}.json")]


def model_spec(name: str, config: dict, model: str, step: int, workflow_rel: str) -> dict:
    return suite.checkpoint_spec(
        model,
        config["models"][model],
        int(step),
        config["training"],
        workflow_rel,
        hub_cache=config["hub"]["cache_dir"],
        family_dir=family_dir(name),
    )


def model_blocks(config: dict, model: str) -> dict[str, list[int]]:
    steps = suite.model_steps(config["models"][model], config["training"])
    return suite.blocks(steps, config["jobs"]["checkpoints_per_job"])
