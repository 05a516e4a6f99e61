"""Group perplexity of every model's selected tokens on every model; the double-descent table, the
per-token patterns of the selected groups, and the token-level double descent of the selector's upward
tokens over each larger model's whole trajectory (with bootstrap intervals over documents)."""

import numpy as np
import pandas as pd

from _helpers import setup
from lmtraj.io import write_tsv
from lmtraj.regression.bootstrap import Bootstrap
from lmtraj.trends.classes import class_codes, fraction_tag
from lmtraj.trends.double_descent import (
    double_descent_table,
    group_curves,
    pattern_table,
    token_double_descent_table,
)

log = setup(snakemake)
params = snakemake.params
columns = ["doc"] + [f"class_{fraction_tag(f)}" for f in params.fractions]
classes, docs = {}, None
for model, path in zip(params.models, snakemake.input.tokens, strict=True):
    table = pd.read_parquet(path, columns=columns)
    classes[model] = {f: class_codes(table, f) for f in params.fractions}
    docs = table["doc"].to_numpy() if docs is None else docs
nll = {m: np.load(p) for m, p in zip(params.models, snakemake.input.trajectories, strict=True)}
checkpoints = pd.read_csv(snakemake.input.checkpoints, sep="\t")

curves = group_curves(classes, nll, checkpoints)
table = double_descent_table(curves, params.delta)
patterns = pattern_table(classes, nll, checkpoints, table, params.delta, params.pattern_classes)
for row in table[table["double_descent"]].itertuples(index=False):
    log.info(
        "double descent: %s tokens of %s (p=%g, %.1f%% of tokens) on %s: %.2f -> %.2f (step %d) -> %.2f",
        row.trend_class, row.selector, row.fraction, 100 * row.selected_share, row.model,
        row.start_ppl, row.peak_ppl, row.peak_step, row.end_ppl,
    )  # fmt: skip
log.info(
    "%d of %d group curves show double descent", int(table["double_descent"].sum()), len(table)
)
tokens = (
    token_double_descent_table(
        classes,
        nll,
        checkpoints,
        docs,
        selector=params.selector,
        fraction=params.selection_fraction,
        token_delta=params.token_delta,
        bootstrap=Bootstrap(**params.bootstrap),
    )
    if params.selector is not None
    else pd.DataFrame(columns=["selector", "fraction", "model"])  # a single model: nothing larger
)
for row in tokens.itertuples(index=False):
    log.info(
        "upward tokens of %s (p=%g, %.1f%% of tokens) rising and falling in %s: %.3f vs %.3f of "
        "the others (excess %.3f [%.3f, %.3f])",
        row.selector, row.fraction, 100 * row.upward_share, row.model, row.dd_share,
        row.control_share, row.excess, row.excess_ci_low, row.excess_ci_high,
    )  # fmt: skip
write_tsv(snakemake.output.curves, curves)
write_tsv(snakemake.output.table, table)
write_tsv(snakemake.output.patterns, patterns)
write_tsv(snakemake.output.tokens, tokens)
