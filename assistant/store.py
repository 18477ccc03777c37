"""The sentence store: a Chroma collection (embedded on disk, or a Chroma server) written
through LlamaIndex, plus a registry collection that marks which version of each document is
committed. The local catalog mirrors the committed state for fast lexical search and spans.

Write order per document, so a crash at any moment leaves it whole in its old or new state:
  1. add the new sentences (their ids carry the content hash, so old and new coexist);
  2. upsert the registry record (the commit point);
  3. delete the old version's sentences;
  4. update the local catalog (derived; re-synced from the registry when it disagrees).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from assistant.catalog import Catalog, DocRecord
from assistant.config import Settings
from assistant.errors import StoreBusyError, StoreError
from assistant.sentences import Sentence

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
REGISTRY_SUFFIX = "-documents"


def _metadata(s: Sentence) -> dict:
    return {
        "path": s.path, "doc_id": s.doc_id, "doc_hash": s.doc_hash, "sentence_index": s.index,
        "char_start": s.char_start, "char_end": s.char_end, "line": s.line, "title": s.title,
    }


def _sentence_from(id_: str, text: str, meta: dict) -> Sentence:
    return Sentence(
        id=id_, doc_id=meta["doc_id"], path=meta["path"], index=int(meta["sentence_index"]),
        char_start=int(meta["char_start"]), char_end=int(meta["char_end"]),
        line=int(meta["line"]), text=text, doc_hash=meta["doc_hash"], title=meta.get("title", ""),
    )


class ChromaStore:
    """Vectors and the committed-documents registry in Chroma."""

    def __init__(self, settings: Settings) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        self.location: str
        try:
            if settings.chroma_url:
                url = urlparse(settings.chroma_url)
                if url.scheme not in ("http", "https") or not url.hostname:
                    raise StoreError(
                        f"chroma_url: {settings.chroma_url!r} is not an http(s)://HOST:PORT URL"
                    )
                self.client = chromadb.HttpClient(
                    host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https", settings=chroma_settings,
                )
                self.location = settings.chroma_url
            else:
                path = settings.index_dir / "chroma"
                path.mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
                self.location = str(settings.index_dir)
            space = {"hnsw:space": "cosine"}
            self.sentences = self.client.get_or_create_collection(
                settings.collection, embedding_function=None, metadata=space
            )
            self.registry = self.client.get_or_create_collection(
                settings.collection + REGISTRY_SUFFIX, embedding_function=None, metadata=space
            )
        except StoreError:
            raise
        except Exception as exc:  # chromadb raises many kinds; all mean the same to the user
            where = settings.chroma_url or settings.index_dir
            raise StoreError(f"cannot open the Chroma store at {where}: {exc}") from None
        self._vector_store = None

    # -- registry (commit records) ---------------------------------------------------------
    def committed(self) -> dict[str, DocRecord]:
        got = self.registry.get(include=["metadatas"])
        return {
            m["path"]: DocRecord(m["path"], m["doc_id"], m["content_hash"], m.get("title", ""),
                                 "", int(m["n_sentences"]))
            for m in got["metadatas"] or []
        }

    def committed_text(self, path: str) -> str:
        got = self.registry.get(ids=[_registry_id(path)], include=["documents"])
        return (got["documents"] or [""])[0] or ""

    def commit(self, record: DocRecord) -> None:
        self.registry.upsert(
            ids=[_registry_id(record.path)],
            embeddings=[[1.0]],
            documents=[record.text],
            metadatas=[{
                "path": record.path, "doc_id": record.doc_id, "content_hash": record.content_hash,
                "title": record.title, "n_sentences": record.n_sentences,
            }],
        )

    def uncommit(self, path: str) -> None:
        self.registry.delete(ids=[_registry_id(path)])

    # -- sentences -------------------------------------------------------------------------
    def add(self, sentences: list[Sentence], embeddings: np.ndarray) -> None:
        """Store sentences with their vectors, as LlamaIndex text nodes in the collection."""
        from llama_index.core.schema import TextNode
        from llama_index.vector_stores.chroma import ChromaVectorStore

        if self._vector_store is None:
            self._vector_store = ChromaVectorStore(chroma_collection=self.sentences)
        nodes = [
            TextNode(id_=s.id, text=s.text, embedding=vec.tolist(), metadata=_metadata(s),
                     excluded_embed_metadata_keys=list(_metadata(s)),
                     excluded_llm_metadata_keys=list(_metadata(s)))
            for s, vec in zip(sentences, embeddings, strict=True)
        ]
        if nodes:
            self._vector_store.add(nodes)

    def delete_stale(self, path: str, keep_hash: str | None) -> None:
        """Delete the sentences of `path` whose version is not `keep_hash` (all if None)."""
        where: dict = {"path": path}
        if keep_hash is not None:
            where = {"$and": [{"path": path}, {"doc_hash": {"$ne": keep_hash}}]}
        self.sentences.delete(where=where)

    def fetch(self, path: str, doc_hash: str) -> list[Sentence]:
        got = self.sentences.get(
            where={"$and": [{"path": path}, {"doc_hash": doc_hash}]},
            include=["documents", "metadatas"],
        )
        out = [_sentence_from(i, d, m) for i, d, m in
               zip(got["ids"], got["documents"], got["metadatas"], strict=True)]
        return sorted(out, key=lambda s: s.index)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Nearest sentences by cosine similarity: (id, similarity), best first."""
        n = min(k, self.sentences.count())
        if n == 0:
            return []
        got = self.sentences.query(query_embeddings=[vector.tolist()], n_results=n,
                                   include=["distances"])
        return [(i, 1.0 - float(d)) for i, d in zip(got["ids"][0], got["distances"][0],
                                                   strict=True)]

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        got = self.sentences.get(ids=ids, include=["embeddings"])
        return {i: np.asarray(v, dtype=np.float32)
                for i, v in zip(got["ids"], got["embeddings"], strict=True)}

    def count(self) -> int:
        return self.sentences.count()


def _registry_id(path: str) -> str:
    return hashlib.sha1(path.encode("utf-8")).hexdigest()


def catalog_path(settings: Settings) -> Path:
    """Embedded: inside the index folder. Server: a cache folder named after the URL."""
    if not settings.chroma_url:
        return settings.index_dir / "catalog.sqlite3"
    key = hashlib.sha1(f"{settings.chroma_url}|{settings.collection}".encode()).hexdigest()[:16]
    return settings.data_dir / "server-cache" / f"{key}.sqlite3"


class SentenceIndex:
    """The one store interface the rest of the program uses: committed sentences, their
    vectors, lexical search, and the documents they came from."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.chroma = ChromaStore(settings)
        self.catalog = Catalog(catalog_path(settings))
        self.sync()

    @property
    def location(self) -> str:
        return self.chroma.location

    def sync(self) -> int:
        """Make the catalog match the registry; returns how many documents it had to fix."""
        committed = self.chroma.committed()
        local = self.catalog.documents()
        fixed = 0
        for path, rec in local.items():
            if path not in committed:
                self.catalog.remove_document(path)
                fixed += 1
        for path, rec in committed.items():
            if local.get(path) is None or local[path].content_hash != rec.content_hash:
                text = self.chroma.committed_text(path)
                full = DocRecord(rec.path, rec.doc_id, rec.content_hash, rec.title, text,
                                 rec.n_sentences)
                self.catalog.replace_document(full, self.chroma.fetch(path, rec.content_hash))
                fixed += 1
        return fixed

    def documents(self) -> dict[str, DocRecord]:
        return self.catalog.documents()

    def replace(self, record: DocRecord, sentences: list[Sentence], embeddings: np.ndarray) -> None:
        self.chroma.add(sentences, embeddings)
        self.chroma.commit(record)
        self.chroma.delete_stale(record.path, keep_hash=record.content_hash)
        self.catalog.replace_document(record, sentences)

    def remove(self, path: str) -> None:
        self.chroma.uncommit(path)
        self.chroma.delete_stale(path, keep_hash=None)
        self.catalog.remove_document(path)

    def count(self) -> int:
        return self.catalog.count()

    def vector_search(self, vector: np.ndarray, k: int) -> list[tuple[Sentence, float]]:
        hits = self.chroma.search(vector, k + 8)  # a few spare for uncommitted leftovers
        found = self.catalog.get([i for i, _ in hits])
        return [(found[i], score) for i, score in hits if i in found][:k]

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Stored unit vectors of the given sentences."""
        return self.chroma.vectors(ids)

    def lexical_search(self, query: str, k: int) -> list[tuple[Sentence, float]]:
        hits = self.catalog.lexical_search(query, k)
        found = self.catalog.get([i for i, _ in hits])
        return [(found[i], score) for i, score in hits if i in found]

    def neighbours(self, sentence: Sentence, before: int = 2, after: int = 2) -> list[Sentence]:
        return self.catalog.neighbours(sentence, before, after)

    def document(self, path: str) -> DocRecord | None:
        return self.catalog.document(path)

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the store's write lock, or fail at once naming who holds it."""
        lock_path = catalog_path(self.settings).with_suffix(".lock")
        handle = open(lock_path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            handle.close()
            raise StoreBusyError(
                f"the index at {self.location} is being written by {holder}; "
                "try again when it finishes"
            ) from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"process {os.getpid()}")
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
