"""The docs name what exists: every `lmtraj...` reference imports, every function named with call
parentheses is defined, every path of the architecture page's layout is in the repo."""

from __future__ import annotations

import importlib
import re

import pytest
from conftest import ROOT

DOCS = [
    ROOT / "README.md",
    ROOT / "docs" / "architecture.md",
    ROOT / "bench" / "README.md",
    ROOT / "config" / "README.md",
    ROOT / "profiles" / "README.md",
]
DOCS = [p for p in DOCS if p.exists()]


def _resolves(dotted: str) -> bool:
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attr in parts[cut:]:
            if not hasattr(obj, attr):
                return False
            obj = getattr(obj, attr)
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_lmtraj_references_import(doc):
    refs = sorted(set(re.findall(r"\blmtraj(?:\.[A-Za-z_][A-Za-z0-9_]*)+", doc.read_text())))
    broken = [r for r in refs if not _resolves(r)]
    assert not broken, f"{doc.name} names what does not exist: {broken}"


def test_functions_named_in_the_architecture_page_exist():
    text = (ROOT / "docs" / "architecture.md").read_text()
    named = set(re.findall(r"`(?:[\w.]+\.)?([a-z_][a-z0-9_]*)\(", text))
    defined = set()
    for path in [*ROOT.glob("rules/*.smk"), *ROOT.glob("workflow_scripts/**/*.py")]:
        defined |= set(re.findall(r"^\s*def ([a-z_][a-z0-9_]*)\(", path.read_text(), re.M))
    builtin = {"mkdir", "replace", "directory"}  # Path.mkdir, os.replace, Snakemake's directory()
    assert not (named - defined - builtin), sorted(named - defined - builtin)


def test_layout_paths_exist():
    text = (ROOT / "docs" / "architecture.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    missing = []
    for line in block.splitlines():
        token = line.split(" ", 1)[0]
        if not token or "<" in token or not re.search(r"[./]", token):
            continue
        for path in token.split(","):
            if not (ROOT / path.rstrip("/")).exists():
                missing.append(path)
    assert not missing, missing
