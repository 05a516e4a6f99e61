"""Cleaning of raw texts: one normalisation for every source (newlines, whitespace, control
characters, Project Gutenberg boilerplate), paragraphs separated by exactly one blank line.
"""

from __future__ import annotations

import re
import unicodedata

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


def decode_bytes(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")
