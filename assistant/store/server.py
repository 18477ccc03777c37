"""The Chroma server store (`--chroma-url`): the server keeps its data safe itself, and its
collection `<name>-documents` is the registry of committed documents, the commit point:
  1. add the new sentences; 2. upsert the registry record (commit); 3. delete the old
  version's sentences; 4. update the local catalog, which is a cache of the registry
  (`settings.data_dir/server-cache/`) re-synced whenever it disagrees.
Other machines may commit at any time, so a reader re-syncs a cache older than
SERVER_RESYNC_S; a failing server is an error to report, never a reason to answer from the
cache."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from assistant.catalog import Catalog
from assistant.config import Settings
from assistant.errors import StoreError
from assistant.store.backend import Backend, Encode, Items
from assistant.store.chroma import ChromaStore
from assistant.types import Sentence

SERVER_RESYNC_S = 10.0
"""How old the local cache may get before a query re-syncs it (other machines may have
committed meanwhile)."""


class ServerBackend(Backend):
    """A Chroma server's collections, with the local catalog as their cache."""

    embedded = False

    def __init__(self, settings: Settings, catalog: Catalog, marker: Path) -> None:
        super().__init__(settings, catalog, marker)
        self._chroma = ChromaStore(settings, registry=True)
        self.sync()
        self._synced = time.monotonic()

    # -- commits -----------------------------------------------------------------------------
    def replace_many(self, items: Items, tokens: dict[str, bytes] | None) -> None:
        all_sentences = [s for _, sents, _ in items for s in sents]
        self.chroma.add(all_sentences, np.concatenate([e for _, _, e in items]))
        committed = self.catalog.documents()
        self.chroma.commit_many([r for r, _, _ in items])  # one call for all: the commit
        for record, sentences, embeddings in items:
            if record.path in committed:  # a new document has nothing stale (see repair)
                self.chroma.delete_stale(record.path, keep_hash=record.content_hash)
            self.catalog.replace_document(record, sentences, embeddings, tokens)

    def remove(self, path: str) -> None:
        self.chroma.uncommit(path)
        self.chroma.delete_stale(path, keep_hash=None)
        self.catalog.remove_document(path)

    # -- keeping the cache in step with the registry --------------------------------------------
    def refresh(self) -> None:
        """Re-sync the local cache when it is older than SERVER_RESYNC_S."""
        if time.monotonic() - self._synced > SERVER_RESYNC_S:
            self.sync()
            self._synced = time.monotonic()

    def sync(self) -> int:
        """Make the catalog cache match the registry."""
        committed = self.chroma.committed()
        local = self.catalog.documents()
        fixed = 0
        for path in local:
            if path not in committed:
                self.catalog.remove_document(path)
                fixed += 1
        for path, rec in committed.items():
            if local.get(path) is None or local[path].content_hash != rec.content_hash:
                text = self.chroma.committed_text(path)
                full = dataclasses.replace(rec, text=text)
                sentences, vectors = self.chroma.fetch(path, rec.content_hash)
                self.catalog.replace_document(full, sentences, vectors if sentences else None)
                fixed += 1
        return fixed

    def repair(self) -> dict[str, int]:
        """Re-sync the cache, then delete the sentences no committed document has (leftovers of
        interrupted writes) and add committed ones the server lacks."""
        report = {"deleted": 0, "added": 0, "rebuilt": 0, "dropped_documents": 0}
        self.sync()
        self._reconcile(report)
        return report

    def rebuild(self) -> dict[str, int]:
        raise StoreError(f"the Chroma server at {self.location} keeps its data safe itself: "
                         "only an embedded store is rebuilt from its catalog")

    def needs_repair(self) -> bool:
        return False  # the server's collections are not left unreadable by a killed client

    def embedding(self) -> str | None:
        """The server's record (shared by every machine that writes to the collection); a
        collection written before the server kept one has it only in this machine's cache."""
        try:
            return self.chroma.embedding() or self.catalog.embedding()
        except Exception as exc:
            raise StoreError(f"the Chroma server at {self.location} failed: {exc}") from None

    def set_embedding(self, identity: str) -> None:
        try:
            self.chroma.set_embedding(identity)
        except Exception as exc:
            raise StoreError(f"the Chroma server at {self.location} failed: {exc}") from None
        self.catalog.set_embedding(identity)

    def reembed(self, identity: str, encode: Encode,
                progress: Callable[[int, int, str], None] | None) -> int:
        raise StoreError(
            f"the collection {self.settings.collection!r} on {self.location} was embedded "
            f"with another model ({self.embedding()}); ingest into a new --collection")

    # -- vector reads --------------------------------------------------------------------------
    def vector_search(self, vector: np.ndarray, k: int) -> list[tuple[Sentence, float]]:
        try:
            return self._chroma_search(vector, k)
        except Exception as exc:
            raise StoreError(f"the Chroma server at {self.location} failed: {exc}") from None

    def chroma_vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        try:
            return self.chroma.vectors(ids)
        except Exception as exc:
            raise StoreError(f"the Chroma server at {self.location} failed: {exc}") from None
