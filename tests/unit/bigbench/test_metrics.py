import math

import numpy as np
import pandas as pd
import pytest

from lmtraj.bigbench.metrics import (
    ema,
    group_means,
    item_table,
    scaling_shape,
    scaling_table,
    task_table,
)
from lmtraj.errors import DataError


def options_frame(rows):
    cols = [
        "task",
        "subtask",
        "item",
        "option",
        "is_correct",
        "logprob_sum",
        "n_tokens",
        "n_chars",
        "n_bytes",
    ]
    df = pd.DataFrame(rows, columns=cols)
    df["n_options"] = df.groupby(["task", "item"])["option"].transform("size")
    df["example"] = df["item"]
    return df


# Hand-built so that the four normalisations disagree:
#   item 0: per token -3.0 vs -1.0 -> option 1 (wrong); sum -3 vs -4, per char -0.3 vs -2,
#           per byte -0.3 vs -1 -> option 0 (right).
#   item 1: per token -1, -0.5, -2 -> option 1 (right); sum -2, -2.5, -6 -> option 0 (wrong);
#           per char -0.5, -0.417, -0.6 -> option 1 (right); per byte -0.25, -0.5, -0.5 -> option 0 (wrong).
HAND = options_frame(
    [
        ("t", "", 0, 0, True, -3.0, 1, 10, 10),
        ("t", "", 0, 1, False, -4.0, 4, 2, 4),
        ("t", "", 1, 0, False, -2.0, 2, 4, 8),
        ("t", "", 1, 1, True, -2.5, 5, 6, 5),
        ("t", "", 1, 2, False, -6.0, 3, 10, 12),
    ]
)


def test_item_table_by_hand():
    items = item_table(HAND)
    assert items["pred_acc"].tolist() == [1, 1]
    assert items["acc"].tolist() == [0.0, 1.0]
    assert items["acc_sum"].tolist() == [1.0, 0.0]
    assert items["acc_char"].tolist() == [1.0, 1.0]
    assert items["acc_byte"].tolist() == [1.0, 0.0]
    assert items["random"].tolist() == pytest.approx([1 / 2, 1 / 3])
    assert items["correct_logprob"].tolist() == [-3.0, -2.5]


def test_task_table_by_hand():
    row = task_table(HAND).iloc[0]
    assert (row["acc"], row["acc_sum"], row["acc_char"], row["acc_byte"]) == (0.5, 0.5, 1.0, 0.5)
    assert row["random_baseline"] == pytest.approx((1 / 2 + 1 / 3) / 2)
    # Token-weighted option perplexity: correct options -3 (1 token) and -2.5 (5 tokens).
    assert row["correct_ppl"] == pytest.approx(math.exp(5.5 / 6))
    assert row["incorrect_ppl"] == pytest.approx(math.exp(12 / 9))
    assert (row["correct_tokens"], row["incorrect_tokens"]) == (6, 9)


def test_task_accuracy_averages_subtasks_like_bigbench():
    rows = [("c", "s1", 0, 0, True, -1.0, 1, 1, 1), ("c", "s1", 0, 1, False, -5.0, 1, 1, 1)]
    for item in (1, 2, 3):  # subtask s2: every item wrong
        rows += [
            ("c", "s2", item, 0, True, -5.0, 1, 1, 1),
            ("c", "s2", item, 1, False, -1.0, 1, 1, 1),
        ]
    row = task_table(options_frame(rows)).iloc[0]
    assert (
        row["acc"] == 0.5 and row["n_items"] == 4 and row["n_subtasks"] == 2
    )  # item-weighted: 0.25


def test_item_table_rejects_items_without_exactly_one_correct_option():
    bad = HAND.assign(is_correct=False)
    with pytest.raises(DataError, match="task 't' item 0: 0 correct options"):
        item_table(bad)


def test_group_means_drops_incomplete_checkpoints_and_pools_perplexity():
    tasks = pd.DataFrame(
        {
            "model": ["m"] * 3,
            "step": [1, 1, 2],
            "task": ["a", "b", "a"],
            "acc": [0.2, 0.6, 0.5],
            "acc_sum": 0.0,
            "acc_char": 0.0,
            "acc_byte": 0.0,
            "random_baseline": [0.5, 0.25, 0.5],
            "correct_ppl": [2.0, 8.0, 3.0],
            "correct_tokens": [1, 3, 1],
            "incorrect_ppl": [4.0, 4.0, 5.0],
            "incorrect_tokens": [2, 2, 2],
        }
    )
    out = group_means(tasks, {"all": ["a", "b"], "only_a": ["a"], "none": ["zzz"]})
    full = out[out["group"] == "all"]
    assert full["step"].tolist() == [1]  # step 2 lacks task b
    row = full.iloc[0]
    assert row["acc"] == pytest.approx(0.4) and row["random_baseline"] == pytest.approx(0.375)
    assert row["correct_ppl"] == pytest.approx(math.exp((math.log(2) + 3 * math.log(8)) / 4))
    assert row["incorrect_ppl"] == pytest.approx(4.0)
    assert out[out["group"] == "only_a"]["acc"].tolist() == [0.2, 0.5]
    assert set(out["group"]) == {"all", "only_a"}


def test_scaling_shape_by_hand():
    linear = scaling_shape([0.2, 0.3, 0.4, 0.5])
    assert linear["improvement"] == pytest.approx(0.3)
    assert linear["linearity"] == pytest.approx(3.0) and linear[
        "breakthroughness"
    ] == pytest.approx(3.0)
    jump = scaling_shape([0.25, 0.25, 0.25, 0.55])
    assert jump["linearity"] == pytest.approx(0.3 / math.sqrt(0.09 / 3))
    assert jump["breakthroughness"] == math.inf
    down = scaling_shape([0.5, 0.4])
    assert down["improvement"] == pytest.approx(-0.1) and down["linearity"] == pytest.approx(-1.0)
    assert np.isnan(scaling_shape([0.5])["linearity"])


def test_scaling_table_orders_sizes_as_given():
    final = pd.DataFrame(
        {"task": ["x"] * 3, "model": ["big", "small", "mid"], "acc": [0.9, 0.1, 0.5]}
    )
    row = scaling_table(final, ["small", "mid", "big"]).iloc[0]
    assert row["improvement"] == pytest.approx(0.8) and row["linearity"] == pytest.approx(2.0)
    assert (row["acc_small"], row["acc_big"]) == (0.1, 0.9)


def test_ema():
    assert ema([1.0, 3.0, 3.0], 0.5).tolist() == [1.0, 2.0, 2.5]
