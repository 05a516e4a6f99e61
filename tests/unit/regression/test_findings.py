"""The findings table: columns, verdicts from intervals, and "not in this run" with its reason.

The statistics themselves are tested with synthetic suites where the claim is true and where it is
false in tests/unit/trends/test_overlap.py, test_double_descent.py and test_finding_{texts,accuracy}.py;
here the table turns their intervals into rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lmtraj.errors import DataError
from lmtraj.regression.bootstrap import Bootstrap
from lmtraj.regression.findings import (
    ABSENT,
    COLUMNS,
    INCONCLUSIVE,
    NO,
    VERDICTS,
    YES,
    double_descent_rows,
    findings_table,
    generation_rows,
    overlap_rows,
)

BOOT = Bootstrap(n_boot=200, seed=1)
MODELS = ["s", "a", "b", "l"]


def overlap_tests(best: tuple[float, float, float]) -> pd.DataFrame:
    rows = []
    for score in ("rank_correlation", "jaccard"):
        for rival, (est, low, high) in {"flops": (0.2, 0.1, 0.3), "best": best}.items():
            rows.append(
                {
                    "score": score,
                    "rival": rival,
                    "estimate": est,
                    "ci_low": low,
                    "ci_high": high,
                    "n_pairs": 3,
                    "n_intervals": 40,
                }
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("best", "expected"),
    [((0.05, 0.01, 0.09), YES), ((0.02, -0.01, 0.05), INCONCLUSIVE), ((-0.1, -0.2, -0.05), NO)],
)
def test_overlap_verdict_follows_the_interval_of_the_best_rival(best, expected):
    rows = overlap_rows(overlap_tests(best))
    assert [r["verdict"] for r in rows] == [expected, expected]
    assert rows[0]["value_here"] == best[0]
    assert (rows[0]["ci_low"], rows[0]["ci_high"]) == best[1:]
    assert "flops 0.2 [0.1, 0.3]" in rows[0]["note"]
    assert "3 model pair(s), 40 reference intervals" in rows[0]["note"]


def test_overlap_absent_or_without_intervals():
    (row, _) = overlap_rows(None)
    assert row["verdict"] == ABSENT and "trends stage" in row["note"]
    empty = overlap_tests((np.nan, np.nan, np.nan))
    assert overlap_rows(empty)[0]["verdict"] == ABSENT
    with pytest.raises(DataError, match=r"lacks column\(s\) \['ci_low'\]"):
        overlap_rows(overlap_tests((0, 0, 0)).drop(columns="ci_low"))


def double_descent_table(
    excess: tuple[float, float, float], n_upward: int = 50, n_dd_upward: int = 20
) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "selector": "a",
                "fraction": 0.2,
                "model": "l",
                "n_upward": n_upward,
                "n_dd_upward": n_dd_upward,
                "upward_share": 0.094,
                "upward_share_ci_low": 0.08,
                "upward_share_ci_high": 0.11,
                "dd_share": 0.4,
                "dd_share_ci_low": 0.3,
                "dd_share_ci_high": 0.5,
                "control_share": 0.1,
                "excess": excess[0],
                "excess_ci_low": excess[1],
                "excess_ci_high": excess[2],
            }
        ]
    )


def test_double_descent_rows():
    (row,) = double_descent_rows(double_descent_table((0.3, 0.2, 0.4)))
    assert row["verdict"] == YES and row["finding"] == 1
    assert "upward in a after 0.2 of training, followed in l's whole trajectory" in row["statistic"]
    assert "9.4% [8.0, 11.0] of all tokens" in row["note"]
    (row,) = double_descent_rows(double_descent_table((0.0, -0.1, 0.1)))
    assert row["verdict"] == INCONCLUSIVE
    # no upward token rises and falls, and at the others' rate (0.1) 2 would: a zero-event share
    # has a zero-width bootstrap interval, which is no evidence either way
    (row,) = double_descent_rows(double_descent_table((-0.1, -0.12, -0.08), 20, n_dd_upward=0))
    assert row["verdict"] == INCONCLUSIVE and "too rare to compare" in row["note"]
    (row,) = double_descent_rows(double_descent_table((0.0, np.nan, np.nan), n_upward=0))
    assert row["verdict"] == ABSENT and "no upward token" in row["note"]
    assert double_descent_rows(None)[0]["verdict"] == ABSENT
    assert double_descent_rows(pd.DataFrame())[0]["note"] == "no model is larger than the selector"


def generation_inputs(n_prompts: int = 12) -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    """Texts decoded by s and l; non-decoders a and b find p_s-p_l texts harder with size."""
    rng = np.random.default_rng(0)
    sizes = pd.Series([1e6, 1e7, 1e8, 1e9], index=MODELS)
    texts = pd.DataFrame(
        [
            {"setting": s, "decoding": d, "max_new_tokens": 8, "prompt_doc": p}
            for s in ("p_s-p_l", "p_l")
            for d in ("greedy", "nucleus")
            for p in range(n_prompts)
        ]
    ).assign(small_model="s", large_model="l")
    texts.insert(0, "text_id", np.arange(len(texts)))
    rows = []
    for model in MODELS:
        for step in (0, 10, 20, 30):
            for t in texts.itertuples(index=False):
                sign = 1 if t.setting == "p_s-p_l" else -1
                level = 3 + sign * 0.3 * np.log10(sizes[model]) + rng.normal(0, 0.05)
                rows.append(
                    {
                        "text_id": t.text_id,
                        "model": model,
                        "step": step,
                        "nll_sum": 8 * level,
                        "n_tokens": 8,
                    }
                )
    return texts, pd.DataFrame(rows), sizes


def test_generation_rows_per_configuration():
    texts, scores, sizes = generation_inputs()
    rows = generation_rows(
        texts,
        scores,
        sizes,
        MODELS,
        setting="p_s-p_l",
        control="p_l",
        start_fraction=0.1,
        bootstrap=BOOT,
    )
    # per (decoding, length): inverse scaling and one trajectory per non-decoding model
    assert len(rows) == 2 * (1 + 2)
    scaling = [r for r in rows if "per decade of parameters" in r["statistic"]]
    assert [r["verdict"] for r in scaling] == [YES, YES]
    assert "decoding=greedy, max_new_tokens=8; control: p_l texts" in scaling[0]["statistic"]
    # flat trajectories: neither a fall nor a rise
    trajectories = [r for r in rows if "along training" in r["statistic"]]
    assert {r["verdict"] for r in trajectories} <= {NO, INCONCLUSIVE}
    assert "a's log PPL" in trajectories[0]["statistic"]


def test_a_run_without_stages_says_not_in_this_run_everywhere():
    table = findings_table(models=MODELS, bootstrap=BOOT)
    assert list(table.columns) == COLUMNS
    assert set(table["finding"]) == {1, 2, 3}
    assert set(table["verdict"]) == {ABSENT}
    assert table["note"].str.contains("not part of this run").all()
    assert table["value_here"].isna().all()


def test_full_table_has_known_verdicts_and_numeric_intervals():
    texts, scores, sizes = generation_inputs(n_prompts=6)
    checkpoints = pd.DataFrame({"model": MODELS, "step": 30, "params_total": sizes.to_numpy()})
    table = findings_table(
        models=MODELS,
        bootstrap=BOOT,
        overlap_tests=overlap_tests((0.05, 0.01, 0.09)),
        double_descent=double_descent_table((0.3, 0.2, 0.4)),
        texts=texts,
        text_scores=scores,
        checkpoints=checkpoints,
    )
    assert set(table["verdict"]) <= set(VERDICTS)
    measured = table[table["verdict"] != ABSENT]
    assert (measured["ci_low"] <= measured["ci_high"]).all()
    assert measured["null"].ne("").all()
    assert table.loc[table["finding"] == 3, "verdict"].eq(ABSENT).all()
