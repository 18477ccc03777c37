"""`SentenceIndex`, the one store interface the rest of the program uses: committed sentences,
their vectors, lexical search and term counts, the documents they came from, and the write
lock. Reads of what is committed go to the catalog; commits, repairs and vector search go to
the backend chosen once here (embedded.py or server.py)."""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from assistant.catalog import Catalog, DocRecord
from assistant.config import Settings
from assistant.errors import StoreBusyError
from assistant.store.backend import Backend, Encode
from assistant.store.chroma import ChromaStore
from assistant.store.layout import catalog_path, check_index
from assistant.types import Sentence


def _who() -> str:
    command = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv[:4]))
    return (f"process {os.getpid()} on {os.uname().nodename} ({command or 'python'}), "
            f"since {time.strftime('%H:%M:%S')}")


def open_backend(settings: Settings, catalog: Catalog, marker: Path) -> Backend:
    """The embedded store, or the Chroma server's when `settings.chroma_url` is set."""
    if settings.chroma_url:
        from assistant.store.server import ServerBackend

        return ServerBackend(settings, catalog, marker)
    from assistant.store.embedded import EmbeddedBackend

    return EmbeddedBackend(settings, catalog, marker)


class SentenceIndex:
    """The one store interface the rest of the program uses: committed sentences, their
    vectors, lexical search, and the documents they came from."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        check_index(settings, create=True)
        self.catalog = Catalog(catalog_path(settings))
        """The local catalog (the store's own; callers use the methods below)."""
        self._marker = catalog_path(settings).with_suffix(".writing")
        self.backend = open_backend(settings, self.catalog, self._marker)
        self.embedded = self.backend.embedded

    @property
    def location(self) -> str:
        return self.backend.location

    @property
    def chroma(self) -> ChromaStore:
        return self.backend.chroma

    @property
    def degraded(self) -> str | None:
        """Why vector search is answered from the catalog instead of Chroma (embedded only)."""
        return self.backend.degraded

    def close(self) -> None:
        self.catalog.close()
        self.backend.close()

    # -- keeping Chroma and the catalog in step ------------------------------------------------
    def sync(self) -> int:
        """Server: make the catalog cache match the registry. Embedded: the catalog is the
        commit point, so there is nothing to fetch (see `repair`). Returns documents fixed."""
        return self.backend.sync()

    def repair(self) -> dict[str, int]:
        """Make Chroma hold exactly the catalog's sentences (call it holding the write lock):
        delete leftovers of interrupted writes, add what is missing, rebuild when unreadable."""
        return self.backend.repair()

    def rebuild(self) -> dict[str, int]:
        """Embedded only: replace the Chroma store with a fresh one built from the catalog."""
        return self.backend.rebuild()

    # -- the embedding model ------------------------------------------------------------------
    def embedding(self) -> str | None:
        """The identity of the encoder that made the stored vectors (None: not recorded); in
        server mode the server's record, so every machine writing to it agrees."""
        return self.backend.embedding()

    def set_embedding(self, identity: str) -> None:
        self.backend.set_embedding(identity)

    def reembed(self, identity: str, encode: Encode,
                progress: Callable[[int, int, str], None] | None = None) -> int:
        """Another encoder (model, dimension or token basis): give every committed sentence
        its vector and token state from `encode` (the sentences of each document, in order →
        (vectors, packed token states or None)), rebuild Chroma from them, then record
        `identity`. Call it holding the write lock. An interruption leaves the old identity
        recorded, so the next writer starts over. Returns the sentences embedded. Embedded
        only: with a server it raises StoreError."""
        return self.backend.reembed(identity, encode, progress)

    # -- writes ----------------------------------------------------------------------------
    def replace(self, record: DocRecord, sentences: list[Sentence], embeddings: np.ndarray,
                tokens: dict[str, bytes] | None = None) -> None:
        """Put a document (its sentences and their vectors) in place of any older version.
        `tokens`: packed token states by sentence id, kept in the local catalog only."""
        self.replace_many([(record, sentences, embeddings)], tokens)

    def replace_many(self, items: list[tuple[DocRecord, list[Sentence], np.ndarray]],
                     tokens: dict[str, bytes] | None = None) -> None:
        """`replace` for several documents: their sentences go to Chroma in one call (much
        faster than one call per document), then each document is committed on its own."""
        items = [(r, s, np.asarray(e, dtype=np.float32)) for r, s, e in items]
        if items:
            self.backend.replace_many(items, tokens)

    def remove(self, path: str) -> None:
        self.backend.remove(path)

    def set_file_state(self, path: str, size: int | None, mtime_ns: int | None,
                       byte_hash: str | None) -> None:
        """Record a committed document's file as it is now (its text is unchanged)."""
        self.catalog.set_file_state(path, size, mtime_ns, byte_hash)

    # -- reads -----------------------------------------------------------------------------
    def documents(self) -> dict[str, DocRecord]:
        """Every committed document (without its text), by path."""
        return self.catalog.documents()

    def document(self, path: str) -> DocRecord | None:
        """A committed document with its text."""
        return self.catalog.document(path)

    def records(self, paths: Iterable[str]) -> dict[str, DocRecord]:
        """The committed documents among `paths` (without their text), by path."""
        return self.catalog.records(paths)

    def by_content(self, content_hash: str) -> DocRecord | None:
        """A committed document with this text (for reusing its vectors), if any."""
        return self.catalog.by_content(content_hash)

    def generation(self) -> int:
        """A number that changes with every committed change (for caches of what is
        committed, in this process or another)."""
        return self.catalog.generation()

    def count(self) -> int:
        return self.catalog.count()

    def sentences(self, ids: list[str]) -> dict[str, Sentence]:
        """The committed sentences among `ids`, by id."""
        return self.catalog.get(ids)

    def document_sentences(self, path: str) -> list[Sentence]:
        """The committed sentences of one document, in order."""
        return self.catalog.document_sentences(path)

    def neighbours(self, sentence: Sentence, before: int = 2, after: int = 2) -> list[Sentence]:
        return self.catalog.neighbours(sentence, before, after)

    def term_counts(self, terms: list[str]) -> dict[str, int]:
        """How many committed sentences contain each term (BM25's tokenizer: porter-stemmed)."""
        return self.catalog.term_counts(terms)

    def vector_search(self, vector: np.ndarray, k: int) -> list[tuple[Sentence, float]]:
        """Nearest committed sentences: (sentence, cosine similarity), best first."""
        self.backend.refresh()
        return self.backend.vector_search(vector, k)

    def lexical_search(self, query: str, k: int) -> list[tuple[Sentence, float]]:
        self.backend.refresh()
        hits = self.catalog.lexical_search(query, k)
        found = self.catalog.get([i for i, _ in hits])
        return [(found[i], score) for i, score in hits if i in found]

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Stored unit vectors of the given sentences."""
        out = self.catalog.vectors(ids)
        rest = [i for i in ids if i not in out]
        if rest:
            out.update(self.backend.chroma_vectors(rest))
        return out

    def token_states(self, ids: list[str]) -> dict[str, bytes]:
        """Packed token states kept for the given sentences (see embedding.pack_tokens); those
        without (written by another machine to a Chroma server, or before they were kept) are
        left out: the retriever computes them."""
        return self.catalog.token_states(ids)

    # -- the write lock --------------------------------------------------------------------
    @contextmanager
    def writing(self, wait: float = 0.0,
                on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
        """Hold the store's write lock. If another process holds it: fail at once naming it,
        or (wait > 0) tell `on_wait` who holds it and wait up to `wait` seconds.
        On entry, repairs what an interrupted earlier write left behind."""
        lock_path = catalog_path(self.settings).with_suffix(".lock")
        handle = open(lock_path, "a+")
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                if time.monotonic() >= deadline:
                    handle.close()
                    waited = f" (waited {wait:.0f} s)" if wait > 0 else ""
                    raise StoreBusyError(
                        f"the index at {self.location} is being written by {holder}{waited}; "
                        "try again when it finishes, or pass --wait SECONDS"
                    ) from None
                if on_wait is not None and not told:
                    on_wait(holder)
                    told = True
                time.sleep(0.25)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(_who())
            handle.flush()
            self._prepare_write()
            yield
            self._marker.unlink(missing_ok=True)
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def _prepare_write(self) -> None:
        """Under the lock: repair after an interrupted write, then mark a write in progress."""
        if self._marker.exists() or self.backend.needs_repair():
            self.repair()
        self._marker.touch()
