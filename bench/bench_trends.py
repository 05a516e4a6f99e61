"""Benchmark: vectorised trend classification vs the authors' per-token statsmodels loop.

Paper scale: 102,350 tokens (50 PG-19 documents x 2047 predictions) x 36 checkpoints on OPT-125M's
grid (2K-38K every 4K, then 40K-560K every 20K without 180K), classified at p = 10%, 20%, ..., 70%.
The matrix is synthetic but shaped like real trajectories: power-law learning curves, a share of
tokens that are forgotten late (upward), near-constant easy tokens, token-specific noise and a few NaNs.

The reference is the authors' method (`statsmodels.OLS(y, add_constant(log step)).fit()` per token,
NaNs dropped, p-value of the slope, then the stagnation rule), run on a random subsample and scaled
to the full matrix. Labels must agree on the subsample.

Run: ``PYTHONPATH=workflow_scripts python bench/bench_trends.py`` (about a minute on 2 cores).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import statsmodels.api as sm

from lmtraj.trends.classes import (
    CLASSES,
    DOWNWARD,
    STAGNATED,
    UNCLASSIFIED,
    UPWARD,
    TrendRules,
    analyse_trends,
    trend_window,
)

OPT_125M_STEPS = np.array(
    [s for s in [*range(2000, 40000, 4000), *range(40000, 560001, 20000)] if s != 180000]
)
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)


def synthetic_trajectories(n_tokens: int, steps: np.ndarray, seed: int) -> np.ndarray:
    """float32 NLL (n_tokens, n_steps) with realistic mixtures of learning, forgetting and noise."""
    rng = np.random.default_rng(seed)
    t = (steps / steps[0]).astype(np.float64)[None, :]
    floor = rng.gamma(1.2, 1.5, size=(n_tokens, 1))  # final NLL: many easy tokens, a long hard tail
    amp = rng.gamma(2.0, 1.0, size=(n_tokens, 1))
    alpha = rng.uniform(0.2, 1.2, size=(n_tokens, 1))
    nll = floor + amp * t**-alpha
    kind = rng.random((n_tokens, 1))
    # ~12% are forgotten late: NLL climbs with log(step) after a token-specific onset
    onset = rng.uniform(np.log(20), np.log(200), size=(n_tokens, 1))
    nll += np.where(
        kind < 0.12,
        rng.uniform(0.05, 0.4, (n_tokens, 1)) * np.clip(np.log(t) - onset + 3, 0, None),
        0,
    )
    # ~10% are easy and settled: tiny NLL, tiny noise
    easy = (kind >= 0.12) & (kind < 0.22)
    nll = np.where(
        easy,
        rng.uniform(0.01, 0.2, (n_tokens, 1)) * (1 + 0.01 * rng.normal(size=nll.shape)),
        nll,
    )
    noise = rng.gamma(1.5, 0.15, size=(n_tokens, 1)) * rng.normal(size=nll.shape)
    nll = np.where(easy, nll, nll + noise)
    nll = np.clip(nll, 1e-4, None)
    # a few missing scores (about 3% of tokens have one), as NaN-dropping in the authors' code expects
    nll[rng.random(nll.shape) < 1e-3] = np.nan
    return nll.astype(np.float32)


def authors_loop(
    nll: np.ndarray, steps: np.ndarray, fraction: float, rules: TrendRules
) -> np.ndarray:
    """One statsmodels fit per token: the authors' method with their bugs fixed (see paper-spec §2)."""
    window = trend_window(steps, fraction)
    x_all = np.log(window.steps)
    labels = np.empty(nll.shape[0], dtype=np.int8)
    for r in range(nll.shape[0]):
        ppl = np.exp(nll[r, window.start :].astype(np.float64))
        keep = np.isfinite(ppl)
        y, x = ppl[keep] / ppl[keep][0], x_all[keep]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            reg = sm.OLS(y, sm.add_constant(x)).fit()
        slope, p = reg.params[1], reg.pvalues[1]
        gmean = np.exp(np.mean(np.log(ppl[keep])))
        near = all(
            1 - rules.tolerance <= v / gmean <= 1 + rules.tolerance
            for v in (ppl[keep][0], ppl[keep][-1])
        )
        if p < rules.p_value and slope > 0:
            labels[r] = UPWARD
        elif p < rules.p_value and slope < 0:
            labels[r] = DOWNWARD
        elif near:
            labels[r] = STAGNATED
        else:
            labels[r] = UNCLASSIFIED
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=102_350)
    parser.add_argument(
        "--subsample",
        type=int,
        default=300,
        help="tokens per fraction for the statsmodels loop",
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    steps = OPT_125M_STEPS
    nll = synthetic_trajectories(args.tokens, steps, args.seed)
    rules = TrendRules()
    print(
        f"matrix: {nll.shape[0]:,} tokens x {nll.shape[1]} checkpoints (OPT-125M grid), fractions {FRACTIONS}"
    )

    analyse_trends(
        nll[:1000], steps, FRACTIONS, rules=rules
    )  # warm-up: imports, first-touch allocations
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        results = analyse_trends(nll, steps, FRACTIONS, regressor="log_step", rules=rules)
        times.append(time.perf_counter() - t0)
    ours = min(times)
    print(
        f"vectorised: {ours:.3f} s for all {len(FRACTIONS)} fractions (best of {args.repeats}; runs {', '.join(f'{t:.3f}' for t in times)})"
    )

    rng = np.random.default_rng(args.seed + 1)
    sub = np.sort(rng.choice(nll.shape[0], size=min(args.subsample, nll.shape[0]), replace=False))
    loop_time, agree, total = 0.0, 0, 0
    for fraction, result in zip(FRACTIONS, results, strict=True):
        t0 = time.perf_counter()
        labels = authors_loop(nll[sub], steps, fraction, rules)
        loop_time += time.perf_counter() - t0
        agree += int((labels == result.classes[sub]).sum())
        total += sub.size
    scaled = loop_time * nll.shape[0] / sub.size
    print(
        f"statsmodels loop: {loop_time:.2f} s for {sub.size} tokens x {len(FRACTIONS)} fractions -> {scaled:.0f} s scaled to {nll.shape[0]:,} tokens"
    )
    print(
        f"speed-up: {scaled / ours:,.0f}x   (target >= 100x; vectorised target < 2 s: {'met' if ours < 2 else 'NOT met'})"
    )
    print(f"labels agree on the subsample: {agree}/{total} ({agree / total:.2%})")
    for fraction, result in zip(FRACTIONS, results, strict=True):
        shares = np.bincount(result.classes, minlength=len(CLASSES)) / result.classes.size
        print(
            f"  p={fraction:.1f}: "
            + "  ".join(f"{n} {100 * s:4.1f}%" for n, s in zip(CLASSES, shares, strict=True))
        )
    if agree != total:
        raise SystemExit("label mismatch between the vectorised code and the statsmodels loop")


if __name__ == "__main__":
    main()
