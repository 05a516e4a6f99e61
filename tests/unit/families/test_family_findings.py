"""Findings across model families on synthetic suites (no training): bits per byte transfers across
families where accuracy follows it and sizes are shifted between families, and is never claimed where
accuracy follows size; a real family offset is not absorbed; too few families or models give absent rows."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from conftest import ROOT

from lmtraj.errors import DataError
from lmtraj.families.findings import (
    POINT_COLUMNS,
    family_rows,
    findings_table,
    pooled_points,
)
from lmtraj.families.pooled_fits import resample_weights, weighted_ols
from lmtraj.regression.findings import COLUMNS

BOOT = {"n_boot": 200, "confidence": 0.95, "seed": 5}
# Three families whose sizes are shifted: "beta" needs 30x the parameters of "alpha" for the same bits
# per byte, "gamma" a third; each has its own tokenizer (bytes per token), so perplexity per token is not
# comparable across them either.
FAMILIES = {
    "alpha": {"sizes": [1e6, 3e6, 1e7, 3e7], "efficiency": 1.0, "bytes_per_token": 4.0},
    "beta": {"sizes": [3e7, 1e8, 3e8, 1e9], "efficiency": 1 / 30, "bytes_per_token": 2.5},
    "gamma": {"sizes": [3e5, 1e6, 3e6, 1e7], "efficiency": 3.0, "bytes_per_token": 3.2},
}


def checkpoints(family: str, spec: dict, n_steps: int = 8) -> pd.DataFrame:
    """Chinchilla-shaped bits per byte (E + A/N_eff^a + B/D^b) with a step-0 checkpoint (no FLOPs);
    model names repeat across families."""
    rows = []
    for i, n in enumerate(spec["sizes"]):
        batch = 2e4 * (n / 1e6) ** 0.3
        for step in [0, *np.geomspace(100, 10000, n_steps).round()]:
            tokens = batch * step
            bpb = (
                0.6 + 12 / (n * spec["efficiency"]) ** 0.25 + (60 / tokens**0.3 if tokens else 5.0)
            )
            nll = bpb * np.log(2) * spec["bytes_per_token"]  # nats per token
            rows.append(
                {
                    "model": f"m{i}",
                    "step": int(step),
                    "tokens_seen": tokens,
                    "flops": 6 * n * tokens,
                    "params_total": n,
                    "params_non_embedding": 0.8 * n,
                    "valid_nll": nll,
                    "valid_ppl": float(np.exp(nll)),
                    "valid_bpb": bpb,
                }
            )
    return pd.DataFrame(rows)


def means_for(ckpts: pd.DataFrame, accuracy: np.ndarray) -> pd.DataFrame:
    """The bigbench stage's means: a ``group == "all"`` row per checkpoint plus another group's row."""
    base = ckpts[["model", "step"]].assign(n_tasks=8, random_baseline=0.25)
    return pd.concat(
        [
            base.assign(group="all", accuracy=accuracy),
            base.assign(group="json", accuracy=0.0),
        ],
        ignore_index=True,
    )


def by_bpb(ck: pd.DataFrame, family: str) -> np.ndarray:
    """Accuracy a function of bits per byte alone (about 0.2 to 0.55)."""
    return 0.6 - 0.5 * np.log10(ck["valid_bpb"].to_numpy())


def by_size(ck: pd.DataFrame, family: str) -> np.ndarray:
    """Accuracy a function of parameters alone, the same in every family."""
    return 0.1 + 0.06 * np.log10(ck["params_total"].to_numpy())


def suite(accuracy_of, *, families=FAMILIES, shuffle_bpb=False, offset=None, seed=0, noise=0.005):
    """family -> (checkpoints, means): accuracy from `accuracy_of` plus a per-model offset and
    per-checkpoint noise; `shuffle_bpb` permutes bits per byte within each family after the accuracy is
    drawn (so it is unrelated to accuracy); `offset` adds a constant per family."""
    rng = np.random.default_rng(seed)
    tables = {}
    for family, spec in families.items():
        ck = checkpoints(family, spec)
        model_effect = ck["model"].map({m: rng.normal(0, noise) for m in ck["model"].unique()})
        acc = accuracy_of(ck, family) + model_effect.to_numpy() + rng.normal(0, noise, len(ck))
        acc += (offset or {}).get(family, 0.0)
        if shuffle_bpb:
            ck["valid_bpb"] = rng.permutation(ck["valid_bpb"].to_numpy())
        tables[family] = (ck, means_for(ck, acc))
    return tables


def rows_of(tables, **options) -> dict[tuple[str, str], dict]:
    """Rows keyed by (claim kind, rival or family)."""
    points = pooled_points(tables)
    rows = family_rows(points, **(BOOT | options))
    out = {}
    for row in rows:
        stat = row["statistic"]
        if stat.startswith("leave-one-family-out"):
            key = ("transfer", "size" if "log10 parameters minus" in stat else "compute")
        elif stat.startswith("leave-one-model-out"):
            key = ("factor", "size" if "log10 parameters minus" in stat else "compute")
        else:
            key = ("absorbed", stat.split("'")[1])
        out[key] = row
    return out


# ----------------------------------------------------------------------------------------------------
# Points


def test_points_join_the_all_group_drop_untrained_and_keep_families_apart():
    tables = suite(by_bpb)
    points = pooled_points(tables)
    assert list(points.columns) == POINT_COLUMNS
    # 3 families x 4 models x 8 trained steps; step 0 (no FLOPs) and the "json" group are gone
    assert len(points) == 3 * 4 * 8 and (points["step"] > 0).all()
    assert not points.duplicated(["family", "model", "step"]).any()
    # the same model name in two families is two models
    assert points.groupby(["family", "model"]).ngroups == 12
    ck, means = tables["beta"]
    row = points.query("family == 'beta' and model == 'm2'").iloc[-1]
    want = ck.query("model == 'm2'").iloc[-1]
    assert row["log10_valid_bpb"] == pytest.approx(np.log10(want["valid_bpb"]))
    assert row["log10_valid_ppl"] == pytest.approx(np.log10(want["valid_ppl"]))
    assert row["log10_params"] == pytest.approx(np.log10(3e8))
    assert row["log10_flops"] == pytest.approx(np.log10(want["flops"]))
    acc = means.query("group == 'all' and model == 'm2'")["accuracy"].iloc[-1]
    assert row["accuracy"] == pytest.approx(acc)


def test_bad_tables_raise_data_errors_naming_the_family_and_column():
    ck, means = suite(by_bpb)["alpha"]
    with pytest.raises(DataError, match=r"family 'fam'.*checkpoints.*\['valid_bpb'\]"):
        pooled_points({"fam": (ck.drop(columns="valid_bpb"), means)})
    with pytest.raises(DataError, match=r"family 'fam'.*BIG-bench means.*\['accuracy'\]"):
        pooled_points({"fam": (ck, means.drop(columns="accuracy"))})
    with pytest.raises(DataError, match=r"family 'fam': no trained checkpoint"):
        pooled_points({"fam": (ck, means.query("group != 'all'"))})
    with pytest.raises(DataError, match=r"family 'fam': no trained checkpoint"):
        pooled_points({"fam": (ck.assign(flops=0.0), means)})
    with pytest.raises(DataError, match=r"family 'fam'.*valid_bpb must be positive; model 'm0'"):
        pooled_points({"fam": (ck.assign(valid_bpb=np.nan), means)})
    with pytest.raises(DataError, match=r"family 'fam'.*flops must be positive"):
        pooled_points({"fam": (ck.assign(flops=-ck["flops"]), means)})
    with pytest.raises(DataError, match=r"family 'fam'.*duplicate row for model 'm0' step 0"):
        pooled_points({"fam": (pd.concat([ck, ck.iloc[:1]]), means)})
    with pytest.raises(DataError, match="no family given"):
        pooled_points({})
    with pytest.raises(DataError, match=r"points table lacks column\(s\) \['accuracy'\]"):
        family_rows(pooled_points({"fam": (ck, means)}).drop(columns="accuracy"), **BOOT)


# ----------------------------------------------------------------------------------------------------
# Fits


def test_weighted_ols_is_ols_on_repeated_rows_and_nan_when_not_identifiable():
    rng = np.random.default_rng(0)
    x = np.column_stack([np.ones(6), rng.normal(size=6)])
    y = rng.normal(size=6)
    w = np.array([[1, 1, 1, 1, 1, 1], [2, 0, 1, 1, 0, 3], [0, 0, 0, 0, 4, 2]], dtype=float)
    coef = weighted_ols(x, y, w)
    repeat = np.repeat(np.arange(6), w[1].astype(int))
    np.testing.assert_allclose(coef[0], np.linalg.lstsq(x, y, rcond=None)[0])
    np.testing.assert_allclose(coef[1], np.linalg.lstsq(x[repeat], y[repeat], rcond=None)[0])
    # two distinct rows identify a line; a constant predictor does not
    assert np.isfinite(coef[2]).all()
    flat = np.column_stack([np.ones(6), np.full(6, 2.0)])
    assert np.isnan(weighted_ols(flat, y, w)).all()


def test_resamples_draw_models_within_each_family():
    points = pooled_points(suite(by_bpb))
    w = resample_weights(points, 50, np.random.default_rng(1))
    assert w.shape == (51, len(points)) and (w[0] == 1).all()
    per_model = pd.DataFrame(w[1:].T).groupby([points["family"], points["model"]]).first()
    # constant within a model, and each family keeps its number of models in every resample
    spread = pd.DataFrame(w[1:].T).groupby([points["family"], points["model"]]).nunique()
    assert (spread == 1).all().all()
    assert (per_model.groupby(level="family").sum() == 4).all().all()


def test_family_effect_is_the_family_coefficient_of_the_formula():
    tables = suite(by_bpb, offset={"beta": 0.1, "gamma": -0.05})
    points = pooled_points(tables)
    fit = smf.ols("accuracy ~ log10_valid_bpb + C(family)", data=points).fit()
    rows = rows_of(tables)
    assert rows["absorbed", "beta"]["value_here"] == pytest.approx(fit.params["C(family)[T.beta]"])
    assert rows["absorbed", "gamma"]["value_here"] == pytest.approx(
        fit.params["C(family)[T.gamma]"]
    )


# ----------------------------------------------------------------------------------------------------
# Verdicts


def test_bits_per_byte_transfers_where_accuracy_follows_it():
    rows = rows_of(suite(by_bpb))
    for key in [("transfer", "size"), ("transfer", "compute"), ("factor", "size")]:
        row = rows[key]
        assert 0 < row["ci_low"] <= row["value_here"] <= row["ci_high"], (key, row)
        assert row["verdict"] == "yes", (key, row)
    compute = rows["factor", "compute"]
    assert 0 < compute["ci_low"] <= compute["value_here"] <= compute["ci_high"], compute
    assert compute["verdict"] == "yes", compute
    assert rows["transfer", "size"]["finding"] == "families"
    assert (
        "3 families ['alpha', 'beta', 'gamma'], 12 models, 96 checkpoints"
        in (rows["transfer", "size"]["note"])
    )
    # no family offset: bits per byte absorbs the family, inside the margin
    for family in ("beta", "gamma"):
        row = rows["absorbed", family]
        assert -0.02 < row["ci_low"] <= row["value_here"] <= row["ci_high"] < 0.02, row
        assert row["ci_low"] < 0 < row["ci_high"]
        assert row["verdict"] == "yes", row


def test_size_not_bits_per_byte_is_a_no():
    rows = rows_of(suite(by_size, shuffle_bpb=True))
    for key in [("transfer", "size"), ("transfer", "compute"), ("factor", "size")]:
        row = rows[key]
        assert row["ci_low"] <= row["value_here"] <= row["ci_high"] < 0, (key, row)
        assert row["verdict"] == "no", (key, row)
    compute = rows["factor", "compute"]
    assert compute["ci_high"] < 0 and compute["verdict"] == "no", compute


def test_a_real_family_offset_is_not_absorbed():
    rows = rows_of(suite(by_bpb, offset={"beta": 0.1}))
    beta = rows["absorbed", "beta"]
    assert 0.02 < beta["ci_low"] < 0.1 < beta["ci_high"], beta
    assert beta["verdict"] == "no"
    gamma = rows["absorbed", "gamma"]
    assert gamma["ci_low"] < 0 < gamma["ci_high"] and gamma["verdict"] == "yes", gamma
    # the offset makes the families differ at the same bits per byte: it no longer transfers
    assert rows["transfer", "size"]["verdict"] != "yes"


def test_two_models_per_family_give_no_verdict_where_resamples_are_not_identifiable():
    two = {f: FAMILIES[f] | {"sizes": FAMILIES[f]["sizes"][1:3]} for f in ("alpha", "beta")}
    rows = rows_of(suite(by_bpb, families=two))
    # a leave-one-model-out fit needs another model of the held-out family, and a size fit on one family
    # needs two of its sizes: identifiable only in resamples that keep both models of every family
    for key in [("transfer", "size"), ("factor", "size"), ("factor", "compute")]:
        row = rows[key]
        assert np.isfinite(row["value_here"]) and row["value_here"] > 0, (key, row)
        assert row["verdict"] == "inconclusive", (key, row)
        assert "too few models per family to resample" in row["note"], (key, row)
    # compute varies along every trajectory: identifiable in every resample, so it has a verdict
    compute = rows["transfer", "compute"]
    assert "200 of 200 resamples identifiable" in compute["note"]
    assert 0 < compute["ci_low"] <= compute["value_here"] <= compute["ci_high"]
    assert compute["verdict"] == "yes"


def test_too_few_families_or_models_are_absent_rows():
    tables = suite(by_bpb)
    one = findings_table({"alpha": tables["alpha"]}, **BOOT)
    assert list(one.columns) == COLUMNS and len(one) == 5
    assert (one["verdict"] == "not in this run").all()
    assert one["note"].str.contains(r"needs at least 2 model families, got \['alpha'\]").all()
    assert one[["value_here", "ci_low", "ci_high"]].isna().all().all()
    ck, means = tables["beta"]
    lonely = {"alpha": tables["alpha"], "beta": (ck.query("model == 'm0'"), means)}
    table = findings_table(lonely, **BOOT)
    assert (table["verdict"] == "not in this run").all()
    assert table["note"].str.contains(r"models per family: \{'beta': 1\}").all()


def test_the_table_is_deterministic_given_the_seed():
    tables = suite(by_bpb)
    first = findings_table(tables, **BOOT)
    assert list(first.columns) == COLUMNS and len(first) == 6
    pd.testing.assert_frame_equal(first, findings_table(tables, **BOOT))
    other = findings_table(tables, **(BOOT | {"seed": 6}))
    assert not np.allclose(first["ci_low"], other["ci_low"])
    np.testing.assert_allclose(first["value_here"], other["value_here"])


# ----------------------------------------------------------------------------------------------------
# Rule script

SCRIPT = """
import runpy, sys, types
sys.path.insert(0, {scripts!r})
files = {files!r}
snakemake = types.SimpleNamespace(
    rule="families_findings",
    log=[files["log"]],
    wildcards={{}},
    input=types.SimpleNamespace(checkpoints=files["checkpoints"], means=files["means"]),
    output=types.SimpleNamespace(points=files["points"], findings=files["findings"]),
    params=types.SimpleNamespace(
        families=files["families"], findings={{"bootstrap": 50, "confidence": 0.9, "seed": 1}}
    ),
)
runpy.run_path({script!r}, init_globals={{"snakemake": snakemake}}, run_name="__main__")
"""


def test_rule_script_writes_points_and_findings(tmp_path):
    files = {"families": [], "checkpoints": [], "means": []}
    for family, (ck, means) in suite(by_bpb).items():
        files["families"].append(family)
        for name, table in (("checkpoints", ck), ("means", means)):
            path = tmp_path / f"{family}_{name}.tsv"
            table.to_csv(path, sep="\t", index=False)
            files[name].append(str(path))
    for name in ("points", "findings"):
        files[name] = str(tmp_path / f"{name}.tsv")
    files["log"] = str(tmp_path / "families_findings.log")
    code = SCRIPT.format(
        scripts=str(ROOT / "workflow_scripts"),
        files=files,
        script=str(ROOT / "workflow_scripts" / "families_findings.py"),
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    points = pd.read_csv(files["points"], sep="\t")
    findings = pd.read_csv(files["findings"], sep="\t")
    assert list(points.columns) == POINT_COLUMNS and len(points) == 96
    assert list(findings.columns) == COLUMNS and len(findings) == 6
    assert set(findings["verdict"]) <= {"yes", "no", "inconclusive"}
