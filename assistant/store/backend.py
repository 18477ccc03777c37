"""The one interface of the two stores (embedded.py, server.py): how a document version is
committed and removed, how a reader sees other processes' commits, how Chroma is repaired, and
how vector reads reach Chroma. `SentenceIndex` picks one backend at construction and delegates
to it; what is the same for both (the catalog's reads, the write lock) stays in index.py."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path

import numpy as np

from assistant.catalog import Catalog, DocRecord
from assistant.config import Settings
from assistant.errors import StoreError
from assistant.store.chroma import BATCH, ChromaStore
from assistant.types import Sentence

Items = list[tuple[DocRecord, list[Sentence], np.ndarray]]
"""Document versions to commit: (record, its sentences in order, their unit vectors)."""
Encode = Callable[[list[list[str]]], tuple]
"""The sentences of each document, in order → (vectors, packed token states or None)."""


class Backend(ABC):
    """One kind of store: Chroma (embedded or server) kept in step with the local catalog."""

    embedded: bool
    """Whether this is the embedded store (the catalog is the commit point)."""

    def __init__(self, settings: Settings, catalog: Catalog, marker: Path) -> None:
        self.settings = settings
        self.catalog = catalog
        self.marker = marker
        """A file that exists while a write is in progress (or was interrupted)."""
        self.degraded: str | None = None
        """Why vector search is answered from the catalog instead of Chroma (embedded only)."""
        self._chroma: ChromaStore | None = None

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.index_dir)

    @property
    def chroma(self) -> ChromaStore:
        if self._chroma is None:
            raise StoreError(f"the Chroma store at {self.location} cannot be opened: "
                             f"{self.degraded}; run `assistant ingest` to repair it")
        return self._chroma

    def close(self) -> None:
        if self._chroma is not None:
            self._chroma.close()
            self._chroma = None

    # -- what differs ------------------------------------------------------------------------
    @abstractmethod
    def replace_many(self, items: Items, tokens: dict[str, bytes] | None) -> None:
        """Commit these document versions, each in place of any older one (see the module
        docstrings for the order of the steps that makes this safe against a kill)."""

    @abstractmethod
    def remove(self, path: str) -> None:
        """Uncommit a document and delete its sentences."""

    @abstractmethod
    def refresh(self) -> None:
        """Before a read: see what other processes (or machines) have committed since."""

    @abstractmethod
    def sync(self) -> int:
        """Make the catalog match the commit point; returns the documents fixed."""

    @abstractmethod
    def repair(self) -> dict[str, int]:
        """Make Chroma hold exactly the committed sentences (holding the write lock)."""

    @abstractmethod
    def rebuild(self) -> dict[str, int]:
        """Replace the Chroma collection with one built from the catalog."""

    @abstractmethod
    def needs_repair(self) -> bool:
        """At the start of a write (marker aside): whether Chroma may disagree with the
        catalog."""

    def embedding(self) -> str | None:
        """The identity of the encoder that made the stored vectors (None: not recorded)."""
        return self.catalog.embedding()

    def set_embedding(self, identity: str) -> None:
        self.catalog.set_embedding(identity)

    @abstractmethod
    def reembed(self, identity: str, encode: Encode,
                progress: Callable[[int, int, str], None] | None) -> int:
        """Give every committed sentence a vector from another encoder (see SentenceIndex)."""

    @abstractmethod
    def vector_search(self, vector: np.ndarray, k: int) -> list[tuple[Sentence, float]]:
        """Nearest committed sentences: (sentence, cosine similarity), best first."""

    @abstractmethod
    def chroma_vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Vectors from Chroma of sentences the catalog holds none for."""

    # -- what is the same --------------------------------------------------------------------
    def _chroma_search(self, vector: np.ndarray, k: int) -> list[tuple[Sentence, float]]:
        # Chroma may also hold sentences that are not committed (a write in progress, or
        # leftovers of a killed one); ask for more until k committed ones are found.
        n = k + 16
        while True:
            hits = self.chroma.search(vector, n)
            found = self.catalog.get([i for i, _ in hits])
            out = [(found[i], score) for i, score in hits if i in found]
            if len(out) >= k or len(hits) < n:
                return out[:k]
            n *= 4

    def _reconcile(self, report: dict[str, int]) -> None:
        """Chroma's sentences made the catalog's: vectors the catalog lacks copied from
        Chroma, leftovers deleted, missing ones added. Raises what Chroma raises."""
        self._backfill_vectors()
        chroma = self.chroma
        have, want = chroma.ids(), self.catalog.ids()
        stray = sorted(have - want)
        chroma.delete_ids(stray)
        report["deleted"] = len(stray)
        missing = want - have
        if missing:
            report["added"] = self._add_from_catalog(missing)

    def _add_from_catalog(self, only: set[str] | None) -> int:
        added = 0
        for sentences, vectors in self.catalog.iter_with_vectors(BATCH):
            if only is not None:
                keep = [i for i, s in enumerate(sentences) if s.id in only]
                sentences, vectors = [sentences[i] for i in keep], vectors[keep]
            if sentences:
                self.chroma.add(sentences, vectors)
                added += len(sentences)
        return added

    def _backfill_vectors(self) -> None:
        """Catalogs written before they kept vectors: copy the vectors from Chroma."""
        missing = self.catalog.missing_vectors()
        for b in range(0, len(missing), BATCH):
            self.catalog.set_vectors(self.chroma.vectors(missing[b : b + BATCH]))
