"""Read documents from disk: find them, check them, and say plainly why one cannot be used."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant.errors import InputError

SUPPORTED_SUFFIXES = (".txt", ".md")


@dataclass(frozen=True)
class Document:
    """A readable text document. `path` is its key in the index (a display path or any id)."""

    path: str
    text: str
    content_hash: str
    title: str = ""


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


def make_document(path: str, text: str, title: str = "") -> Document:
    return Document(path=path, text=text, content_hash=content_hash(text), title=title)


def read_document(path: Path, max_bytes: int) -> Document:
    """Read one file as UTF-8 text, or raise InputError with a one-line reason."""
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
    if b"\x00" in data[:8192]:
        raise InputError("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None
    text = text.removeprefix("\ufeff")
    return make_document(key_path(path), text, title=path.stem)


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
                    if path.suffix.lower() in SUPPORTED_SUFFIXES:
                        yield Found(path)
                    else:
                        yield Found(path, f"unsupported file type {path.suffix or '(none)'!r}")
        elif root.suffix.lower() in SUPPORTED_SUFFIXES:
            yield Found(root)
        else:
            yield Found(root, f"unsupported file type {root.suffix or '(none)'!r}; use .txt or .md")
