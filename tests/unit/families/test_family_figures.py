"""Families figures on hand-built tables: two families with a model name in common, their colours and
line styles, the valid_bpb join of the cross-family generation plot, its errors, and both rule scripts
run as Snakemake runs them (a `snakemake` object in the script's globals) writing png + pdf."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT
from matplotlib.colors import to_rgba

from lmtraj.errors import DataError
from lmtraj.families.figures import (
    family_shades,
    plot_cross_generation,
    plot_valid_bpb,
    scale_for,
)

FAMILIES = ["alpha", "beta"]
# "small" is in both families: lines must be told apart by family, not by model name.
MODELS = {"alpha": ["small", "large"], "beta": ["small", "mid", "big"]}
STEPS = [0, 10, 20]


def checkpoints_table() -> pd.DataFrame:
    """valid_bpb = 4 - step/10 - size index/4 - 0.1 for beta: every point a known, distinct value."""
    rows = []
    for family in FAMILIES:
        for i, model in enumerate(MODELS[family]):
            params = 1e5 * 10**i
            for step in STEPS:
                rows.append(
                    {
                        "family": family,
                        "model": model,
                        "step": step,
                        "tokens_seen": 1000 * step,
                        "flops": 6 * params * 1000 * step,
                        "params_total": params,
                        "params_non_embedding": params / 2,
                        "valid_nll": 1.0,
                        "valid_ppl": 2.7,
                        "valid_bpb": 4.0 - step / 10 - i / 4 - 0.1 * (family == "beta"),
                    }
                )
    return pd.DataFrame(rows)


def generation_table() -> pd.DataFrame:
    """alpha's texts scored by beta and beta's by alpha, two settings; bits_per_byte spans > 4x."""
    rows = []
    for decoder, scorer in [("alpha", "beta"), ("beta", "alpha")]:
        for i, model in enumerate(MODELS[scorer]):
            for step in STEPS:
                for setting in ["p_s-p_l", "p_l"]:
                    rows.append(
                        {
                            "scorer_family": scorer,
                            "model": model,
                            "step": step,
                            "decoder_family": decoder,
                            "setting": setting,
                            "decoding": "greedy",
                            "max_new_tokens": 32,
                            "ppl_token": 5.0,
                            "bits_per_byte": 8.0 / (1 + step) + i,
                            "n_texts": 4,
                            "n_tokens": 100,
                            "n_bytes": 400,
                            "nll_sum": 160.0,
                        }
                    )
    return pd.DataFrame(rows)


def test_valid_bpb_one_line_per_family_model_without_step_zero():
    fig = plot_valid_bpb(checkpoints_table(), FAMILIES, MODELS)
    flops_ax, tokens_ax = fig.axes[:2]
    expected = ["alpha: small", "alpha: large", "beta: small", "beta: mid", "beta: big"]
    for ax in (flops_ax, tokens_ax):
        assert [line.get_label() for line in ax.lines] == expected
        assert ax.get_xscale() == "log"
        assert ax.get_ylabel() == "validation bits per byte"
    assert flops_ax.get_xlabel() == "FLOPs" and tokens_ax.get_xlabel() == "tokens seen"
    beta_small = tokens_ax.lines[2]
    np.testing.assert_array_equal(beta_small.get_xdata(), [10000, 20000])  # step 0 left out
    np.testing.assert_allclose(beta_small.get_ydata(), [2.9, 1.9])
    # The legend names family and model.
    legend = [t.get_text() for t in tokens_ax.get_legend().get_texts()]
    assert legend == expected


def test_valid_bpb_colour_map_and_line_style_per_family():
    fig = plot_valid_bpb(checkpoints_table(), FAMILIES, MODELS)
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    alpha = [lines["alpha: small"], lines["alpha: large"]]
    beta = [lines["beta: small"], lines["beta: mid"], lines["beta: big"]]
    assert {line.get_linestyle() for line in alpha} != {line.get_linestyle() for line in beta}
    assert len({line.get_linestyle() for line in alpha}) == 1
    # Sizes run light to dark within a family: the sum of RGB falls with size.
    for family in (alpha, beta):
        brightness = [sum(to_rgba(line.get_color())[:3]) for line in family]
        assert brightness == sorted(brightness, reverse=True) and len(set(brightness)) == len(
            family
        )
    # The two families' hues differ: "small" of alpha is not coloured like "small" of beta.
    assert to_rgba(lines["alpha: small"].get_color()) != to_rgba(lines["beta: small"].get_color())


def test_family_shades_single_model_and_scale_rule():
    shades = family_shades(["only"], {"only": ["m"]})
    assert list(shades) == [("only", "m")]
    assert scale_for([1.0, 3.9]) == "linear" and scale_for([1.0, 4.0]) == "log"
    assert scale_for([0.0, 100.0]) == "linear" and scale_for([np.nan]) == "linear"


def test_valid_bpb_errors_name_table_and_column_or_model():
    with pytest.raises(DataError, match="checkpoints.tsv: no column 'valid_bpb'"):
        plot_valid_bpb(checkpoints_table().drop(columns="valid_bpb"), FAMILIES, MODELS)
    with pytest.raises(DataError, match="family 'beta', model 'huge'"):
        plot_valid_bpb(checkpoints_table(), FAMILIES, {**MODELS, "beta": ["huge"]})


def test_cross_generation_panels_join_and_titles():
    fig = plot_cross_generation(generation_table(), checkpoints_table(), "p_l", "greedy", 32)
    assert len(fig.axes) == 2
    first, second = fig.axes
    assert first.get_title() == "alpha \u2192 beta (p_l)"
    assert second.get_title() == "beta \u2192 alpha (p_l)"
    # One line per scoring model of the scorer family, in size order.
    assert [line.get_label() for line in first.lines] == ["small", "mid", "big"]
    assert [line.get_label() for line in second.lines] == ["small", "large"]
    # x = the scorer checkpoint's valid_bpb (beta "mid": 4 - step/10 - 1/4 - 0.1), y = bits per byte.
    x, y = first.lines[1].get_data()
    np.testing.assert_allclose(x, [3.65, 2.65, 1.65])
    np.testing.assert_allclose(y, [9.0, 8.0 / 11 + 1, 8.0 / 21 + 1])
    # Training runs left to right: high bits per byte on the left; y spans > 4x, so log.
    assert first.xaxis_inverted() and first.get_yscale() == "log"
    assert first.get_xscale() == "linear"  # valid_bpb spans under 4x
    assert "p_l" in fig.get_suptitle() and "greedy" in fig.get_suptitle()


def test_cross_generation_lines_coloured_like_the_valid_bpb_plot():
    cp = checkpoints_table()
    bpb = plot_valid_bpb(cp, FAMILIES, MODELS)
    gen = plot_cross_generation(generation_table(), cp, "p_s-p_l", "greedy", 32)
    reference = {line.get_label(): line for line in bpb.axes[0].lines}
    for line in gen.axes[0].lines:  # scored by beta
        ref = reference[f"beta: {line.get_label()}"]
        assert to_rgba(line.get_color()) == to_rgba(ref.get_color())
        assert line.get_linestyle() == ref.get_linestyle()


def test_cross_generation_only_pairs_present():
    table = generation_table()
    table = table[table["decoder_family"] == "beta"]
    fig = plot_cross_generation(table, checkpoints_table(), "p_l", "greedy", 32)
    assert [ax.get_title() for ax in fig.axes] == ["beta \u2192 alpha (p_l)"]


def test_cross_generation_errors():
    table, cp = generation_table(), checkpoints_table()
    with pytest.raises(
        DataError,
        match=r"generation_perplexity.tsv: no rows for setting 'p_s', decoding 'greedy', "
        r"max_new_tokens 32",
    ):
        plot_cross_generation(table, cp, "p_s", "greedy", 32)
    with pytest.raises(DataError, match="decoding 'nucleus', max_new_tokens 64"):
        plot_cross_generation(table, cp, "p_l", "nucleus", 64)
    with pytest.raises(DataError, match="generation_perplexity.tsv: no column 'bits_per_byte'"):
        plot_cross_generation(table.drop(columns="bits_per_byte"), cp, "p_l", "greedy", 32)
    # A scoring checkpoint with no checkpoints.tsv row has no x: named, not dropped.
    lacking = cp[~((cp["family"] == "alpha") & (cp["model"] == "large") & (cp["step"] == 20))]
    with pytest.raises(
        DataError, match="scorer_family 'alpha', model 'large', step 20 has no valid_bpb"
    ):
        plot_cross_generation(table, lacking, "p_l", "greedy", 32)
    doubled = pd.concat([cp, cp.iloc[[0]]])
    with pytest.raises(DataError, match="listed twice"):
        plot_cross_generation(table, doubled, "p_l", "greedy", 32)


JOB = """
import json, runpy, sys, types
sys.path.insert(0, {scripts!r})
spec = json.loads({spec!r})
class Named(list):
    def __init__(self, items, **named):
        super().__init__(items)
        self.__dict__.update(named)
snakemake = types.SimpleNamespace(
    rule=spec["rule"],
    input=Named(list(spec["input"].values()), **spec["input"]),
    output=Named(spec["output"]),
    params=types.SimpleNamespace(**spec["params"]),
    wildcards=Named([]),
    log=Named([spec["log"]]),
)
snakemake.wildcards.items = lambda: []
runpy.run_path({script!r}, init_globals={{"snakemake": snakemake}}, run_name="__main__")
"""


def run_script(name: str, spec: dict) -> None:
    """Run a rule script in a fresh interpreter, as Snakemake would (its env changes stay there)."""
    code = JOB.format(
        scripts=str(ROOT / "workflow_scripts"),
        spec=json.dumps(spec),
        script=str(ROOT / "workflow_scripts" / name),
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def assert_figure_files(png) -> None:
    for path in (png, png.with_suffix(".pdf")):
        assert path.exists() and path.stat().st_size > 5000, path
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"


def test_valid_bpb_script_writes_png_and_pdf(tmp_path):
    checkpoints = tmp_path / "checkpoints.tsv"
    checkpoints_table().to_csv(checkpoints, sep="\t", index=False)
    png = tmp_path / "figures" / "valid_bpb.png"
    png.parent.mkdir()
    run_script(
        "families_plot_valid_bpb.py",
        {
            "rule": "families_plot_valid_bpb",
            "input": {"checkpoints": str(checkpoints)},
            "output": [str(png)],
            "params": {"families": FAMILIES, "models": MODELS},
            "log": str(tmp_path / "logs" / "valid_bpb.log"),
        },
    )
    assert_figure_files(png)


def test_generation_script_one_png_per_panel_in_order(tmp_path):
    checkpoints, table = tmp_path / "checkpoints.tsv", tmp_path / "generation_perplexity.tsv"
    checkpoints_table().to_csv(checkpoints, sep="\t", index=False)
    generation_table().to_csv(table, sep="\t", index=False)
    outputs = [tmp_path / "cross_p_l.png", tmp_path / "cross_p_s-p_l.png"]
    run_script(
        "families_plot_generation.py",
        {
            "rule": "families_plot_generation",
            "input": {"table": str(table), "checkpoints": str(checkpoints)},
            "output": [str(p) for p in outputs],
            "params": {
                "panels": [
                    {"setting": "p_l", "decoding": "greedy", "max_new_tokens": 32},
                    {"setting": "p_s-p_l", "decoding": "greedy", "max_new_tokens": 32},
                ]
            },
            "log": str(tmp_path / "logs" / "generation.log"),
        },
    )
    for png in outputs:
        assert_figure_files(png)
    assert outputs[0].read_bytes() != outputs[1].read_bytes()
    assert "cross_p_s-p_l.png" in (tmp_path / "logs" / "generation.log").read_text()
