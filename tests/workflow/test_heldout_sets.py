"""The three held-out sets of the smoke run (token analysis, validation perplexity, corpus tasks) are
disjoint, and each feeds what docs/architecture.md says it feeds (issue 11)."""

import json
from itertools import combinations

import numpy as np
import pandas as pd
import pytest
import yaml
from conftest import SMOKE_CONFIG

from lmtraj.checkpoints.storage import load_checkpoint
from lmtraj.io import load_ragged
from lmtraj.scoring import token_nll

pytestmark = pytest.mark.slow

CONFIG = yaml.safe_load(SMOKE_CONFIG.read_text())
SETS = {"valid": "valid_documents", "ppl": "ppl_documents", "task": "task_documents"}


def read_sets(run) -> dict[str, pd.DataFrame]:
    names = {**SETS, "train": "train_documents"}
    return {
        k: pd.read_json(run / f"results/corpus/{v}.jsonl", lines=True) for k, v in names.items()
    }


def test_held_out_sets_share_no_document(smoke_run):
    sets = read_sets(smoke_run)
    for name, key in SETS.items():
        assert len(sets[name]) == CONFIG["corpus"][key], name
        assert sets[name]["doc"].tolist() == list(range(len(sets[name])))
    for a, b in combinations(sets, 2):  # training text included
        assert not set(sets[a]["chunk"]) & set(sets[b]["chunk"]), (a, b)
        assert not set(sets[a]["title"]) & set(sets[b]["title"]), (a, b)
        assert not set(sets[a]["text"]) & set(sets[b]["text"]), (a, b)
    # The token analysis scores the analysis set only.
    tokens = pd.read_parquet(smoke_run / "results/losses/tokens.parquet")
    assert tokens["doc"].nunique() == len(sets["valid"])


def test_corpus_tasks_are_built_from_the_task_documents(smoke_run):
    task_text = " ".join(" ".join(t.split()) for t in read_sets(smoke_run)["task"]["text"])
    for name in CONFIG["bigbench"]["corpus_tasks"]["types"]:
        task = json.loads(
            (smoke_run / f"results/bigbench/tasks/corpus/{name}/task.json").read_text()
        )
        passages = [example["input"] for example in task["examples"]]
        assert passages and all(p in task_text for p in passages), name


def rescored_nll(name, model_dir, docs) -> np.ndarray:
    """NLL of `docs` under a smoke checkpoint, scored here with the smoke run's settings."""
    scoring = CONFIG["losses"]["scoring"]
    model = load_checkpoint({"source": "train", "path": str(model_dir), "model": name})
    nll = token_nll(model, docs, context=scoring["context"], stride=scoring["stride"], device="cpu")
    return np.concatenate(nll).astype(np.float64)


def test_valid_ppl_is_of_the_ppl_set_not_of_the_analysed_tokens(smoke_run):
    table = pd.read_csv(smoke_run / "results/losses/checkpoints.tsv", sep="\t")
    ppl_docs = load_ragged(smoke_run / "results/corpus/ppl_tokens.npz")
    analysis_docs = load_ragged(smoke_run / "results/corpus/valid_tokens.npz")
    n_ppl = sum(len(d) - 1 for d in ppl_docs)
    metas = [
        json.loads(p.read_text()) for p in smoke_run.glob("results/losses/*/steps*/step*.json")
    ]
    assert metas and all(m["valid_set"] == "ppl_documents" for m in metas)
    assert all(m["valid_n_tokens"] == n_ppl for m in metas)
    assert n_ppl != sum(len(d) - 1 for d in analysis_docs)  # the smoke sets differ in size too
    for model in CONFIG["models"]:
        rows = table[table["model"] == model]
        matrix = np.load(smoke_run / f"results/losses/{model}/trajectory.npy")
        analysis_ppl = np.exp(matrix.mean(axis=0, dtype=np.float64))
        # Rescored independently: the final checkpoint's valid_ppl is exp(mean NLL) of the ppl set.
        final = rows.iloc[-1]
        ckpt = smoke_run / f"results/checkpoints/{model}/step{int(final['step'])}"
        ppl_nll = rescored_nll(model, ckpt, ppl_docs)
        assert ppl_nll.size == n_ppl
        np.testing.assert_allclose(final["valid_ppl"], np.exp(ppl_nll.mean()), rtol=1e-4)
        np.testing.assert_allclose(final["valid_nll"], ppl_nll.mean(), rtol=1e-4)
        analysis_nll = rescored_nll(model, ckpt, analysis_docs)
        np.testing.assert_allclose(analysis_ppl[-1], np.exp(analysis_nll.mean()), rtol=1e-4)
        # Both sets are held-out text of one corpus, so their perplexities are close; valid_ppl is
        # still that of the ppl set, not that of the analysed tokens.
        gap_ppl = abs(np.log(final["valid_ppl"]) - ppl_nll.mean())
        gap_analysis = abs(np.log(final["valid_ppl"]) - analysis_nll.mean())
        assert gap_ppl < 1e-4 < gap_analysis, (model, gap_ppl, gap_analysis)
