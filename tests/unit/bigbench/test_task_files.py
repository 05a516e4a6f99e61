import io
import json
import tarfile
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT

from lmtraj.bigbench.sdist import (
    SDIST_BYTES,
    SDIST_FILENAME,
    download_sdist,
    extract_tasks,
    fetch_tasks,
    load_task,
)
from lmtraj.bigbench.sdist_tasks import BUNDLED_DIR
from lmtraj.bigbench.selection import paper_selection, summarize_task
from lmtraj.bigbench.task_lists import (
    BREAKTHROUGHNESS_TASKS,
    LINEARITY_TASKS,
    PAPER_TASKS,
    resolve_task_names,
)
from lmtraj.errors import ConfigError, DataError

BUNDLED = ROOT / BUNDLED_DIR


@pytest.fixture(scope="module")
def summary() -> pd.DataFrame:
    return pd.read_csv(BUNDLED / "task_summary.tsv", sep="\t")


def test_paper_lists_have_the_papers_sizes():
    assert len(PAPER_TASKS) == len(set(PAPER_TASKS)) == 74
    assert len(LINEARITY_TASKS) == 12 and len(BREAKTHROUGHNESS_TASKS) == 6
    assert set(LINEARITY_TASKS) <= set(PAPER_TASKS) and set(BREAKTHROUGHNESS_TASKS) <= set(
        PAPER_TASKS
    )


def test_selection_rule_yields_exactly_the_papers_74_tasks(summary):
    # task_summary.tsv: every top-level JSON task of bigbench==1.0.0 (make_summary.py).
    assert len(summary) == 167
    assert paper_selection(summary) == sorted(PAPER_TASKS)


def test_selection_rule_details(summary):
    s = summary.set_index("task")
    # Counted on raw examples sports_understanding (1000 raw, 986 distinct) would be excluded.
    assert s.loc["sports_understanding", ["n_examples", "n_distinct"]].tolist() == [1000, 986]
    # periodic_elements is added by hand: its second subtask is generative.
    assert not s.loc["periodic_elements", "all_mc"] and s.loc["periodic_elements", "n_mc"] == 118
    # A multiple-choice task with several correct options per example is excluded.
    assert s.loc["general_knowledge", "all_mc"] and not s.loc["general_knowledge", "single_correct"]


def test_random_baselines_match_the_paper(summary):
    s = summary.set_index("task")["random_baseline"]
    assert 100 * s[list(PAPER_TASKS)].mean() == pytest.approx(31.86, abs=0.01)  # paper 31.8
    assert 100 * s[list(LINEARITY_TASKS)].mean() == pytest.approx(26.59, abs=0.01)  # paper 26.6
    assert 100 * s[list(BREAKTHROUGHNESS_TASKS)].mean() == pytest.approx(
        33.31, abs=0.01
    )  # paper 33.3


def test_resolve_task_names():
    assert resolve_task_names("linearity") == list(LINEARITY_TASKS)
    assert resolve_task_names(["b_task", "a1", "b_task"]) == ["b_task", "a1"]
    with pytest.raises(ConfigError, match="unknown task set"):
        resolve_task_names("paper75")
    with pytest.raises(ConfigError, match="must match"):
        resolve_task_names(["Bad-Name"])


def test_load_container_task_and_summary():
    task = load_task(BUNDLED / "strange_stories")
    assert [s["name"] for s in task["subtasks"]] == ["boolean", "multiple_choice"]
    row = summarize_task(task, "strange_stories")
    assert row["n_subtasks"] == 2 and row["n_examples"] == 24 and row["single_correct"]
    # Chance level averages subtasks: boolean items have 2 options, multiple_choice ones 4.
    assert row["random_baseline"] == pytest.approx((1 / 2 + 1 / 4) / 2)


def test_load_task_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_task(tmp_path / "nope")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "task.json").write_text("{not json")
    with pytest.raises(DataError, match="'bad'.*not valid JSON"):
        load_task(tmp_path / "bad")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "task.json").write_text('{"name": "empty"}')
    with pytest.raises(DataError, match="no examples and no"):
        load_task(tmp_path / "empty")


def _fake_sdist(path: Path, tasks: dict[str, dict]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for member, data in tasks.items():
            raw = json.dumps(data).encode()
            info = tarfile.TarInfo(f"bigbench-1.0.0/bigbench/benchmark_tasks/{member}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


def test_extract_streams_only_wanted_tasks(tmp_path):
    sdist = _fake_sdist(
        tmp_path / "x.tar.gz",
        {
            "alpha/task.json": {"name": "alpha", "examples": []},
            "beta/task.json": {"name": "beta"},
            "beta/sub_a/task.json": {"name": "sub_a", "examples": []},
            "gamma/task.json": {"name": "gamma", "examples": []},
            "alpha/README.md": {},
        },
    )
    extract_tasks(sdist, ["alpha", "beta"], tmp_path / "cache")
    got = sorted(
        str(p.relative_to(tmp_path / "cache")) for p in (tmp_path / "cache").rglob("*.json")
    )
    assert got == ["alpha/task.json", "beta/sub_a/task.json", "beta/task.json"]
    with pytest.raises(DataError, match="not found in .*: delta"):
        extract_tasks(sdist, ["delta"], tmp_path / "cache")


def test_fetch_from_sdist_cache_never_downloads_twice(tmp_path):
    cache = tmp_path / "cache"
    (cache / "tasks" / "alpha").mkdir(parents=True)
    (cache / "tasks" / "alpha" / "task.json").write_text('{"name": "alpha", "examples": []}')
    fail = ["false"]  # a pip that would fail if it were called
    out = fetch_tasks(
        ["alpha"], tmp_path / "out", source="sdist", cache_dir=cache, pip_command=fail
    )
    assert (out["alpha"] / "task.json").exists()
    with pytest.raises(DataError, match="download bigbench==1.0.0` failed"):
        fetch_tasks(["beta"], tmp_path / "out", source="sdist", cache_dir=cache, pip_command=fail)


def test_download_reuses_a_complete_archive(tmp_path):
    archive = tmp_path / SDIST_FILENAME
    with open(archive, "wb") as fh:  # sparse file of the right size
        fh.truncate(SDIST_BYTES)
    assert download_sdist(tmp_path, pip_command=["false"]) == archive


def test_fetch_local_accepts_checkout_layout(tmp_path):
    root = tmp_path / "BIG-bench" / "bigbench" / "benchmark_tasks" / "what_is_the_tao"
    root.mkdir(parents=True)
    (root / "task.json").write_text((BUNDLED / "what_is_the_tao" / "task.json").read_text())
    (root / "README.md").write_text("not copied")
    out = fetch_tasks(
        ["what_is_the_tao"], tmp_path / "out", source="local", local_dir=tmp_path / "BIG-bench"
    )
    assert sorted(p.name for p in out["what_is_the_tao"].iterdir()) == ["task.json"]
    with pytest.raises(DataError, match="'missing_task'"):
        fetch_tasks(["missing_task"], tmp_path / "out", source="local", local_dir=BUNDLED)
    with pytest.raises(ConfigError, match="bigbench.source"):
        fetch_tasks(["x"], tmp_path / "out", source="hub")
