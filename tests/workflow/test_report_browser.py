"""The smoke run's HTML report in a real browser (headless Chromium) at 1400 x 1000.

Snakemake's report is a JavaScript app: what a reader sees exists only after its scripts ran. A probe
script is appended to a copy of the report; after the page loaded it measures the front page's heading
(inside the window, not covered by anything), then opens every figure through the report's own viewer
and records whether the browser decoded it, and writes its findings into the page, which
`chromium --dump-dom` prints. Skipped when no Chromium is installed (Debian: apt-get install chromium),
except under CI=true, where .ci/run installs it.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import SMOKE_CONFIG, run_snakemake

WIDTH, HEIGHT = 1400, 1000
CHROMIUM = next(
    (
        path
        for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
        if (path := shutil.which(name))
    ),
    None,
)

# Runs after the report's own scripts (it is appended at the end of <body>); `app` and `results` are
# the report's globals.
PROBE = """
<script>
window.addEventListener("load", () => setTimeout(async () => {
  const out = {viewport: [window.innerWidth, window.innerHeight], figures: {}};
  // The first heading of the workflow description (report/workflow.rst), not the menu's title.
  const heading = document.querySelector("#app .prose h1, #app .prose h2");
  if (heading) {
    const r = heading.getBoundingClientRect();
    const x = (Math.max(r.left, 0) + Math.min(r.right, window.innerWidth)) / 2;
    const hit = document.elementFromPoint(x, (r.top + r.bottom) / 2);
    out.heading = {text: heading.textContent.trim(), top: r.top, bottom: r.bottom, left: r.left,
                   right: r.right, uncovered: hit !== null && heading.contains(hit)};
  }
  const pause = (ms) => new Promise((done) => setTimeout(done, ms));
  for (const [path, entry] of Object.entries(results)) {
    if (!entry.mime_type.startsWith("image/")) continue;
    app.setView({content: "img", contentPath: entry.data_uri, resultPath: path});
    await pause(50);
    const img = [...document.querySelectorAll("#app img")].find(
      (candidate) => candidate.getAttribute("src") === entry.data_uri);
    if (img && !img.complete) {
      await Promise.race([
        new Promise((done) => { img.onload = done; img.onerror = done; }), pause(5000)]);
    }
    const decoded = Boolean(img && img.complete && img.naturalWidth > 0 && img.naturalHeight > 0);
    out.figures[path] = {decoded, width: img ? img.naturalWidth : 0, height: img ? img.naturalHeight : 0};
  }
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify(out);
  document.body.appendChild(probe);
}, 300));
</script>
"""


@pytest.fixture(scope="module")
def browser_view(request, tmp_path_factory) -> dict:
    if CHROMIUM is None:
        reason = "no chromium binary on PATH (Debian: apt-get install chromium)"
        if os.environ.get("CI") == "true":  # .ci/run installs it: CI must not skip this test
            pytest.fail(f"CI=true, so the browser test must run, but: {reason}")
        pytest.skip(reason)
    smoke_run: Path = request.getfixturevalue("smoke_run")  # only now: a skip costs no run
    folder = tmp_path_factory.mktemp("report_browser")
    report = folder / "report.html"
    run_snakemake(
        ["--configfile", str(SMOKE_CONFIG), "--report", str(report)], smoke_run, timeout=600
    )
    page = report.read_text()
    # The last </body> is the page's own (a bundled library quotes the tag too).
    head, body_end, tail = page.rpartition("</body>")
    assert body_end
    probed = folder / "probed.html"
    probed.write_text(head + PROBE + body_end + tail)
    proc = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={folder / 'profile'}",
            f"--window-size={WIDTH},{HEIGHT}",
            "--virtual-time-budget=60000",  # virtual ms: the page's timers run, the test does not wait
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    match = re.search(r'<pre id="probe">(.*?)</pre>', proc.stdout, re.S)
    assert match, (
        f"the probe did not report (chromium exit {proc.returncode}):\n{proc.stderr[-3000:]}"
    )
    return {"probe": json.loads(html.unescape(match.group(1))), "page": page}


def test_the_report_renders_at_the_window_size(browser_view):
    width, height = browser_view["probe"]["viewport"]  # the window less the browser's own bars
    assert width == WIDTH and 0.7 * HEIGHT < height <= HEIGHT


def test_front_page_heading_is_in_view(browser_view):
    heading = browser_view["probe"].get("heading")
    assert heading, "the front page has no heading (workflow.rst)"
    assert heading["text"]
    width, height = browser_view["probe"]["viewport"]
    assert 0 <= heading["top"] < heading["bottom"] <= height, heading
    assert 0 <= heading["left"] < heading["right"] <= width, heading
    assert heading["uncovered"], heading


def test_every_figure_loads(browser_view):
    embedded = re.search(r'<script id="results">\s*var results = (.*);\s*\n', browser_view["page"])
    results = json.loads(embedded.group(1))
    images = {path for path, entry in results.items() if entry["mime_type"].startswith("image/")}
    assert len(images) >= 10
    figures = browser_view["probe"]["figures"]
    assert set(figures) == images
    broken = {path: seen for path, seen in figures.items() if not seen["decoded"]}
    assert not broken, broken


def test_a_complete_run_writes_its_report(smoke_run):
    """rules/report.smk builds results/report.html after every complete run (onsuccess)."""
    report = smoke_run / "results" / "report.html"
    assert report.is_file()
    assert '<script id="results">' in report.read_text()
