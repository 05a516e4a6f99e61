"""Table 3: one validation document with its tokens coloured by trend class, for two models (HTML)."""

import pandas as pd

from _helpers import setup
from lmtraj.io import write_text
from lmtraj.trends.classes import class_codes, fraction_tag
from lmtraj.trends.token_table import token_table_html

log = setup(snakemake)
params = snakemake.params
tokens = pd.read_parquet(snakemake.input.tokens)
column = f"class_{fraction_tag(params.fraction)}"
classes = {
    model: class_codes(pd.read_parquet(path, columns=[column]), params.fraction)
    for model, path in zip(params.models, snakemake.input.classes, strict=True)
}
page = token_table_html(tokens, classes, params.doc, params.fraction, params.max_tokens)
write_text(snakemake.output[0], page)
