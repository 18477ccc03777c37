"""`assistant repair`: an embedded index whose catalog SQLite cannot read gets a new catalog
rebuilt from what Chroma holds (the one case where Chroma is the source, not a derived copy).
See `rebuild_catalog`."""

from __future__ import annotations

import fcntl
import time
from pathlib import Path

import numpy as np

from assistant.catalog import Catalog, DocRecord
from assistant.config import Settings
from assistant.errors import StoreBusyError, StoreError
from assistant.store.chroma import BATCH, ChromaStore, sentence_from_metadata
from assistant.store.layout import catalog_path, check_index
from assistant.types import Sentence


def rebuild_catalog(settings: Settings) -> dict[str, int]:
    """`assistant repair`: a catalog SQLite cannot read is moved aside and rebuilt from the
    sentences, spans and vectors that Chroma holds (embedded store). A document's text comes
    from its file when the file still has the indexed content, else it is rebuilt from its
    sentences at their offsets (what a citation shows stays exact). Returns the counts."""
    if settings.chroma_url:
        raise StoreError("repair rebuilds an embedded index; with a Chroma server the catalog "
                         "is a cache: delete it and ask again")
    check_index(settings, create=False)
    from assistant.documents import key_to_path, read_document

    path = catalog_path(settings)
    with open(path.with_suffix(".lock"), "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreBusyError(f"the index at {settings.index_dir} is being written; "
                                 "repair it when that finishes") from None
        chroma = ChromaStore(settings, registry=False)
        try:
            versions: dict[str, dict[str, list]] = {}
            offset = 0
            while True:
                got = chroma.sentences.get(include=["documents", "metadatas", "embeddings"],
                                           limit=BATCH, offset=offset)
                for i, d, m, e in zip(got["ids"], got["documents"], got["metadatas"],
                                      got["embeddings"], strict=True):
                    versions.setdefault(m["path"], {}).setdefault(m["doc_hash"], []).append(
                        (sentence_from_metadata(i, d or "", m), np.asarray(e, dtype=np.float32)))
                if len(got["ids"]) < BATCH:
                    break
                offset += len(got["ids"])
        finally:
            chroma.close()
        if not versions:
            raise StoreError(f"the Chroma store at {settings.index_dir} holds no sentences "
                             "to rebuild the catalog from: ingest your files again")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for suffix in ("", "-wal", "-shm"):
            old = Path(str(path) + suffix)
            if old.exists():
                old.rename(Path(f"{path}.damaged-{stamp}{suffix}"))
        catalog = Catalog(path)
        report = {"documents": 0, "sentences": 0, "texts_from_files": 0}
        try:
            for doc_path, by_hash in sorted(versions.items()):
                current = None
                try:
                    current = read_document(Path(key_to_path(doc_path)),
                                            settings.max_file_bytes)
                except Exception:  # gone, changed or unreadable: rebuild from the sentences
                    pass
                doc_hash = (current.content_hash if current and current.content_hash
                            in by_hash else max(by_hash, key=lambda h: len(by_hash[h])))
                rows = sorted(by_hash[doc_hash], key=lambda r: r[0].index)
                sentences = [r[0] for r in rows]
                if current is not None and current.content_hash == doc_hash:
                    text = current.text
                    report["texts_from_files"] += 1
                else:
                    text = _text_from(sentences)
                record = DocRecord(doc_path, sentences[0].doc_id, doc_hash, sentences[0].title,
                                   text, len(sentences))
                catalog.replace_document(record, sentences, np.stack([r[1] for r in rows]))
                report["documents"] += 1
                report["sentences"] += len(sentences)
        finally:
            catalog.close()
        return report


def _text_from(sentences: list[Sentence]) -> str:
    """A document's text rebuilt from its sentences: each at its offsets, the gaps filled
    with the line breaks their line numbers need, then spaces."""
    out: list[str] = []
    at, line = 0, 1
    for s in sentences:
        gap = max(s.char_start - at, 0)
        breaks = min(max(s.line - line, 0), gap)
        out.append("\n" * breaks + " " * (gap - breaks))
        out.append(s.text)
        at, line = s.char_start + len(s.text), s.line + s.text.count("\n")
    return "".join(out)
