"""The findings table: does each of the abstract's three findings hold on this run, with an interval
and a verdict per statistic (lmtraj.regression.findings); TSV and HTML."""

from pathlib import Path

import pandas as pd

from _helpers import optional_tsv, setup
from lmtraj.io import write_text, write_tsv
from lmtraj.regression.bootstrap import Bootstrap
from lmtraj.regression.findings import findings_table
from lmtraj.report.tables import html_page

log = setup(snakemake)
inp, out, p = snakemake.input, snakemake.output, snakemake.params
given = dict(inp.items())
read = optional_tsv(inp)
texts = pd.read_json(given["texts"], lines=True) if "texts" in given else None
text_scores = (
    pd.concat(
        [
            pd.read_parquet(f)
            for d in inp.text_scores
            for f in sorted(Path(d).glob("step*.parquet"))
        ],
        ignore_index=True,
    )
    if "text_scores" in given
    else None
)
bootstrap = Bootstrap(**p.bootstrap)
table = findings_table(
    models=p.models,
    bootstrap=bootstrap,
    overlap_tests=read("overlap_tests"),
    double_descent=read("double_descent"),
    texts=texts,
    text_scores=text_scores,
    checkpoints=read("checkpoints"),
    tasks=read("tasks"),
    items=pd.read_parquet(given["item_scores"]) if "item_scores" in given else None,
    generation_setting=p.generation_setting,
    control_setting=p.findings["control_setting"],
    start_fraction=p.generation_start_fraction,
    metric=p.metric,
    size_margin=p.findings["size_margin"],
    min_clusters=p.min_clusters,
    params_col=f"params_{p.params}",
)
log.info(
    "findings:\n%s",
    table[["finding", "statistic", "value_here", "ci_low", "ci_high", "verdict"]].to_string(
        index=False
    ),
)
write_tsv(out.tsv, table)
claims = table[["finding", "claim"]].drop_duplicates()
write_text(
    out.html,
    html_page(
        "Findings of this run",
        [
            ("Measured", table.drop(columns="claim"), ""),
            ("The abstract's findings", claims, ""),
        ],
        intro=f"Models (smallest first): {', '.join(p.models)}. Each statistic with its "
        f"{100 * bootstrap.confidence:g}% bootstrap interval ({bootstrap.n_boot} resamples, seed "
        f"{bootstrap.seed}). Verdict: yes when the whole interval lies on the claim's side of the null, "
        "no when it lies on the other side, inconclusive when it contains the null; 'not in this run' "
        "means the inputs of that statistic were not produced (stage disabled, or too few models, "
        "checkpoints or models that took no part in decoding); the note says which.",
        holds_column="verdict",
    ),
)
