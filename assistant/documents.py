"""Read documents from disk: find them, check them, and say plainly why one cannot be used."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from assistant import readers
from assistant.errors import InputError
from assistant.readers import Page, Section


@dataclass(frozen=True)
class Document:
    """A readable text document. `path` is its key in the index (a display path or any id)."""

    path: str
    text: str
    content_hash: str
    title: str = ""
    format: str = "text"
    pages: list[Page] = field(default_factory=list, compare=False)
    sections: list[Section] = field(default_factory=list, compare=False)
    warnings: list[str] = field(default_factory=list, compare=False)


INDEX_VERSION = "late-chunked-1"
"""How sentences are embedded (see embedding.py). Part of a document's content hash, so that a
document indexed by an earlier version counts as changed and is embedded anew on the next ingest
of its file."""


def content_hash(text: str) -> str:
    """The version of a document in the index: its text, and how it was embedded."""
    return hashlib.sha256(f"{INDEX_VERSION}\n{text}".encode()).hexdigest()


def key_path(path: Path) -> str:
    """The path a file is known by in the index: absolute, so any working directory agrees
    (symlinks are kept as named, so a report names the file the user gave)."""
    return os.path.abspath(path)


def display_path(path: str) -> str:
    """An index path as shown to the user: relative to the working directory when inside it."""
    if not path.startswith("/"):
        return path  # not a file path (an evaluation document id, say)
    try:
        return str(Path(path).relative_to(os.path.abspath(os.getcwd())))
    except ValueError:
        return path


def make_document(path: str, text: str, title: str = "", **layout) -> Document:
    """A document from its canonical text; `layout` is format, pages, sections, warnings."""
    return Document(path=path, text=text, content_hash=content_hash(text), title=title,
                    **layout)


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The bytes of one file, or raise InputError with a one-line reason."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise InputError("no such file") from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from None
    if size > max_bytes:
        raise InputError(
            f"too large: {size / 1048576:.1f} MB is over the {max_bytes / 1048576:.1f} MB limit"
        )
    try:
        data = path.read_bytes()
    except PermissionError:
        raise InputError("cannot read: permission denied") from None
    except IsADirectoryError:
        raise InputError("is a directory") from None
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror or exc}") from None
    if not data.strip():
        raise InputError("empty file")
    return data


def read_document(path: Path, max_bytes: int) -> Document:
    """Read one file with the reader its content (or suffix) calls for, or raise InputError
    (a ReaderError for a file the reader cannot use) with a one-line reason."""
    data = read_bytes(path, max_bytes)
    fmt = readers.sniff(data, path.suffix)
    if fmt is None:
        raise InputError(_unsupported(path))
    result = readers.read(data, fmt)
    if not result.text.strip():
        raise InputError("no text found")
    return make_document(key_path(path), result.text, title=result.title or path.stem,
                         format=result.format, pages=result.pages, sections=result.sections,
                         warnings=result.warnings)


def supported(path: Path) -> bool:
    return path.suffix.lower() in readers.SUFFIXES


def _unsupported(path: Path) -> str:
    return f"unsupported file type {path.suffix or '(none)'!r}"


@dataclass(frozen=True)
class Found:
    """A path met while walking the inputs: a candidate file, or one to skip with a reason."""

    path: Path
    skip_reason: str | None = None


def discover(paths: Iterable[Path]) -> Iterator[Found]:
    """Walk files and folders (recursively, hidden entries ignored) in a stable order."""
    for root in paths:
        if not root.exists():
            yield Found(root, "no such file or directory")
        elif root.is_dir():
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if name.startswith("."):
                        continue
                    path = Path(dirpath) / name
                    if supported(path):
                        yield Found(path)
                    else:
                        yield Found(path, _unsupported(path))
        elif supported(root):
            yield Found(root)
        else:
            yield Found(root, f"{_unsupported(root)}; "
                              f"supported: {', '.join(sorted(readers.SUFFIXES))}")
