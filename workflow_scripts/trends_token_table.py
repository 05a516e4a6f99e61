"""Table 3: one validation document with its tokens coloured by trend class, for two models (HTML)."""

import pandas as pd

from _helpers import setup
from lmtraj.io import write_text
from lmtraj.trends import class_codes, fraction_tag
from lmtraj.trends_figures import token_table_html

log = setup(snakemake)  # noqa: F821
params = snakemake.params  # noqa: F821
tokens = pd.read_parquet(snakemake.input.tokens)  # noqa: F821
column = f"class_{fraction_tag(params.fraction)}"
classes = {
    model: class_codes(pd.read_parquet(path, columns=[column]), params.fraction)
    for model, path in zip(params.models, snakemake.input.classes, strict=True)  # noqa: F821
}
page = token_table_html(tokens, classes, params.doc, params.fraction, params.max_tokens)
write_text(snakemake.output[0], page)  # noqa: F821
