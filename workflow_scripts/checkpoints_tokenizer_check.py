"""Fail early, naming the models, when the suite does not share the run's tokenizer."""

import pandas as pd

from _helpers import setup
from lmtraj.io import write_tsv
from lmtraj.tokenizer import load_tokenizer
from lmtraj.tokenizer_check import check_shared_tokenizer

log = setup(snakemake)  # noqa: F821
tok = load_tokenizer(snakemake.input.tokenizer)  # noqa: F821
table = check_shared_tokenizer(tok, snakemake.params.specs, log)  # noqa: F821
write_tsv(snakemake.output[0], pd.DataFrame(table))  # noqa: F821
