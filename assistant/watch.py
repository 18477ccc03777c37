"""`assistant ingest --watch`: keep the index in step with folders and files as they change.

The watcher is `watchfiles` (inotify / FSEvents / ReadDirectoryChangesW, MIT): changes that come
within `STEP_MS` of each other are handed over as one set, so an editor's save (write a temporary
file, rename it over the old one) is re-indexed once. Each set is re-indexed under the write
lock, with one line per changed document."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from assistant.documents import key_path, supported
from assistant.ingest import FileReport, IngestReport

STEP_MS = 300
"""Quiet time after the last change before a set of changes is indexed."""
DEBOUNCE_MS = 2000
"""The longest a set of changes is gathered while changes keep coming."""
WAIT_S = 60.0
"""How long to wait for another writer of the index before giving up on a set."""


def _wanted(path: Path) -> bool:
    return not any(part.startswith(".") for part in path.parts) and (
        supported(path) or not path.suffix)


def changed_paths(changes: set[tuple[object, str]]) -> list[Path]:
    """The paths of a set of watchfiles changes worth re-indexing, once each, in order."""
    return sorted({Path(p) for _, p in changes if _wanted(Path(p))})


def apply_changes(assistant, paths: list[Path]) -> IngestReport:
    """Re-index what is on disk at `paths` now: files that exist are ingested (unchanged text
    is skipped), paths that are gone are removed from the index (a folder: all under it)."""
    report = IngestReport()
    present = [p for p in paths if p.is_dir() or (p.is_file() and supported(p))]
    gone = [p for p in paths if not p.exists()]
    with assistant.index.writing(wait=WAIT_S):
        if present:
            report = assistant.ingestor().ingest_paths(present, assistant.settings.max_file_bytes)
        if gone:
            indexed = assistant.index.documents()
            gone = [p for p in gone if any(
                path == key_path(p) or path.startswith(key_path(p).rstrip("/") + "/")
                for path in indexed)]
            removed, _ = assistant.remove(gone)
            report.files.extend(FileReport(p, "removed", "file no longer exists")
                                for p in removed)
    return report


def watch(assistant, roots: list[Path], show: Callable[[FileReport], None],
          stop: threading.Event | None = None,
          on_ready: Callable[[], None] | None = None) -> None:
    """Watch `roots` until Ctrl-C (or `stop` is set), re-indexing each set of changes.
    `on_ready` is called once the watcher runs; what changed before that is caught up then."""
    import logging

    from watchfiles import watch as watch_changes

    logging.getLogger("watchfiles").setLevel(logging.ERROR)  # its Ctrl-C notice: ours is shown
    ready = False
    # yield_on_timeout: an empty set every rust_timeout ms, the first one meaning "watching"
    for changes in watch_changes(*roots, step=STEP_MS, debounce=DEBOUNCE_MS, stop_event=stop,
                                 raise_interrupt=False, yield_on_timeout=True,
                                 rust_timeout=1000):
        if not ready:
            ready = True
            for f in apply_changes(assistant, list(roots)).files:  # since the first ingest
                if f.status != "unchanged":
                    show(f)
            if on_ready:
                on_ready()
        paths = changed_paths(changes)
        if not paths:
            continue
        for f in apply_changes(assistant, paths).files:
            show(f)
