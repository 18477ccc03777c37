"""One reader per format behind one interface (see base.py), chosen by content, then suffix.

`sniff(data, suffix)` names the format from the file's first bytes (magic numbers), falling
back to the suffix for formats without one (plain text, Markdown, HTML without a doctype);
`read(data, fmt)` returns a `ReadResult` or raises `ReaderError`. Reader modules are imported
only when a file of their format is met, so a folder of .txt files never loads a PDF library.
"""

from __future__ import annotations

import importlib
import io
import zipfile

from assistant.readers.base import ReaderError, ReadResult
from assistant.types import Page, Section

__all__ = ["Page", "ReadResult", "ReaderError", "SUFFIXES", "Section", "read", "sniff"]

VERSION = "1"
"""The readers' version: part of a file's source hash, so that a change in how a format is read
makes every file of it parsed again on the next ingest (bump it when a reader changes)."""

SUFFIXES: dict[str, str] = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".pdf": "pdf",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".docx": "docx",
    ".epub": "epub",
}
"""Suffix -> format for every file type the assistant reads. A format's module registers its
suffixes here when it is added (assistant/readers/<module>.py, see MODULES)."""

MODULES: dict[str, str] = {
    "text": "text",
    "markdown": "text",
    "pdf": "pdf",
    "html": "html",
    "docx": "docx",
    "epub": "epub",
}
"""Format -> module in this package that reads it (its `read(data: bytes, fmt: str)`)."""


def sniff(data: bytes, suffix: str) -> str | None:
    """The format of a file from its content, else from its suffix; None when unsupported.

    Content wins over the suffix for every format with a registered reader and a magic number
    (a PDF named .txt is read as PDF once `pdf` is in MODULES); otherwise the suffix decides,
    and a suffix that is not in SUFFIXES is unsupported."""
    head = data[:1024]
    if head.startswith(b"%PDF-") and "pdf" in MODULES:
        return "pdf"
    suffix = suffix.lower()
    if head.startswith(b"PK\x03\x04"):
        return _sniff_zip(data, suffix)
    if _looks_like_html(head):
        return "html"
    return SUFFIXES.get(suffix)


_EPUB_MIMETYPE = b"application/epub+zip"


def _sniff_zip(data: bytes, suffix: str) -> str | None:
    """EPUB when its `mimetype` member says so, DOCX when it has word/document.xml; a zip that
    cannot be opened (truncated) is named by the member names in its local headers."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as box:
            names = set(box.namelist())
            info = box.getinfo("mimetype") if "mimetype" in names else None
            if info is not None and info.file_size <= 64 and not info.flag_bits & 0x1:
                if box.read(info).strip() == _EPUB_MIMETYPE:
                    return "epub"
            if "word/document.xml" in names:
                return "docx"
            if "META-INF/container.xml" in names:
                return "epub"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError,
            RuntimeError, NotImplementedError):
        if data[30:38] == b"mimetype" and _EPUB_MIMETYPE in data[38:80]:
            return "epub"
        if b"word/document.xml" in data or b"word/_rels/" in data:
            return "docx"
    # Neither: the suffix's reader says what is wrong with it (a damaged .docx, a .txt that is
    # binary); a zip with an unknown suffix is unsupported.
    return SUFFIXES.get(suffix)


def _looks_like_html(head: bytes) -> bool:
    """`<!doctype html` or `<html` at the start, after a BOM, an XML declaration or comments."""
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    for _ in range(8):
        if text.startswith(b"<?xml") and b"?>" in text:
            text = text.split(b"?>", 1)[1].lstrip()
        elif text.startswith(b"<!--") and b"-->" in text:
            text = text.split(b"-->", 1)[1].lstrip()
        else:
            break
    return text.startswith((b"<!doctype html", b"<html"))


def read(data: bytes, fmt: str) -> ReadResult:
    """Read `data` as format `fmt` (as named by `sniff`)."""
    module = importlib.import_module(f"assistant.readers.{MODULES[fmt]}")
    return module.read(data, fmt)
