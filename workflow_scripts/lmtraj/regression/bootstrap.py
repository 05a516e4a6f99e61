"""Cluster bootstrap, percentile intervals and the verdict rule of the findings table.

Every statistic that decides a verdict is computed once on the data (the point estimate) and again on
``n_boot`` resamples of its *clusters*: documents for per-token statistics (tokens of one document are
not independent), prompts for generated texts (the texts of one prompt share it across settings), tasks
and their items for accuracies. A resample is represented by its multiplicity weights (how often each
cluster was drawn), so a statistic that is a ratio of sums over clusters is one matrix product per
resample (`cluster_weights`).

The interval is the percentile interval of the resampled statistic at level ``confidence``
(`percentile_interval`). The verdict (`verdict`) compares that interval with the statistic's null:
``yes`` when it lies entirely on the claim's side, ``no`` when it lies entirely on the other side,
``inconclusive`` when it contains the null. An equivalence claim ("size adds nothing") instead needs its
interval inside ``(-margin, margin)`` (`equivalence_verdict`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lmtraj.errors import ConfigError

YES, NO, INCONCLUSIVE, ABSENT = "yes", "no", "inconclusive", "not in this run"
VERDICTS = (YES, NO, INCONCLUSIVE, ABSENT)


@dataclass(frozen=True)
class Bootstrap:
    """How intervals are computed: resamples, the seed of their generator, the interval level."""

    n_boot: int = 1000
    seed: int = 0
    confidence: float = 0.95

    def __post_init__(self) -> None:
        if int(self.n_boot) < 1:
            raise ConfigError(f"regression.findings.bootstrap must be >= 1, got {self.n_boot!r}")
        if not 0 < self.confidence < 1:
            raise ConfigError(
                f"regression.findings.confidence must be in (0, 1), got {self.confidence!r}"
            )

    def rng(self, *stream: int) -> np.random.Generator:
        """A generator for one statistic: the same seed and stream always give the same resamples."""
        return np.random.default_rng([int(self.seed), *map(int, stream)])


def cluster_weights(n_clusters: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n_clusters) float multiplicities of `n_clusters` drawn with replacement, per resample."""
    if n_clusters < 1:
        return np.zeros((n_boot, 0))
    draws = rng.integers(0, n_clusters, size=(n_boot, n_clusters))
    weights = np.zeros((n_boot, n_clusters))
    np.add.at(weights, (np.arange(n_boot)[:, None], draws), 1.0)
    return weights


def percentile_interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    """(low, high) percentiles of the finite `samples`; NaN when fewer than two are finite."""
    values = np.asarray(samples, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size < 2:
        return np.nan, np.nan
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def verdict(ci_low: float, ci_high: float, null: float = 0.0) -> str:
    """``yes`` if the interval lies above `null`, ``no`` if below, else ``inconclusive``.

    The claim is always phrased so that larger is the claim's side (a statistic is negated otherwise).
    An interval that could not be computed (NaN) is inconclusive, never a yes.
    """
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return INCONCLUSIVE
    if ci_low > null:
        return YES
    if ci_high < null:
        return NO
    return INCONCLUSIVE


def equivalence_verdict(ci_low: float, ci_high: float, margin: float) -> str:
    """``yes`` if the interval lies inside (-margin, margin) (the effect is negligible), else ``no`` if
    it excludes 0 (an effect that is not shown to be negligible), else ``inconclusive``."""
    if margin <= 0:
        raise ConfigError(f"an equivalence margin must be > 0, got {margin!r}")
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)):
        return INCONCLUSIVE
    if -margin < ci_low and ci_high < margin:
        return YES
    if ci_low > 0 or ci_high < 0:
        return NO
    return INCONCLUSIVE


def two_folds(n_clusters: int, rng: np.random.Generator) -> np.ndarray:
    """Boolean mask of a random half of `n_clusters` (fold A; the rest is fold B), for cross-fitting:
    a turning point chosen on one fold is evaluated on the other, so the noise that placed it there
    does not also make the curve look as if it turned."""
    mask = np.zeros(n_clusters, dtype=bool)
    mask[rng.permutation(n_clusters)[: n_clusters // 2]] = True
    return mask


def bootstrap_params(findings: dict, run_seed: int) -> dict:
    """The ``Bootstrap`` keyword arguments from ``regression.findings`` (a null seed is the run's)."""
    seed = run_seed if findings.get("seed") is None else findings["seed"]
    return {
        "n_boot": int(findings["bootstrap"]),
        "seed": int(seed),
        "confidence": float(findings["confidence"]),
    }
