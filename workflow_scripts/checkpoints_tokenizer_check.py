"""Fail early, naming the models, when the suite does not share the run's tokenizer."""

import pandas as pd

from _helpers import setup
from lmtraj.checkpoints.tokenizer_check import check_shared_tokenizer
from lmtraj.io import write_tsv
from lmtraj.tokenizer import load_tokenizer

log = setup(snakemake)
tok = load_tokenizer(snakemake.input.tokenizer)
table = check_shared_tokenizer(tok, snakemake.params.specs, log)
write_tsv(snakemake.output[0], pd.DataFrame(table))
