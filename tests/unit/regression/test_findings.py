"""Tests for lmtraj.regression.findings: each finding holds, fails, or is marked absent on hand-made tables."""

from __future__ import annotations

import pandas as pd
import pytest

from lmtraj.errors import DataError
from lmtraj.regression.findings import (
    ABSENT,
    COLUMNS,
    NO,
    YES,
    findings_table,
    generation_finding,
    loso_finding,
    overlap_finding,
)

MODELS = ["s", "m", "l"]


def test_overlap_finding_holds_only_when_perplexity_matching_is_highest():
    overlap = pd.DataFrame(
        {
            "model_a": ["s", "s", "s", "s", "s", "s"],
            "model_b": ["l"] * 6,
            "matching": ["valid_ppl", "valid_ppl", "flops", "flops", "step", "step"],
            "jaccard": [0.5, 0.3, 0.2, 0.3, 0.1, 0.1],
        }
    )
    (row,) = overlap_finding(overlap)
    assert row["holds"] == YES
    assert row["value_here"] == "valid_ppl 0.400, flops 0.250, step 0.100"
    overlap.loc[overlap["matching"] == "flops", "jaccard"] = 0.45
    assert overlap_finding(overlap)[0]["holds"] == NO
    # Ties do not count as "highest".
    overlap.loc[overlap["matching"] == "flops", "jaccard"] = 0.4
    assert overlap_finding(overlap)[0]["holds"] == NO


def test_overlap_finding_absent_or_incomplete():
    assert overlap_finding(None)[0]["holds"] == ABSENT
    only_ppl = pd.DataFrame({"matching": ["valid_ppl"], "jaccard": [0.5]})
    (row,) = overlap_finding(only_ppl)
    assert row["holds"] == ABSENT
    assert "at least one other matching" in row["note"]
    with pytest.raises(DataError, match=r"lacks column\(s\) \['jaccard'\]"):
        overlap_finding(pd.DataFrame({"matching": ["valid_ppl"]}))


def generation_table(
    final_ppl: dict[str, float], smallest_first: float, two_configs: bool = False
) -> pd.DataFrame:
    rows = []
    for model, final in final_ppl.items():
        first = smallest_first if model == MODELS[0] else 80.0
        rows += [
            {"model": model, "step": 2, "setting": "p_s-p_l", "ppl": first},
            {"model": model, "step": 10, "setting": "p_s-p_l", "ppl": final},
            # A p_l row that must be ignored.
            {"model": model, "step": 10, "setting": "p_l", "ppl": 1.0},
        ]
    table = pd.DataFrame(rows).assign(decoding="nucleus", max_new_tokens=50)
    if two_configs:
        table = pd.concat(
            [table, table.assign(decoding="greedy", ppl=table["ppl"][::-1].to_numpy())]
        )
    return table


def test_generation_finding_with_the_papers_pattern():
    # Paper (nucleus, 50 tokens): final PPL rises with size; 125M falls from ~80 to 41.5.
    table = generation_table({"s": 41.5, "m": 88.3, "l": 120.7}, smallest_first=80.0)
    rank_row, fall_row = generation_finding(table, MODELS)
    assert rank_row["holds"] == YES
    assert rank_row["value_here"].startswith("rho 1.00; s 41.5, m 88.3, l 120.7")
    assert "decoding=nucleus, max_new_tokens=50" in rank_row["statistic"]
    assert fall_row["holds"] == YES
    assert fall_row["value_here"].startswith(f"{41.5 / 80:.3f} (s: 80 at step 2")


def test_generation_finding_fails_on_normal_scaling_and_splits_configs():
    table = generation_table({"s": 120.0, "m": 90.0, "l": 40.0}, smallest_first=100.0)
    rank_row, fall_row = generation_finding(table, MODELS)
    assert rank_row["holds"] == NO
    assert fall_row["holds"] == NO  # 120 / 100 > 1
    rows = generation_finding(
        generation_table({"s": 41.5, "m": 88.3, "l": 120.7}, 80.0, two_configs=True),
        MODELS,
    )
    assert len(rows) == 4


def test_generation_finding_starts_the_fall_after_the_initial_collapse():
    table = generation_table({"s": 41.5, "m": 88.3, "l": 120.7}, smallest_first=80.0)
    # Step 0 (untrained: about vocabulary-size perplexity) is before 10% of training (step 1 of 10).
    untrained = table.loc[table["step"] == 2].assign(step=0, ppl=4096.0)
    (_, fall_row) = generation_finding(pd.concat([untrained, table]), MODELS)
    assert fall_row["value_here"] == f"{41.5 / 80:.3f} (s: 80 at step 2 -> 41.5 at step 10)"
    assert "at 0.1 of training" in fall_row["statistic"]
    # A window that holds only the last checkpoint cannot show a fall.
    (_, fall_row) = generation_finding(table, MODELS, start_fraction=0.9)
    assert fall_row["holds"] == ABSENT
    assert "no checkpoint between 0.9 of training and its last" in fall_row["note"]


def test_generation_finding_absent_cases():
    assert [r["holds"] for r in generation_finding(None, MODELS)] == [ABSENT, ABSENT]
    table = generation_table({"s": 41.5, "m": 88.3, "l": 120.7}, 80.0)
    rows = generation_finding(table, MODELS, setting="p_l-p_s")
    assert [r["holds"] for r in rows] == [ABSENT, ABSENT]
    assert "settings present: ['p_l', 'p_s-p_l']" in rows[0]["note"]
    with pytest.raises(DataError, match=r"model\(s\) \['x'\] not in the run's models"):
        generation_finding(table.assign(model="x"), MODELS)


def loso_summary(rmse: dict[str, float], complete: dict[str, bool] | None = None) -> pd.DataFrame:
    complete = complete or {}
    return pd.DataFrame(
        [
            {
                "response": "accuracy",
                "subset": "mean",
                "predictor": p,
                "rmse_pooled": v,
                "complete": complete.get(p, True),
            }
            for p, v in rmse.items()
        ]
        + [
            {
                "response": "accuracy",
                "subset": "t1",
                "predictor": "log_flops",
                "rmse_pooled": 0.0,
                "complete": True,
            }
        ]
    )


def test_loso_finding():
    summary = loso_summary(
        {
            "log_ppl": 0.01,
            "log_flops": 0.05,
            "log_params_tokens": 0.04,
            "log_ppl_params": 0.012,
        }
    )
    best, size_adds = loso_finding(summary)
    assert best["holds"] == YES
    assert (
        best["value_here"]
        == "log_ppl 0.01, log_ppl_params 0.012, log_params_tokens 0.04, log_flops 0.05"
    )
    assert size_adds["holds"] == YES
    assert size_adds["value_here"] == "ratio 1.200 (log_ppl_params 0.012 / log_ppl 0.01)"
    # A task-level log_flops RMSE of 0 must not count against the mean-accuracy comparison (it did not).
    summary = loso_summary(
        {
            "log_ppl": 0.05,
            "log_flops": 0.04,
            "log_params_tokens": 0.06,
            "log_ppl_params": 0.01,
        }
    )
    best, size_adds = loso_finding(summary)
    assert (best["holds"], size_adds["holds"]) == (NO, NO)


def test_loso_finding_with_two_sizes_compares_only_what_is_evaluable():
    summary = loso_summary(
        {
            "log_ppl": 0.01,
            "log_flops": 0.05,
            "log_params_tokens": float("nan"),
            "log_ppl_params": float("nan"),
        },
        complete={"log_params_tokens": False, "log_ppl_params": False},
    )
    best, size_adds = loso_finding(summary)
    assert best["holds"] == YES
    assert "log_params_tokens" in best["note"]
    assert size_adds["holds"] == ABSENT
    assert [r["holds"] for r in loso_finding(None)] == [ABSENT, ABSENT]


def test_findings_table_shape_and_order():
    table = findings_table(models=MODELS)
    assert list(table.columns) == COLUMNS
    assert table["finding"].tolist() == [1, 2, 2, 3, 3]
    assert (table["holds"] == ABSENT).all()


def test_overlap_finding_reads_the_token_overlap_summary():
    # lmtraj.trends.overlap's summary: per pair, plus "all" rows (the mean over pairs) that take precedence.
    summary = pd.DataFrame(
        {
            "model_a": ["s", "s", "s", "all", "all", "all"],
            "model_b": ["l", "l", "l", "all", "all", "all"],
            "matching": ["valid_ppl", "flops", "step"] * 2,
            "mean_jaccard": [0.9, 0.1, 0.1, 0.3, 0.35, 0.2],
        }
    )
    (row,) = overlap_finding(summary)
    assert row["value_here"] == "flops 0.350, valid_ppl 0.300, step 0.200"
    assert row["holds"] == NO
