"""Observed vs predicted accuracy per predictor, and the leave-one-size-out error of every predictor."""

import matplotlib.pyplot as plt
import pandas as pd

from _helpers import setup
from lmtraj.io import save_figure
from lmtraj.regression.figures import loso_rmse_bars, observed_vs_predicted

log = setup(snakemake)
inp, out, p = snakemake.input, snakemake.output, snakemake.params
predictions = pd.read_csv(inp.predictions, sep="\t")
summary = pd.read_csv(inp.loso_summary, sep="\t")
fig = observed_vs_predicted(predictions, p.models, response="accuracy", subset="mean")
save_figure(fig, out.observed)
plt.close(fig)
fig = loso_rmse_bars(summary)
save_figure(fig, out.loso)
plt.close(fig)
