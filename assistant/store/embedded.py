"""The embedded store (`<index>/chroma` + `<index>/catalog.sqlite3`): the catalog is the commit
point and the durable copy; Chroma on disk is a vector index derived from it.

Embedded Chroma does not survive SIGKILL at every moment (a kill while it applies its log to
the HNSW files can leave a collection that fails every call with "Failed to apply logs to the
hnsw segment writer"), hence this order:
  1. add the new sentences to Chroma (their ids carry the content hash: old and new coexist);
  2. replace the document in the catalog, vectors included, in one SQLite transaction: the
     commit point; readers see the old version before it and the new one after it;
  3. delete the old version's sentences from Chroma.
Readers only return sentences that are in the catalog, so leftovers in Chroma are never shown.
A writer leaves a marker while it works; the next writer that finds the marker (or finds Chroma
unreadable, or holding a different number of sentences) repairs Chroma from the catalog: it
deletes leftovers, adds what is missing, and rebuilds the collection from scratch when Chroma
cannot be read. A reader that finds Chroma unreadable answers from the catalog's vectors
(exact search) until a writer has repaired it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from assistant.catalog import Catalog
from assistant.config import Settings
from assistant.errors import StoreError
from assistant.store.backend import Backend, Encode, Items
from assistant.store.chroma import BATCH, ChromaStore
from assistant.types import Sentence


class EmbeddedBackend(Backend):
    """Chroma on disk, derived from the catalog in the same folder."""

    embedded = True

    def __init__(self, settings: Settings, catalog: Catalog, marker: Path) -> None:
        super().__init__(settings, catalog, marker)
        self._exact: tuple[int, list[str], np.ndarray] | None = None
        self._seen = catalog.generation()
        """The catalog generation the open Chroma has seen (see `refresh`)."""
        if catalog.read_only:
            # Chroma writes its own files even to read; the catalog's vectors answer instead.
            self.degraded = f"the index folder {settings.index_dir} is read-only"
        else:
            try:
                self._chroma = ChromaStore(settings, registry=False)
            except StoreError as exc:
                self.degraded = str(exc)

    # -- commits -----------------------------------------------------------------------------
    def replace_many(self, items: Items, tokens: dict[str, bytes] | None) -> None:
        all_sentences = [s for _, sents, _ in items for s in sents]
        all_vectors = np.concatenate([e for _, _, e in items])
        self._chroma_write(lambda: self.chroma.add(all_sentences, all_vectors))
        committed = self.catalog.documents()
        for record, sentences, embeddings in items:
            had_old = record.path in committed
            self.catalog.replace_document(record, sentences, embeddings, tokens)  # commit
            self._seen = self.catalog.generation()
            if not had_old:  # nothing stale (a killed write's leftovers: see repair)
                continue
            try:
                self.chroma.delete_stale(record.path, keep_hash=record.content_hash)
            except Exception:  # leftovers are invisible to readers; the next writer repairs
                self.marker.touch()

    def remove(self, path: str) -> None:
        self.catalog.remove_document(path)  # the commit
        self._seen = self.catalog.generation()
        try:
            self.chroma.delete_stale(path, keep_hash=None)
        except Exception:
            self.marker.touch()

    def _chroma_write(self, action: Callable[[], None]) -> None:
        """Run a write to Chroma; if the store is unreadable, rebuild it and retry."""
        try:
            action()
        except Exception:
            self.rebuild()
            action()

    # -- keeping Chroma in step with the catalog ------------------------------------------------
    def refresh(self) -> None:
        """If another process has committed since Chroma was opened, reopen it (an open
        embedded Chroma does not see other processes' additions)."""
        generation = self.catalog.generation()
        if generation == self._seen or self.catalog.read_only:
            return
        if self._chroma is not None:
            self._chroma.close()
            self._chroma = None
        try:
            self._chroma = ChromaStore(self.settings, registry=False)
            self.degraded = None
        except StoreError as exc:
            self.degraded = str(exc)
        self._seen = generation

    def sync(self) -> int:
        """The catalog is the commit point: there is nothing to fetch (see `repair`)."""
        return 0

    def repair(self) -> dict[str, int]:
        """Delete leftovers of interrupted writes, add what is missing, rebuild Chroma when it
        cannot be read."""
        report = {"deleted": 0, "added": 0, "rebuilt": 0, "dropped_documents": 0}
        try:
            self._reconcile(report)
        except Exception:  # StoreError (it cannot be opened) or chromadb's own: unreadable
            report.update(self.rebuild())
        return report

    def rebuild(self) -> dict[str, int]:
        """Replace the Chroma store with a fresh one built from the catalog."""
        dropped = self._drop_documents_without_vectors()
        if self._chroma is not None:
            self._chroma.close()
            self._chroma = None
        path = self.settings.index_dir / "chroma"
        aside = self.settings.index_dir / "chroma.broken"
        shutil.rmtree(aside, ignore_errors=True)
        if path.exists():
            path.rename(aside)
        self._chroma = ChromaStore(self.settings, registry=False)
        self.degraded = None
        added = self._add_from_catalog(None)
        shutil.rmtree(aside, ignore_errors=True)
        self._seen = self.catalog.generation()
        return {"rebuilt": 1, "added": added, "dropped_documents": dropped}

    def _drop_documents_without_vectors(self) -> int:
        """Before a rebuild: documents whose vectors exist nowhere are dropped from the
        catalog, so that the next ingest embeds them again."""
        missing = set(self.catalog.missing_vectors())
        if not missing:
            return 0
        paths = {s.path for s in self.catalog.get(sorted(missing)).values()}
        for path in paths:
            self.catalog.remove_document(path)
        return len(paths)

    def needs_repair(self) -> bool:
        if self.degraded is not None or self.catalog.missing_vectors():
            return True
        try:
            return self.chroma.count() != self.catalog.count()
        except Exception:
            return True

    def reembed(self, identity: str, encode: Encode,
                progress: Callable[[int, int, str], None] | None) -> int:
        docs = sorted(self.catalog.documents())
        total = self.catalog.count()
        done = 0
        batch: list[list[Sentence]] = []

        def flush() -> None:
            nonlocal done
            if not batch:
                return
            vectors, packed = encode([[s.text for s in sents] for sents in batch])
            ids = [s.id for sents in batch for s in sents]
            tokens = dict(zip(ids, packed, strict=True)) if packed is not None else \
                dict.fromkeys(ids)
            self.catalog.set_vectors(dict(zip(ids, np.asarray(vectors, np.float32),
                                              strict=True)), tokens)
            done += len(ids)
            if progress:
                progress(done, total, batch[-1][0].path)
            batch.clear()

        for path in docs:
            sentences = self.catalog.document_sentences(path)
            if sentences:
                batch.append(sentences)
            if sum(len(b) for b in batch) >= BATCH:
                flush()
        flush()
        self.rebuild()  # a fresh collection: vectors of another dimension cannot mix
        self.catalog.set_embedding(identity)
        return done

    # -- vector reads --------------------------------------------------------------------------
    def vector_search(self, vector: np.ndarray, k: int) -> list[tuple[Sentence, float]]:
        if self._chroma is not None and self.degraded is None:
            try:
                return self._chroma_search(vector, k)
            except Exception as exc:
                self.degraded = f"the Chroma store cannot be read ({exc})"
        return self._exact_search(vector, k)

    def _exact_search(self, vector: np.ndarray, k: int) -> list[tuple[Sentence, float]]:
        """Brute-force cosine search over the catalog's vectors (used when Chroma is broken)."""
        generation = self.catalog.generation()
        if self._exact is None or self._exact[0] != generation:
            ids: list[str] = []
            blocks: list[np.ndarray] = []
            for sentences, vectors in self.catalog.iter_with_vectors(BATCH * 5):
                ids.extend(s.id for s in sentences)
                blocks.append(vectors)
            matrix = np.vstack(blocks) if blocks else np.zeros((0, len(vector)), np.float32)
            self._exact = (generation, ids, matrix)
        _, ids, matrix = self._exact
        if not ids:
            return []
        scores = matrix @ np.asarray(vector, dtype=np.float32)
        top = np.argsort(-scores)[:k]
        found = self.catalog.get([ids[i] for i in top])
        return [(found[ids[i]], float(scores[i])) for i in top if ids[i] in found]

    def chroma_vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        if self._chroma is None or self.degraded is not None:
            return {}
        try:
            return self._chroma.vectors(ids)
        except Exception:  # unreadable: the caller gets what the catalog holds
            return {}
