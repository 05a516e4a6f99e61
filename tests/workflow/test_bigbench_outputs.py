"""End-to-end checks of the bigbench stage on the shared smoke run (config/smoke.yaml)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from lmtraj.bigbench.metrics import item_table, task_table

ROOT = Path(__file__).resolve().parents[2]
SMOKE = yaml.safe_load((ROOT / "config" / "smoke.yaml").read_text())["bigbench"]
REAL = SMOKE["tasks"]
CORPUS = SMOKE["corpus_tasks"]["types"]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def out(smoke_run) -> Path:
    return smoke_run / "results" / "bigbench"


@pytest.fixture(scope="module")
def tasks(out) -> pd.DataFrame:
    return pd.read_csv(out / "tasks.tsv", sep="\t")


def test_task_table_covers_every_checkpoint_and_task(smoke_run, tasks):
    checkpoints = pd.read_csv(smoke_run / "results" / "losses" / "checkpoints.tsv", sep="\t")
    expected = {
        (m, s, t) for m, s in zip(checkpoints["model"], checkpoints["step"]) for t in REAL + CORPUS
    }
    assert set(zip(tasks["model"], tasks["step"], tasks["task"])) == expected
    assert len(tasks) == len(expected)
    # The columns the regression stage reads, and the headline metric under its shared name.
    for col in ("accuracy", "correct_ppl", "incorrect_ppl", "correct_tokens", "incorrect_tokens"):
        assert tasks[col].notna().all(), col
    assert (tasks["accuracy"] == tasks[SMOKE.get("metric", "acc")]).all()
    assert tasks[["acc", "acc_sum", "acc_char", "acc_byte"]].stack().between(0, 1).all()
    assert (tasks["correct_ppl"] > 1).all() and (tasks["incorrect_ppl"] > 1).all()
    assert set(tasks.loc[tasks["task"].isin(CORPUS), "kind"]) == {"corpus"}


def test_chance_levels_and_item_counts(tasks):
    chance = tasks.groupby("task")["random_baseline"].agg(["min", "max"])
    assert (chance["min"] == chance["max"]).all()  # the same items at every checkpoint
    assert chance.loc["what_is_the_tao", "min"] == pytest.approx(0.5)
    assert chance.loc["strange_stories", "min"] == pytest.approx(
        (1 / 2 + 1 / 4) / 2
    )  # subtasks averaged
    n_choices = SMOKE["corpus_tasks"].get("n_choices", 4)
    assert chance.loc[CORPUS, "min"].tolist() == pytest.approx([1 / n_choices] * len(CORPUS))
    n_items = (
        tasks.groupby("task")["n_items"].first() + tasks.groupby("task")["skipped_items"].first()
    )
    assert (n_items[REAL] == SMOKE["max_examples"]).all()
    assert (n_items[CORPUS] == SMOKE["corpus_tasks"]["n_items"]).all()
    # The smoke models have 64 positions: 2-shot prompts lose demonstrations, some are cut on the left.
    assert tasks["mean_demos"].between(0, SMOKE["shots"]).all()
    assert tasks.loc[tasks["task"] == "what_is_the_tao", "truncated_items"].gt(0).all()


def test_option_scores_reproduce_the_task_table(out, tasks):
    block = sorted((out / tasks["model"].iloc[-1]).glob("steps*"))[-1]
    options_file = sorted(block.glob("step*.options.parquet"))[-1]
    options = pd.read_parquet(options_file)
    assert (options.groupby(["task", "item"])["is_correct"].sum() == 1).all()
    assert (options["logprob_sum"] < 0).all() and (options["n_tokens"] >= 1).all()
    model, step = options["model"].iloc[0], options["step"].iloc[0]
    again = task_table(options, item_table(options)).set_index("task").sort_index()
    saved = (
        tasks[(tasks["model"] == model) & (tasks["step"] == step)].set_index("task").sort_index()
    )
    np.testing.assert_allclose(again["acc"], saved["acc"])
    np.testing.assert_allclose(again["correct_ppl"], saved["correct_ppl"], rtol=1e-5)


def test_items_and_group_means(out, tasks):
    items = pd.read_parquet(out / "items.parquet")
    assert len(items) == int(tasks["n_items"].sum())
    assert set(items["acc"]) <= {0.0, 1.0}
    means = pd.read_csv(out / "means.tsv", sep="\t")
    assert set(means["group"]) == {"all", "bigbench", "corpus", "linearity", "breakthroughness"}
    corpus = means[means["group"] == "corpus"].set_index(["model", "step"])["accuracy"].sort_index()
    by_hand = tasks[tasks["task"].isin(CORPUS)].groupby(["model", "step"])["accuracy"].mean()
    np.testing.assert_allclose(corpus.to_numpy(), by_hand.sort_index().to_numpy())
    assert means["valid_ppl"].notna().all() and means["flops"].notna().all()


def test_scaling_table_and_task_list(out):
    scaling = pd.read_csv(out / "scaling.tsv", sep="\t", keep_default_na=False)
    assert sorted(scaling["task"]) == sorted(REAL + CORPUS)
    lists = dict(zip(scaling["task"], scaling["paper_list"]))
    assert (
        lists["nonsense_words_grammar"] == "linearity"
        and lists["what_is_the_tao"] == "breakthroughness"
    )
    assert lists["corpus_next_word"] == ""
    fetched = pd.read_csv(out / "tasks" / "bigbench_tasks.tsv", sep="\t")
    assert fetched["task"].tolist() == REAL and fetched["paper74"].all()
    assert (out / "tasks" / "corpus" / "corpus_next_word" / "task.json").exists()


def test_figures(out):
    for name in ("accuracy", "linearity_breakthroughness", "per_task", "option_ppl"):
        png = out / "figures" / f"bigbench_{name}.png"
        assert png.stat().st_size > 10_000 and png.with_suffix(".pdf").exists()
