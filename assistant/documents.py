"""Read documents from disk: find them, check them, and say plainly why one cannot be used."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from assistant import readers
from assistant.errors import InputError
from assistant.types import Document, FileState


def byte_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


INDEX_VERSION = "late-chunked-1"
"""How sentences are embedded (see embedding.py). Part of a document's content hash, so that a
document indexed by an earlier version counts as changed and is embedded anew on the next ingest
of its file."""


def content_hash(text: str) -> str:
    """The version of a document in the index: its text, and how it was embedded."""
    return hashlib.sha256(f"{INDEX_VERSION}\n{text}".encode()).hexdigest()


_NOT_PLAIN = re.compile(r"[\\\udc80-\udcff]")
_ESCAPED = re.compile(r"\\(\\|x[0-9a-f]{2})")


def path_key(path: str) -> str:
    """The one storable form of a file name (SQLite, Chroma and JSON need valid Unicode, and
    Python gives a name that is not UTF-8 as lone surrogates): each such byte becomes `\\xff`
    and a backslash `\\\\`; every other name is kept exactly. `key_to_path` reverses it."""
    if not _NOT_PLAIN.search(path):
        return path
    return _NOT_PLAIN.sub(
        lambda m: "\\\\" if m.group() == "\\" else f"\\x{ord(m.group()) - 0xDC00:02x}", path)


def key_to_path(key: str) -> str:
    """The file name (as Python's os functions take it) of an index key from `path_key`."""
    if "\\" not in key:
        return key
    parts = _ESCAPED.split(key)
    raw = bytearray()
    for i, part in enumerate(parts):
        if i % 2 == 0:
            raw += os.fsencode(part)
        else:
            raw += b"\\" if part == "\\" else bytes([int(part[1:], 16)])
    return os.fsdecode(bytes(raw))


def source_hash(digest: str) -> str:
    """The version of a file's bytes (given as their `byte_hash`) as read by this version of
    the readers: a file whose bytes and readers are unchanged is not parsed again (a PDF takes
    longer to parse than to hash). Derived from the byte hash, so each file is hashed once."""
    return hashlib.sha256(f"{INDEX_VERSION}\n{readers.VERSION}\n{digest}".encode()).hexdigest()


def key_path(path: Path) -> str:
    """The path a file is known by in the index: absolute, so any working directory agrees
    (symlinks are kept as named, so a report names the file the user gave), in the storable
    form of `path_key`."""
    return path_key(os.path.abspath(path))


def make_document(path: str, text: str, title: str = "", **layout) -> Document:
    """A document from its canonical text; `layout` is format, pages, sections, warnings,
    file, source_hash."""
    return Document(path=path, text=text, content_hash=content_hash(text), title=title,
                    **layout)


_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a named pipe (FIFO)",
          stat.S_IFSOCK: "a socket", stat.S_IFCHR: "a character device",
          stat.S_IFBLK: "a block device"}


def _reason(exc: OSError) -> str:
    if exc.errno == errno.ENOENT:
        return "broken symbolic link" if exc.filename and os.path.islink(exc.filename) \
            else "no such file"
    if exc.errno == errno.ELOOP:
        return "symbolic link loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "cannot read: permission denied"
    if exc.errno == errno.EISDIR:
        return "is a directory"
    return f"cannot read: {exc.strerror or exc}"


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The bytes of one regular file, at most `max_bytes` of them, or raise InputError with a
    one-line reason. Opened without blocking (a FIFO named notes.txt must not hang an ingest)
    and checked on the open descriptor (no race with a rename); the read is bounded whatever
    `stat` says (devices and /proc files report size 0)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(_reason(exc)) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = _KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
            raise InputError(f"not a regular file: {kind}" if kind != "a directory"
                             else "is a directory")
        limit = f"the {max_bytes / 1048576:.1f} MB limit"
        if info.st_size > max_bytes:
            raise InputError(f"too large: {info.st_size / 1048576:.1f} MB is over {limit}")
        chunks: list[bytes] = []
        got = 0
        while got <= max_bytes:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - got))
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        if got > max_bytes:
            raise InputError(f"too large: it grew past {limit} while being read")
        data = b"".join(chunks)
    except BlockingIOError:
        raise InputError("cannot read: the file would block") from None
    except OSError as exc:
        raise InputError(_reason(exc)) from None
    finally:
        os.close(fd)
    if not data.strip():
        raise InputError("empty file")
    return data


def read_document(path: Path, max_bytes: int) -> Document:
    """Read one file with the reader its content (or suffix) calls for, or raise InputError
    (a ReaderError for a file the reader cannot use) with a one-line reason."""
    before = file_stat(path)
    return document_from_bytes(path, read_bytes(path, max_bytes), before)


def file_stat(path: Path) -> os.stat_result | None:
    """The file's size and time, taken before reading it: a write after it shows as a changed
    size or time, never the reverse (None if it cannot be stat'ed)."""
    try:
        return path.stat()
    except OSError:
        return None


def document_from_bytes(path: Path, data: bytes, before: os.stat_result | None = None,
                        digest: str | None = None) -> Document:
    """The document in a file's bytes (as `read_document`; `digest`: their `byte_hash` if the
    caller has it), or raise InputError."""
    fmt = readers.sniff(data, path.suffix)
    if fmt is None:
        raise InputError(_unsupported(path))
    result = readers.read(data, fmt)
    if not result.text.strip():
        raise InputError("no text found")
    digest = digest or byte_hash(data)
    title = result.title or path_key(path.stem)
    return make_document(key_path(path), result.text, title=title,
                         format=result.format, pages=result.pages, sections=result.sections,
                         warnings=result.warnings,
                         file=before and FileState(before.st_size, before.st_mtime_ns, digest),
                         source_hash=source_hash(digest))


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
    """Walk files and folders (recursively, hidden entries ignored) in a stable order.

    Symbolic links are followed, a linked folder once: a folder met again (a loop, or a
    second link to it) and a folder that cannot be listed are report lines, never dropped."""
    for root in paths:
        if root.is_dir():
            yield from _walk(root, {})
        elif not root.exists():
            reason = "broken symbolic link" if root.is_symlink() else "no such file or directory"
            yield Found(root, reason)
        elif supported(root):
            yield Found(root)
        else:
            known = ", ".join(sorted(readers.SUFFIXES))
            yield Found(root, f"{_unsupported(root)}; supported: {known}")


def _walk(folder: Path, seen: dict[tuple[int, int], Path]) -> Iterator[Found]:
    try:
        info = folder.stat()
    except OSError as exc:
        yield Found(folder, _reason(exc))
        return
    first = seen.setdefault((info.st_dev, info.st_ino), folder)
    if first is not folder:
        what = "a symbolic link loop" if folder.is_relative_to(first) else "a second link"
        yield Found(folder, f"{what}: this folder is already read as {path_key(str(first))}")
        return
    try:
        with os.scandir(folder) as it:
            entries = sorted((e for e in it if not e.name.startswith(".")),
                             key=lambda e: e.name)
    except OSError as exc:
        reason = _reason(exc).removeprefix("cannot read: ")
        yield Found(folder, f"cannot list this folder: {reason}")
        return
    files, folders = [], []
    for entry in entries:
        try:
            is_dir = entry.is_dir()  # follows a symbolic link
        except OSError:
            is_dir = False
        (folders if is_dir else files).append(Path(entry.path))
    for path in files:
        if supported(path):
            yield Found(path)
        else:
            yield Found(path, _unsupported(path))
    for path in folders:
        yield from _walk(path, seen)
