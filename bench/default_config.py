"""The embedded default (config.yaml) a benchmark measures: its workload follows the config, so a
changed default cannot leave a benchmark timing a shape or stride the workflow no longer runs."""

from __future__ import annotations

from pathlib import Path

import yaml

CONFIG = Path(__file__).resolve().parents[1] / "config.yaml"


def load() -> dict:
    return yaml.safe_load(CONFIG.read_text())


def largest_model(cfg: dict) -> dict:
    """The last model of `models`: config order is size order (smallest first)."""
    return list(cfg["models"].values())[-1]
