"""The findings table: does each of the abstract's three findings hold on this run? (TSV and HTML)"""

from _helpers import optional_tsv, setup
from lmtraj.io import write_text, write_tsv
from lmtraj.regression.findings import findings_table
from lmtraj.report.tables import html_page

log = setup(snakemake)
inp, out, p = snakemake.input, snakemake.output, snakemake.params
read = optional_tsv(inp)
table = findings_table(
    models=p.models,
    overlap=read("overlap"),
    generation=read("generation"),
    loso_summary=read("loso_summary"),
    generation_setting=p.generation_setting,
    generation_start_fraction=p.generation_start_fraction,
)
log.info("findings:\n%s", table.drop(columns="claim").to_string(index=False))
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
        intro=f"Models (smallest first): {', '.join(p.models)}. 'not in this run' means the inputs of "
        "that finding were not produced (stage disabled, or too few models or checkpoints); the note says "
        "which.",
        holds_column="holds",
    ),
)
