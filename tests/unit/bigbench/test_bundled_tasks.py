"""The tasks bundled in data/bigbench: real tasks of the archive, and the suites meant for results score
only complete ones (a cut task would be a prefix of the benchmark, not the benchmark)."""

import sys

import pandas as pd
import pytest
import yaml
from conftest import ROOT

from lmtraj.bigbench.sdist import download_sdist, load_task
from lmtraj.bigbench.sdist_tasks import BUNDLED_DIR, SDIST_TASKS
from lmtraj.errors import DataError

BUNDLED = ROOT / BUNDLED_DIR


def bundled_names() -> set[str]:
    return {p.parent.name for p in BUNDLED.glob("*/task.json")}


def example_count(name: str) -> int:
    task = load_task(BUNDLED / name)
    parts = task.get("subtasks", [task])
    return sum(len(part["examples"]) for part in parts)


def complete_tasks() -> set[str]:
    """Bundled tasks holding every raw example the archive has (task_summary.tsv's n_examples)."""
    summary = pd.read_csv(BUNDLED / "task_summary.tsv", sep="\t").set_index("task")
    return {n for n in bundled_names() if example_count(n) == summary.loc[n, "n_examples"]}


def test_bundled_tasks_are_tasks_of_the_archive():
    assert bundled_names() and bundled_names() <= SDIST_TASKS


def test_completeness_tells_whole_tasks_from_cut_ones():
    # The README's table: three whole, two cut to their first examples.
    assert complete_tasks() == {"nonsense_words_grammar", "human_organs_senses", "what_is_the_tao"}
    assert example_count("entailed_polarity") == 30  # of 148


def bundled_suites() -> dict[str, dict]:
    """{config file (relative): its bigbench section} for the shipped configs scoring bundled tasks."""
    found = {}
    for path in [ROOT / "config.yaml", *sorted((ROOT / "config").glob("*.yaml"))]:
        bigbench = (yaml.safe_load(path.read_text()) or {}).get("bigbench") or {}
        if bigbench.get("source") == "bundled" and bigbench.get("enabled", True):
            found[str(path.relative_to(ROOT))] = bigbench
    return found


def test_the_embedded_suites_score_bundled_tasks():
    assert {"config.yaml", "config/embedded-large.yaml", "config/smoke.yaml"} <= set(
        bundled_suites()
    )


@pytest.mark.parametrize("name", sorted(bundled_suites()))
def test_suites_meant_for_results_score_only_complete_bundled_tasks(name):
    tasks = set(bundled_suites()[name]["tasks"])
    if "smoke" in name:  # test runs: a cut container task is there to exercise subtasks
        assert tasks <= bundled_names()
    else:
        assert tasks and tasks <= complete_tasks(), f"{name}: {tasks - complete_tasks()}"


def test_an_index_without_the_sdist_points_to_the_other_sources(tmp_path):
    # What pip prints where the index lists only bigbench 0.0.1 (as this project's index does since
    # December 2026), from a stand-in for pip.
    said = "ERROR: No matching distribution found for bigbench==1.0.0"
    pip = [sys.executable, "-c", f"import sys; sys.exit({said!r})"]
    with pytest.raises(DataError) as err:
        download_sdist(tmp_path, pip_command=pip)
    assert said in str(err.value)
    assert "bigbench.source" in str(err.value) and "'bundled'" in str(err.value)
    assert "older than 26.3" not in str(err.value)
    # Where the index serves it but pip 26.3 refuses it, the hint stays the older pip.
    refused = "ERROR: Distributions from PyPI cannot declare direct URL dependencies."
    pip = [sys.executable, "-c", f"import sys; sys.exit({refused!r})"]
    with pytest.raises(DataError, match="older than 26.3") as err:
        download_sdist(tmp_path, pip_command=pip)
    assert "'bundled'" not in str(err.value)
