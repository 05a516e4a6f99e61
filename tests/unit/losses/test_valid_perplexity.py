"""The validation perplexity of a checkpoint comes from the validation-perplexity set, not the analysed tokens."""

import numpy as np
import pytest

from lmtraj.errors import DataError
from lmtraj.losses.valid_perplexity import VALID_SET, with_valid_perplexity


def analysis_meta(nll) -> dict:
    """What lmtraj.losses.records.checkpoint_meta records for the analysis tokens `nll`."""
    nll = np.asarray(nll, dtype=np.float64)
    return {
        "model": "m",
        "step": 8,
        "nll_sum": float(nll.sum()),
        "n_tokens": int(nll.size),
        "valid_nll": float(nll.mean()),
        "valid_ppl": float(np.exp(nll.mean())),
        "seconds": 1.0,
        "tokens_per_second": float(nll.size),
    }


def test_valid_ppl_is_of_the_ppl_set_and_the_analysis_mean_is_kept():
    analysis = [1.0, 2.0, 3.0, 6.0]  # mean 3
    ppl = np.array([0.5, 1.5], dtype=np.float32)  # mean 1
    meta = with_valid_perplexity(analysis_meta(analysis), ppl, seconds=2.0)
    assert meta["valid_nll"] == pytest.approx(1.0) and meta["valid_ppl"] == pytest.approx(np.e)
    assert meta["analysis_nll"] == pytest.approx(3.0)
    assert meta["valid_set"] == VALID_SET == "ppl_documents"
    assert meta["valid_n_tokens"] == 2 and meta["valid_nll_sum"] == pytest.approx(2.0)
    assert meta["nll_sum"] == pytest.approx(12.0) and meta["n_tokens"] == 4  # the .npy's tokens
    assert meta["tokens_per_second"] == pytest.approx(6 / 2.0)  # both sets were scored


def test_empty_or_non_finite_ppl_set_is_named():
    with pytest.raises(DataError, match=r"model 'm' step 8.*ppl_documents.*no scored token"):
        with_valid_perplexity(analysis_meta([1.0]), np.array([]), 1.0)
    with pytest.raises(DataError, match=r"model 'm' step 8: non-finite"):
        with_valid_perplexity(analysis_meta([1.0]), np.array([1.0, np.nan]), 1.0)
