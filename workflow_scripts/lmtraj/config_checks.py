"""Checks of the config that need no job, run when the DAG is built (rules/common.smk): a mistake that a
job would find only after minutes of work fails before any job runs, naming the key and the value.

The schema checks each key on its own; these relate keys to each other (heads and width, stride and
window, prompt + generated tokens and the models' context) and to what is on disk without reading it
(files of the corpus, task folders, config.json of cached checkpoints). What cannot be known cheaply is
left to the jobs: the number of chunks of a registry corpus cut into chunks or of a dataset read without
max_documents, and the context of a hub model whose config.json is not in the cache yet.
Pure Python (no torch, no transformers): building the DAG stays fast.
"""

from __future__ import annotations

import json
from pathlib import Path

from lmtraj.bigbench.sdist_tasks import BUNDLED_DIR, SDIST_TASKS
from lmtraj.bigbench.task_lists import resolve_task_names
from lmtraj.checkpoints import suite
from lmtraj.errors import ConfigError

# Documents per registry package (lmtraj.corpus.sources: one per work, book or novel).
REGISTRY_DOCUMENTS = {"shakespeare": 42, "kjv": 66, "austen": 6}
# Held-out sets cut from the corpus, each sized by one key (those a config has; lmtraj.corpus.split).
HELDOUT_KEYS = ("valid_documents", "ppl_documents", "task_documents")
# Keys of a Hugging Face config.json holding the number of positions.
_CONTEXT_KEYS = ("max_position_embeddings", "n_positions", "n_ctx")


def check_config(config: dict, workflow_dir: str | Path = suite.WORKFLOW_DIR) -> None:
    """Raise one ConfigError listing every problem found (config with the schema's defaults filled in)."""
    problems = config_problems(config, Path(workflow_dir))
    if problems:
        raise ConfigError(
            f"{len(problems)} problem(s) in the config, found before running any job:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


def config_problems(config: dict, workflow_dir: Path) -> list[str]:
    contexts = model_contexts(config, workflow_dir)
    problems = model_shape_problems(config["models"])
    problems += scoring_problems(config["losses"]["scoring"], contexts)
    if _enabled(config, "generation"):
        problems += generation_problems(config["generation"], contexts)
    if _enabled(config, "bigbench"):
        problems += bigbench_problems(config["bigbench"], workflow_dir)
    problems += corpus_problems(config, workflow_dir)
    return problems


def _enabled(config: dict, stage: str) -> bool:
    return config.get(stage, {}).get("enabled", True)


# ---------------------------------------------------------------- models


def model_shape_problems(models: dict) -> list[str]:
    problems = []
    for name, entry in models.items():
        if entry.get("source") != "train":
            continue
        d_model, n_heads = entry.get("d_model"), entry.get("n_heads")
        if isinstance(d_model, int) and isinstance(n_heads, int) and n_heads > 0:
            if d_model % n_heads:
                problems.append(
                    f"models.{name}.n_heads={n_heads} does not divide models.{name}.d_model="
                    f"{d_model} (each head gets d_model / n_heads dimensions)"
                )
    return problems


def model_contexts(config: dict, workflow_dir: Path) -> dict[str, tuple[int, str]]:
    """{model: (positions, where that number comes from)} for every model whose context is known now."""
    out = {}
    for name, entry in config["models"].items():
        source = entry.get("source")
        if source == "train":
            out[name] = (int(config["training"]["context"]), "training.context")
            continue
        step = suite.model_steps(entry, config["training"])[-1]
        if source == "local":
            path = Path(suite.local_path(entry, step, workflow_dir)) / "config.json"
        else:
            path = cached_hub_file(
                entry["repo"],
                "config.json",
                suite.revision_of(entry, step),
                config["hub"]["cache_dir"],
            )
        positions = config_positions(path)
        if positions is not None:
            out[name] = (positions, f"{path}")
    return out


def cached_hub_file(repo: str, filename: str, revision: str, cache_dir: str | None) -> Path | None:
    """A file of repo@revision if the Hugging Face cache holds it (never the network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        found = try_to_load_from_cache(repo, filename, cache_dir=cache_dir, revision=revision)
    except (ValueError, OSError):  # e.g. a repo id the hub library rejects: left to the jobs
        return None
    return Path(found) if isinstance(found, str) else None


def config_positions(path: Path | None) -> int | None:
    """The number of positions in a model's config.json, or None if unreadable."""
    if path is None or not path.is_file():
        return None
    try:
        cfg = json.loads(path.read_text())
    except (OSError, ValueError):
        return None  # the job that loads it names the broken file
    for key in _CONTEXT_KEYS:
        if isinstance(cfg.get(key), int):
            return cfg[key]
    return None


# ---------------------------------------------------------------- windows and lengths


def scoring_problems(scoring: dict, contexts: dict[str, tuple[int, str]]) -> list[str]:
    context, stride = int(scoring["context"]), int(scoring["stride"])
    problems = []
    if not 1 <= stride <= context - 1:
        problems.append(
            f"losses.scoring.stride={stride} must be in [1, losses.scoring.context - 1] = "
            f"[1, {context - 1}] (each window keeps context - stride tokens of left context)"
        )
    for name, (positions, where) in contexts.items():
        if context > positions:
            problems.append(
                f"losses.scoring.context={context} exceeds the {positions} positions of model "
                f"{name!r} ({where})"
            )
    return problems


def generation_problems(generation: dict, contexts: dict[str, tuple[int, str]]) -> list[str]:
    """Every model scores every generated text: prompt + the longest generation must fit each."""
    lengths = list(generation["max_new_tokens"])
    if not lengths:
        return []
    need = int(generation["prompt_tokens"]) + max(lengths)
    return [
        f"generation.max_new_tokens={lengths}: generation.prompt_tokens={generation['prompt_tokens']} "
        f"+ {max(lengths)} = {need} tokens exceed the {positions} positions of model {name!r} ({where})"
        for name, (positions, where) in contexts.items()
        if need > positions
    ]


# ---------------------------------------------------------------- BIG-bench


def bigbench_problems(bigbench: dict, workflow_dir: Path) -> list[str]:
    names = resolve_task_names(bigbench["tasks"])  # raises for an unknown task set or a bad name
    source = bigbench["source"]
    if source == "sdist":
        known, where = SDIST_TASKS, "the JSON tasks of bigbench==1.0.0"
    else:
        if source == "bundled":
            root = workflow_dir / BUNDLED_DIR
        elif not bigbench.get("local_dir"):
            return ["bigbench.local_dir is required when bigbench.source is 'local'"]
        else:
            root = Path(bigbench["local_dir"]).expanduser()
            nested = root / "bigbench" / "benchmark_tasks"
            root = nested if nested.is_dir() else root
            if not root.is_dir():
                return [f"bigbench.local_dir={bigbench['local_dir']} is not a directory"]
        known = {p.parent.name for p in root.glob("*/task.json")}
        where = f"the task folders of {root}"
    unknown = [n for n in names if n not in known]
    if not unknown:
        return []
    return [
        f"bigbench.tasks: unknown task(s) {unknown} (bigbench.source={source}: not among {where})"
    ]


# ---------------------------------------------------------------- corpus


def corpus_problems(config: dict, workflow_dir: Path) -> list[str]:
    corpus = config["corpus"]
    source = corpus["source"]
    problems: list[str] = []
    sizes: list[int] = []
    if source.get("kind") == "files":
        for entry in source.get("paths") or []:
            path = Path(suite.resolve(str(entry), workflow_dir))
            if path.is_dir():
                files = sorted(path.glob("*.txt"))
                if not files:
                    problems.append(f"corpus.source.paths: {entry} ({path}) holds no *.txt file")
                sizes += [f.stat().st_size for f in files]
            elif path.is_file():
                sizes.append(path.stat().st_size)
            else:
                problems.append(f"corpus.source.paths: {entry} does not exist (looked for {path})")
    if problems:
        return problems
    most = most_chunks(source, int(corpus["chunk_chars"]), sizes)
    asked = {key: int(corpus[key]) for key in HELDOUT_KEYS if key in corpus}
    need_train = any(e.get("source") == "train" for e in config["models"].values())
    needed = sum(asked.values()) + int(need_train)
    if most is not None and needed > most:
        listing = " + ".join(f"corpus.{k}={v}" for k, v in asked.items())
        problems.append(
            f"{listing}{' + 1 for training' if need_train else ''} = {needed} chunks, but the corpus "
            f"(corpus.source.kind={source.get('kind')}, corpus.chunk_chars={corpus['chunk_chars']}"
            + (
                f", corpus.source.paths={list(source.get('paths') or [])}"
                if source.get("kind") == "files"
                else ""
            )
            + f") gives at most {most}"
        )
    return problems


def most_chunks(source: dict, chunk_chars: int, file_sizes: list[int]) -> int | None:
    """An upper bound on the corpus's chunks, or None where only reading the corpus would tell.

    Files: a file of n bytes has at most n characters after cleaning, and the chunker never leaves a
    chunk under a quarter of chunk_chars on its own (lmtraj.corpus.split.chunk_text), so it gives at
    most max(1, n // (chunk_chars // 4)) chunks; with chunk_chars 0, one. Registry packages and datasets
    (with max_documents) are bounded only when documents are kept whole (chunk_chars 0).
    """
    kind = source.get("kind")
    if kind == "files":
        if chunk_chars == 0:
            return sum(1 for n in file_sizes if n > 0)
        quarter = max(1, chunk_chars // 4)
        return sum(max(1, n // quarter) for n in file_sizes if n > 0)
    if chunk_chars != 0:
        return None
    if kind == "registry":
        packages = source.get("packages") or []
        if all(p in REGISTRY_DOCUMENTS for p in packages):
            return sum(REGISTRY_DOCUMENTS[p] for p in packages)
        return None  # an unknown package is named by corpus_prepare
    if kind == "hf_dataset" and source.get("max_documents") is not None:
        return int(source["max_documents"])
    return None
