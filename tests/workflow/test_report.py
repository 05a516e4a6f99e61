"""The HTML report of the smoke run: self-contained, every reported file in it, findings first.

"Every reported file" is taken from the rule files themselves: each `report("<path pattern>", ...)` in
rules/*.smk is matched against the files the run produced, so a file dropped from the report, or a
reported file the run did not make, fails here. Patterns must therefore be string literals (a report()
of a variable is invisible to this test; none is part of the smoke run).
"""

from __future__ import annotations

import base64
import json
import re
from importlib import metadata
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import ROOT, SMOKE_CONFIG, run_snakemake

# The paper's order: findings first, the four analyses, the regression, then the run's details. The
# report's menu sorts categories by name, hence the numbers.
CATEGORIES = [
    "0. findings",
    "1. checkpoints",
    "1. losses",
    "2. trends",
    "3. generation",
    "4. bigbench",
    "5. regression",
    "6. run",
]


def report_patterns() -> list[str]:
    marker = re.compile(r'report\(\s*"([^"]+)"')
    return [
        p for f in sorted((ROOT / "rules").glob("*.smk")) for p in marker.findall(f.read_text())
    ]


def pattern_regex(pattern: str) -> re.Pattern:
    parts = re.split(r"\{[^}]+\}", pattern)
    return re.compile("[^/]+".join(re.escape(p) for p in parts) + r"\Z")


def script_json(page: str, name: str):
    match = re.search(rf'<script id="{name}">\s*var {name} = (.*);\s*\n', page)
    assert match, f"no `var {name}` in the report"
    return json.loads(match.group(1))


@pytest.fixture(scope="module")
def report(smoke_run: Path, tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("report") / "report.html"
    run_snakemake(
        ["--configfile", str(SMOKE_CONFIG), "--report", str(path)], smoke_run, timeout=600
    )
    page = path.read_text()
    return {
        "page": page,
        "results": script_json(page, "results"),
        "categories": script_json(page, "categories"),
    }


def produced_report_files(run: Path) -> set[str]:
    regexes = [pattern_regex(p) for p in report_patterns()]
    files = {str(f.relative_to(run)) for f in (run / "results").rglob("*") if f.is_file()}
    return {f for f in files if any(r.match(f) for r in regexes)}


def test_every_reported_file_is_embedded(report, smoke_run):
    produced = produced_report_files(smoke_run)
    assert len(produced) >= 10
    assert set(report["results"]) == produced
    for path, entry in report["results"].items():
        # Self-contained: the file's bytes are in the page as a data URI.
        header, _, data = entry["data_uri"].partition(",")
        assert header.startswith("data:") and header.endswith(";base64"), path
        assert base64.b64decode(data) == (smoke_run / path).read_bytes(), path
        assert entry["caption"].strip(), f"{path} has no caption"


def test_every_figure_is_reported(report, smoke_run):
    figures = {
        str(f.relative_to(smoke_run)) for f in (smoke_run / "results").rglob("figures/*.png")
    }
    assert figures
    assert figures <= set(report["results"])
    for png in figures:  # and the PDF for papers sits beside each PNG
        assert (smoke_run / png).with_suffix(".pdf").is_file(), png


def test_categories_follow_the_papers_order(report):
    categories = report["categories"]
    assert set(categories) <= set(CATEGORIES)
    for needed in ("0. findings", "1. losses", "2. trends", "3. generation", "6. run"):
        assert needed in categories
    assert sorted(categories)[0] == "0. findings"
    for category, subcategories in categories.items():
        for paths in subcategories.values():
            for path in paths:
                stage = path.split("/")[1]
                if path.startswith("results/regression/findings."):
                    assert category == "0. findings", path
                elif stage == "report":
                    assert category == "6. run", path
                else:
                    assert category.split(". ", 1)[1] == stage, path


def test_front_page_summarises_the_findings(report, smoke_run):
    """The front page names every claim and its verdicts; the full table is the findings category."""
    from markupsafe import escape

    findings = pd.read_csv(smoke_run / "results/regression/findings.tsv", sep="\t")
    assert set(findings["finding"]) == {1, 2, 3}
    page = report["page"]
    front = page[page.index("Findings of this run") :]
    front = front[: front.index("Stages")]
    for claim in findings["claim"].unique():
        assert str(escape(claim)) in front
    # each claim's verdicts, counted: "<b>inconclusive</b> (2)"
    for _, rows in findings.groupby("finding"):
        for verdict, same in rows.groupby("verdict"):
            assert f"<b>{escape(verdict)}</b> ({len(same)})" in front
    assert "<table" not in front


def test_no_external_resources(report):
    loads = re.findall(r'<(?:script|img|link|iframe)\b[^>]*(?:src|href)="https?://', report["page"])
    assert loads == []


def test_run_info_and_config(smoke_run):
    info = pd.read_csv(smoke_run / "results/report/run_info.tsv", sep="\t").set_index("key")[
        "value"
    ]
    for package in ("snakemake", "pandas", "numpy", "statsmodels", "matplotlib"):
        assert info[f"package {package}"] == metadata.version(package)
    config = yaml.safe_load((smoke_run / "results/report/config.yaml").read_text())
    smoke = yaml.safe_load(SMOKE_CONFIG.read_text())
    assert list(config["models"]) == list(smoke["models"])
    assert info["models"] == ", ".join(smoke["models"])
    # Defaults from the schema are filled in.
    assert config["regression"]["predictors"][0] == "log_ppl"
