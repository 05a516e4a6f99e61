"""The machine a benchmark ran on, for its first printed line: every ratio names its CPU."""

from __future__ import annotations

import platform
from pathlib import Path


def cpu_and_flags() -> tuple[str, set[str]]:
    """(CPU model name, its /proc/cpuinfo flags); the platform's name and no flags where there is none."""
    cpu, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                cpu = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
    except OSError:
        pass
    return cpu, flags
