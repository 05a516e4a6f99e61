"""The checkpoint suite described by the config: which steps each model has, how to load each one,
and how checkpoints are grouped into jobs. Pure Python (no torch), so the DAG builds fast.
"""

from __future__ import annotations

import os
from pathlib import Path

from lmtraj.errors import ConfigError

REQUIRED = {
    "train": ("d_model", "n_layers", "n_heads"),
    "hf": ("repo", "steps", "tokens_per_step"),
    "local": ("steps", "tokens_per_step"),
}


def checkpoint_grid(total_steps: int, every: int) -> list[int]:
    """Pythia's grid in miniature: 0, powers of two below `every`, then every `every` steps to the end."""
    if total_steps < 1 or every < 1:
        raise ConfigError(
            f"training.steps ({total_steps}) and training.checkpoint_every ({every}) must be >= 1"
        )
    steps = {0, total_steps}
    power = 1
    while power < every and power < total_steps:
        steps.add(power)
        power *= 2
    steps.update(range(every, total_steps + 1, every))
    return sorted(steps)


def check_models(models: dict) -> None:
    """Per-source requirements that JSON schema states poorly; the message names the model and key."""
    if not models:
        raise ConfigError("config key 'models' is empty: list at least one model")
    for name, entry in models.items():
        source = entry.get("source")
        if source not in REQUIRED:
            raise ConfigError(
                f"models.{name}.source must be one of {sorted(REQUIRED)}, got {source!r}"
            )
        missing = [key for key in REQUIRED[source] if key not in entry]
        if source == "local" and not ("path_template" in entry or "paths" in entry):
            missing.append("path_template (or paths)")
        if missing:
            raise ConfigError(
                f"models.{name} (source {source}) lacks required key(s): {', '.join(missing)}"
            )
        if source != "train":
            steps = entry["steps"]
            if not steps or len(set(steps)) != len(steps) or any(s < 0 for s in steps):
                raise ConfigError(
                    f"models.{name}.steps must be a non-empty list of distinct steps >= 0"
                )


def model_steps(entry: dict, training: dict) -> list[int]:
    if entry["source"] == "train":
        return checkpoint_grid(training["steps"], training["checkpoint_every"])
    return sorted(int(s) for s in entry["steps"])


def tokens_per_step(entry: dict, training: dict) -> int:
    if entry["source"] == "train":
        return int(training["batch_size"] * training["context"])
    return int(entry["tokens_per_step"])


# The workflow folder (the repository root), found from this file rather than passed as a param: a
# param holding an absolute path would make a moved or freshly cloned project rerun every job.
WORKFLOW_DIR = Path(__file__).resolve().parents[3]


def resolve(path: str, basedir: str | Path = WORKFLOW_DIR) -> str:
    """Relative paths in the config are relative to the workflow folder (the repository root)."""
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else Path(basedir) / p)


def revision_of(entry: dict, step: int) -> str:
    revisions = entry.get("revisions") or {}
    if step in revisions or str(step) in revisions:
        return str(revisions.get(step, revisions.get(str(step))))
    return entry.get("revision_template", "step{step}").format(step=step)


def local_path(entry: dict, step: int, basedir) -> str:
    paths = entry.get("paths") or {}
    if step in paths or str(step) in paths:
        return resolve(str(paths.get(step, paths.get(str(step)))), basedir)
    return resolve(entry["path_template"].format(step=step), basedir)


def checkpoint_spec(
    name: str,
    entry: dict,
    step: int,
    training: dict,
    basedir,
    hub_cache: str | None = None,
    family_dir: str = "",
) -> dict:
    """What a script needs to load checkpoint (name, step). `family_dir` is the folder a family's run
    lives in (families/<name>; "" for a single suite): a path in a param is not prefixed by Snakemake's
    module, so a trained checkpoint's path carries it here."""
    spec = {
        "model": name,
        "step": int(step),
        "source": entry["source"],
        "tokens_per_step": tokens_per_step(entry, training),
    }
    for key in ("params_total", "params_non_embedding"):
        if key in entry:  # nominal counts (e.g. Pythia's table) override the counted ones
            spec[key] = int(entry[key])
    if entry["source"] == "train":
        spec["path"] = os.path.join(family_dir, f"results/checkpoints/{name}/step{step}")
    elif entry["source"] == "local":
        spec["path"] = local_path(entry, step, basedir)
    else:
        spec.update(repo=entry["repo"], revision=revision_of(entry, step), cache_dir=hub_cache)
    return spec


def blocks(steps: list[int], per_job: int) -> dict[str, list[int]]:
    """Consecutive runs of `per_job` checkpoints (0 = all in one), named '{first}-{last}'."""
    steps = sorted(steps)
    size = len(steps) if per_job <= 0 else per_job
    out = {}
    for i in range(0, len(steps), size):
        chunk = steps[i : i + size]
        out[f"{chunk[0]}-{chunk[-1]}"] = chunk
    return out
