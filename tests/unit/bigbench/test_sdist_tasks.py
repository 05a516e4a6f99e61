"""The sdist's task names known to the config check are the archive's JSON tasks (task_summary.tsv was
written from the archive itself, data/bigbench/make_summary.py)."""

import pandas as pd
from conftest import ROOT

from lmtraj.bigbench.sdist_tasks import SDIST_TASKS
from lmtraj.bigbench.task_lists import TASK_SETS


def test_names_are_the_archives_json_tasks():
    summary = pd.read_csv(ROOT / "data/bigbench/task_summary.tsv", sep="\t")
    assert SDIST_TASKS == set(summary["task"])
    assert set().union(*TASK_SETS.values()) <= SDIST_TASKS  # every named set can be fetched
