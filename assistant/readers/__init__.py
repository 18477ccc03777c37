"""One reader per format behind one interface (see base.py), chosen by content, then suffix.

`sniff(data, suffix)` names the format from the file's first bytes (magic numbers), falling
back to the suffix for formats without one (plain text, Markdown, HTML without a doctype);
`read(data, fmt)` returns a `ReadResult` or raises `ReaderError`. Reader modules are imported
only when a file of their format is met, so a folder of .txt files never loads a PDF library.
"""

from __future__ import annotations

import importlib

from assistant.readers.base import Page, ReaderError, ReadResult, Section

__all__ = ["Page", "ReadResult", "ReaderError", "SUFFIXES", "Section", "read", "sniff"]

SUFFIXES: dict[str, str] = {
    ".txt": "text",
    ".md": "markdown",
    ".markdown": "markdown",
}
"""Suffix -> format for every file type the assistant reads. A format's module registers its
suffixes here when it is added (assistant/readers/<module>.py, see MODULES)."""

MODULES: dict[str, str] = {
    "text": "text",
    "markdown": "text",
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
    return SUFFIXES.get(suffix)


def read(data: bytes, fmt: str) -> ReadResult:
    """Read `data` as format `fmt` (as named by `sniff`)."""
    module = importlib.import_module(f"assistant.readers.{MODULES[fmt]}")
    return module.read(data, fmt)
