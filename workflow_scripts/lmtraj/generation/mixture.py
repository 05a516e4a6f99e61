"""Interpolated next-token distributions (Xia et al. 2023, §4.2, Eq. 2-3): the settings (λ_s, λ_l),
the mixture p(x) ∝ max(λ_s·p_s(x) + λ_l·p_l(x), 0), and reproducible greedy / nucleus picks from it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lmtraj.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    """One interpolation p' = lambda_small·p_s + lambda_large·p_l, with a stable name."""

    name: str
    lambda_small: float
    lambda_large: float


# The paper's five configurations (λ1 on the small model, λ2 on the large one).
NAMED_SETTINGS: dict[str, tuple[float, float]] = {
    "p_s-p_l": (1.0, -1.0),
    "p_s": (1.0, 0.0),
    "p_s+p_l": (1.0, 1.0),
    "p_l": (0.0, 1.0),
    "p_l-p_s": (-1.0, 1.0),
}


def setting_name(lambda_small: float, lambda_large: float) -> str:
    """Paper name when there is one, else e.g. '1*p_s-0.8*p_l' for a grid point."""
    for name, pair in NAMED_SETTINGS.items():
        if math.isclose(pair[0], lambda_small) and math.isclose(pair[1], lambda_large):
            return name
    return f"{lambda_small:g}*p_s{lambda_large:+g}*p_l"


def make_settings(
    names: Sequence[str] = tuple(NAMED_SETTINGS),
    grid: Sequence[Sequence[float]] = (),
) -> list[Setting]:
    """Named settings, then (λ_s, λ_l) grid points, without duplicates, in that order.

    Raises ConfigError for an unknown name, a λ outside [-1, 1], or a pair with no positive weight (every
    score would be <= 0 at every step, so nothing could ever be decoded).
    """
    pairs: list[tuple[float, float]] = []
    for name in names:
        if name not in NAMED_SETTINGS:
            raise ConfigError(
                f"generation.settings: unknown setting {name!r}; allowed: {sorted(NAMED_SETTINGS)}"
            )
        pairs.append(NAMED_SETTINGS[name])
    for point in grid:
        if len(point) != 2:
            raise ConfigError(
                f"generation.lambda_grid: each point is [lambda_small, lambda_large], got {point!r}"
            )
        pairs.append((float(point[0]), float(point[1])))
    settings: list[Setting] = []
    seen: set[str] = set()
    for lam_s, lam_l in pairs:
        if not (-1.0 <= lam_s <= 1.0 and -1.0 <= lam_l <= 1.0):
            raise ConfigError(
                f"generation: lambdas must lie in [-1, 1] (paper Eq. 2), got ({lam_s}, {lam_l})"
            )
        setting = Setting(setting_name(lam_s, lam_l), lam_s, lam_l)
        check_setting(setting)
        if setting.name not in seen:
            seen.add(setting.name)
            settings.append(setting)
    if not settings:
        raise ConfigError("generation: no settings selected (settings and lambda_grid are empty)")
    return settings


# ---------------------------------------------------------------------------------------------------
# The distribution and the choice of a token


def interpolate(
    p_small: torch.Tensor,
    p_large: torch.Tensor,
    lambda_small: float,
    lambda_large: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eq. 2-3 on (..., V) probabilities: return (renormalised p, mask of rows with no positive score).

    Degenerate rows come back as all zeros; the caller decides what to do with them.
    """
    scores = (lambda_small * p_small + lambda_large * p_large).clamp_min(0.0)
    total = scores.sum(dim=-1, keepdim=True)
    degenerate = ~(total > 0).squeeze(-1)
    probs = torch.where(total > 0, scores / torch.where(total > 0, total, 1.0), 0.0)
    return probs, degenerate


def pick_tokens(
    probs: torch.Tensor, decoding: str, top_p: float, uniforms: torch.Tensor
) -> torch.Tensor:
    """Choose one token per row of (B, V) probabilities.

    Greedy: argmax. Nucleus: keep the most probable tokens until their mass reaches top_p (at least one),
    then invert the CDF of the kept mass at `uniforms` (B,) in [0, 1).
    """
    if decoding == "greedy":
        return probs.argmax(dim=-1)
    sorted_p, order = probs.sort(dim=-1, descending=True)
    mass_before = sorted_p.cumsum(dim=-1) - sorted_p
    kept = torch.where(mass_before < top_p, sorted_p, 0.0).double()
    cdf = kept.cumsum(dim=-1)
    target = uniforms.to(cdf).unsqueeze(-1) * cdf[:, -1:]
    # First index whose CDF exceeds the target; zero-width (dropped) tokens can never be hit.
    idx = torch.searchsorted(cdf, target, right=True).clamp_max(probs.shape[-1] - 1)
    return order.gather(-1, idx).squeeze(-1)


def prompt_uniforms(seed: int, prompt_keys: Sequence[int], n_steps: int) -> torch.Tensor:
    """(n_prompts, n_steps) float64 uniforms, one independent stream per (seed, prompt key)."""
    return torch.from_numpy(
        np.stack([np.random.default_rng([seed, int(k)]).random(n_steps) for k in prompt_keys])
    )


def check_setting(setting: Setting) -> None:
    if setting.lambda_small <= 0 and setting.lambda_large <= 0:
        raise ConfigError(
            f"generation: setting {setting.name} ({setting.lambda_small}, {setting.lambda_large}) has "
            "no positive weight, so every interpolated score is <= 0 at every step"
        )
