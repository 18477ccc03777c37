"""Is the index still true to the files? A document's file is compared with what was recorded
when it was indexed: size and modification time first (one `stat`), the hash of its bytes only
when those differ (a touched file whose bytes are the same is still up to date).

Used to mark stale citations after every answer and by `assistant sources`."""

from __future__ import annotations

import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from assistant.catalog import DocRecord
from assistant.documents import byte_hash, key_to_path, read_document
from assistant.errors import InputError

UP_TO_DATE = "up to date"
CHANGED = "changed"
MISSING = "missing"
STALE_HINT = "changed since it was indexed: run `assistant ingest`"
MISSING_HINT = "missing since it was indexed: run `assistant ingest` or `assistant remove`"


def hint(state: str) -> str:
    """What to tell the user about a citation from a document in this state."""
    return MISSING_HINT if state == MISSING else STALE_HINT


@dataclass
class SourceInfo:
    """An indexed document as `assistant sources` lists it."""

    path: str
    format: str
    size: int | None
    sentences: int
    pages: int | None
    """None for formats without pages."""
    indexed_at: str | None
    """ISO 8601, UTC (None for documents indexed before this was recorded)."""
    state: str
    """"up to date", "changed" (on disk since it was indexed) or "missing"."""

    def to_dict(self) -> dict:
        return asdict(self)


class FreshnessChecker:
    """Compares records with the disk. Remembers the outcome of a hash for the same size and
    time, so that a touched file is not hashed again for every answer."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._hashed: dict[tuple[str, int, int], str] = {}

    def state(self, record: DocRecord) -> str:
        if not record.path.startswith("/"):
            return UP_TO_DATE  # not a file: an evaluation document's id, say
        path = key_to_path(record.path)
        try:
            st = os.stat(path)
        except OSError:
            return MISSING
        if not stat.S_ISREG(st.st_mode):
            return CHANGED if os.path.exists(path) else MISSING
        if record.size is not None and (st.st_size, st.st_mtime_ns) == (
                record.size, record.mtime_ns):
            return UP_TO_DATE
        if record.size is not None and st.st_size != record.size:
            return CHANGED  # other bytes: no need to read them
        key = (path, st.st_size, st.st_mtime_ns)
        if key not in self._hashed:
            self._hashed[key] = self._compare(record)
        return self._hashed[key]

    def _compare(self, record: DocRecord) -> str:
        if record.byte_hash is None:  # indexed before file states were kept: compare the text
            try:
                doc = read_document(Path(key_to_path(record.path)), self.max_bytes)
            except InputError:
                return CHANGED
            return UP_TO_DATE if doc.content_hash == record.content_hash else CHANGED
        try:
            with open(key_to_path(record.path), "rb") as handle:
                data = handle.read(self.max_bytes + 1)
        except OSError:
            return MISSING
        return UP_TO_DATE if byte_hash(data) == record.byte_hash else CHANGED
