"""BIG-bench task files: fetch them offline, summarise them, and select tasks by the paper's rule.

Source of the files: the `bigbench==1.0.0` source distribution on PyPI holds every `task.json` under
`bigbench-1.0.0/bigbench/benchmark_tasks/<task>/[<subtask>/]task.json`. pip >= 26.3 refuses to download
it (the package declares a `file://` direct dependency), so `download_sdist` uses a pip older than that:
an explicit command, else the first of this interpreter's / `python3`'s pip that is old enough, else a
tiny helper venv with `pip<26.3` created next to the cache. The archive is read as a stream
(`tarfile` mode "r|gz") and only the wanted tasks are written out, so the 1.7 GB of all task files never
touch the disk. A local BIG-bench checkout (its root or its `bigbench/benchmark_tasks`) or any folder of
the same layout (the tasks bundled in data/bigbench) can be used instead.

Layout of a task folder, here as in BIG-bench: `<task>/task.json`; a container task's `task.json` has no
`examples` and its examples live in `<task>/<subtask>/task.json`. `load_task` returns the top-level dict
with a `subtasks` list filled in, as BIG-bench's `JsonTask` does.

Selection rule (paper §5, authors' `get_bigbench_tasks()`): a task is kept when every example has
`target_scores` (multiple choice), it has fewer than 1000 examples, and every example has exactly one
correct option; `periodic_elements` is added by hand. Counted on BIG-bench's de-duplicated examples
(BIG-bench drops exact duplicate examples before evaluating), this rule reproduces the paper's 74 names
exactly: counted on raw examples it loses `sports_understanding`, which has 1000 raw but 986 distinct
examples. `periodic_elements` fails the rule because its second subtask is generative; only its
multiple-choice subtask (118 examples, 118 options each) is scored.

Chance level of a task (`random_baseline`): the mean over examples of 1/#options, averaged over subtasks
with equal weight, as BIG-bench aggregates container tasks. It gives 31.9 % over the 74 tasks, 26.6 %
over the 12 linearity and 33.3 % over the 6 breakthroughness tasks (paper: 31.8, 26.6, 33.3; weighting
examples instead of subtasks would give 31.8, 26.2, 33.3: only strange_stories differs).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from lmtraj.errors import ConfigError, DataError
from lmtraj.registry import Pin, find_old_pip, pip_download

if (
    TYPE_CHECKING
):  # pandas is imported where used: the Snakefile imports this module to build the DAG
    pass

# Checked by size, not hash: the sdist is 358 MB and only its task files are read.
SDIST = Pin("bigbench", "1.0.0", "bigbench-1.0.0.tar.gz", None)
SDIST_FILENAME = SDIST.filename
SDIST_BYTES = 358_249_635
# pip 26.3 rejects distributions whose metadata declares a direct URL dependency (bigbench -> bleurt).
PIP_MAX_EXCLUSIVE = (26, 3)
_MEMBER = re.compile(r"^bigbench-1\.0\.0/bigbench/benchmark_tasks/([^/]+)/(?:([^/]+)/)?task\.json$")


# ---------------------------------------------------------------------------------------------------
# Fetching


def download_sdist(sdist_dir: Path, pip_command: list[str] | None = None, log=None) -> Path:
    """Path of the cached `bigbench-1.0.0.tar.gz`, downloading it (about 25 s, 358 MB) only if absent."""
    sdist_dir = Path(sdist_dir)
    pip = pip_command
    if pip is None and not (sdist_dir / SDIST.filename).exists():
        pip = find_old_pip(sdist_dir / "pip-helper-venv", PIP_MAX_EXCLUSIVE, log)
    try:
        target = pip_download(SDIST, sdist_dir, log, pip=pip)
    except DataError as err:
        raise DataError(f"{err}\n{_download_hint(str(err))}") from err
    if target.stat().st_size != SDIST_BYTES:
        raise DataError(
            f"{target}: {target.stat().st_size} bytes, not the {SDIST_BYTES} of {SDIST.spec}; "
            "delete it to fetch it again"
        )
    return target


def _download_hint(message: str) -> str:
    """What to do about a failed download: another source where the index does not serve the sdist
    (some no longer do), an older pip where pip refused it."""
    if "No matching distribution" in message or "not available" in message:
        return (
            f"the package index does not serve {SDIST.spec}: set bigbench.source to 'bundled' (the "
            "real tasks in data/bigbench) or to 'local' with bigbench.local_dir a BIG-bench checkout"
        )
    return "pip must be older than 26.3 (bigbench.pip_command)"


def iter_sdist_tasks(
    sdist: Path, names: Iterable[str] | None = None
) -> Iterator[tuple[str, str | None, dict]]:
    """Stream the archive once: yield (task, subtask folder or None, parsed task.json) for wanted tasks."""
    wanted = None if names is None else set(names)
    try:
        with tarfile.open(sdist, "r|gz") as archive:
            for member in archive:
                match = _MEMBER.match(member.name)
                if not match or (wanted is not None and match.group(1) not in wanted):
                    continue
                handle = archive.extractfile(member)
                try:
                    data = json.load(handle)
                except json.JSONDecodeError as err:
                    raise DataError(f"{sdist}:{member.name} is not valid JSON: {err}") from err
                yield match.group(1), match.group(2), data
    except (tarfile.TarError, EOFError, OSError) as err:
        raise DataError(f"cannot read BIG-bench archive {sdist}: {err}") from err


def extract_tasks(sdist: Path, names: Iterable[str], cache_dir: Path) -> None:
    """Write `<cache_dir>/<task>/[<subtask>/]task.json` for every name; each task folder appears whole."""
    names = list(names)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=cache_dir))
    try:
        for task, subtask, data in iter_sdist_tasks(sdist, names):
            out = staging / task / (subtask or "") / "task.json"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(data, ensure_ascii=False, indent=1))
        missing = [n for n in names if not (staging / n / "task.json").exists()]
        if missing:
            raise DataError(f"task(s) not found in {sdist}: {', '.join(missing)}")
        for name in names:
            if not (cache_dir / name).exists():
                os.replace(staging / name, cache_dir / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def local_tasks_root(local_dir: Path) -> Path:
    """Accept a BIG-bench checkout root, its `bigbench/benchmark_tasks`, or any folder of task folders."""
    local_dir = Path(local_dir)
    nested = local_dir / "bigbench" / "benchmark_tasks"
    root = nested if nested.is_dir() else local_dir
    if not root.is_dir():
        raise ConfigError(f"bigbench.local_dir: {local_dir} is not a directory")
    return root


def fetch_tasks(
    names: Iterable[str],
    out_dir: Path,
    *,
    source: str,
    cache_dir: Path | None = None,
    local_dir: Path | None = None,
    pip_command: list[str] | None = None,
    log=None,
) -> dict[str, Path]:
    """Copy the named task folders into `out_dir`; returns {task: out_dir/task}.

    source "sdist": tasks are taken from `cache_dir` (filled from the sdist, downloaded once, for those
    not cached yet); source "local": from `local_dir` (a checkout or the bundled tasks).
    """
    names = list(names)
    if source == "sdist":
        if cache_dir is None:
            raise ConfigError("bigbench.cache_dir is required when bigbench.source is 'sdist'")
        root = Path(cache_dir) / "tasks"
        missing = [n for n in names if not (root / n / "task.json").exists()]
        if missing:
            sdist = download_sdist(Path(cache_dir), pip_command, log)
            if log:
                log.info(
                    "extracting %d task(s) from %s: %s",
                    len(missing),
                    sdist,
                    ", ".join(missing),
                )
            extract_tasks(sdist, missing, root)
    elif source == "local":
        if local_dir is None:
            raise ConfigError("bigbench.local_dir is required when bigbench.source is 'local'")
        root = local_tasks_root(Path(local_dir))
    else:
        raise ConfigError(f"bigbench.source must be 'sdist' or 'local', got {source!r}")
    out = {}
    for name in names:
        src = root / name
        if not (src / "task.json").exists():
            raise DataError(f"BIG-bench task {name!r}: {src / 'task.json'} does not exist")
        dst = Path(out_dir) / name
        if dst.exists():
            shutil.rmtree(dst)
        shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.py", "*.md", "__pycache__"))
        out[name] = dst
    return out


def load_task(task_dir: Path) -> dict:
    """The top-level task.json of a task folder; a container task gets `subtasks` (sorted by folder)."""
    task_dir = Path(task_dir)
    path = task_dir / "task.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DataError(f"BIG-bench task {task_dir.name!r}: {path} does not exist") from err
    except json.JSONDecodeError as err:
        raise DataError(
            f"BIG-bench task {task_dir.name!r}: {path} is not valid JSON: {err}"
        ) from err
    if not isinstance(data, dict):
        raise DataError(f"BIG-bench task {task_dir.name!r}: {path} must hold a JSON object")
    if "examples" not in data:
        subs = sorted(p for p in task_dir.glob("*/task.json"))
        if not subs:
            raise DataError(
                f"BIG-bench task {task_dir.name!r}: {path} has no examples and no <subtask>/task.json"
            )
        data["subtasks"] = [load_task(p.parent) for p in subs]
    return data
