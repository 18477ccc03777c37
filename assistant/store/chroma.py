"""Chroma, the vector half of the store: one collection of sentence vectors (written through
LlamaIndex as text nodes whose metadata carries each sentence's span, line, page and section)
and, with a server, a second collection that is the registry of committed documents.
`ChromaStore` opens either kind of Chroma (embedded on disk, or an HTTP server, checked with
`check_server` first) and knows nothing of the catalog; the backends in embedded.py and
server.py decide what is committed."""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from assistant.catalog import DocRecord
from assistant.config import Settings
from assistant.errors import StoreError
from assistant.types import Sentence

os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
REGISTRY_SUFFIX = "-documents"
CONNECT_TIMEOUT_S = 5.0
"""How long to wait for a Chroma server to accept a connection and answer its heartbeat."""
REQUEST_TIMEOUT_S = 60.0
"""How long any later request to a Chroma server may take before it is abandoned."""
BATCH = 2000
"""Sentences per Chroma call (reads, deletes, copies from the catalog)."""
_OPENING = threading.Lock()


def _metadata(s: Sentence) -> dict:
    meta = {
        "path": s.path, "doc_id": s.doc_id, "doc_hash": s.doc_hash, "sentence_index": s.index,
        "char_start": s.char_start, "char_end": s.char_end, "line": s.line, "title": s.title,
    }
    # Chroma metadata cannot hold None: a sentence without a page has no page keys at all.
    if s.page is not None:
        meta["page"] = s.page
        meta["page_label"] = s.page_label
        if s.page_end is not None:
            meta["page_end"] = s.page_end
    if s.section:
        meta["section"] = s.section
    return meta


def _registry_metadata(r: DocRecord) -> dict:
    """A commit record as Chroma metadata (which cannot hold None: unknown fields left out)."""
    meta = {"path": r.path, "doc_id": r.doc_id, "content_hash": r.content_hash,
            "title": r.title, "n_sentences": r.n_sentences, "format": r.format or "text",
            "pages": r.pages or 0}
    for name in ("size", "mtime_ns", "byte_hash", "indexed_at", "source_hash"):
        if getattr(r, name) is not None:
            meta[name] = getattr(r, name)
    return meta


def sentence_from_metadata(id_: str, text: str, meta: dict) -> Sentence:
    """A sentence rebuilt from its Chroma record (the inverse of `_metadata`)."""
    return Sentence.from_dict({**meta, "id": id_, "text": text, "index": meta["sentence_index"]})


def check_server(url: str, timeout: float = CONNECT_TIMEOUT_S) -> str:
    """Ask a Chroma server for its heartbeat and version within `timeout` seconds; returns the
    version, or raises StoreError saying what is wrong."""
    import httpx

    base = url.rstrip("/")
    hint = "start one with `chroma run --path DIR --port N`, or drop --chroma-url"
    try:
        with httpx.Client(timeout=httpx.Timeout(timeout), trust_env=False) as http:
            beat = http.get(base + "/api/v2/heartbeat")
            if beat.status_code == 404:
                raise StoreError(
                    f"{url} is not a Chroma server this assistant can use: it has no "
                    "/api/v2/heartbeat (Chroma 1.x is needed)"
                )
            beat.raise_for_status()
            if "nanosecond heartbeat" not in beat.json():
                raise StoreError(f"{url} answered, but not as a Chroma server does")
            version = str(http.get(base + "/api/v2/version").json())
    except StoreError:
        raise
    except httpx.TimeoutException:
        raise StoreError(
            f"the Chroma server at {url} did not answer within {timeout:.0f} s; {hint}"
        ) from None
    except httpx.ConnectError as exc:
        raise StoreError(f"cannot connect to the Chroma server at {url} ({exc}); {hint}") from None
    except (httpx.HTTPError, ValueError) as exc:
        raise StoreError(f"{url} answered, but not as a Chroma server does ({exc})") from None
    import chromadb

    if version.split(".")[0] != chromadb.__version__.split(".")[0]:
        raise StoreError(
            f"the Chroma server at {url} runs Chroma {version}, which this assistant's client "
            f"(Chroma {chromadb.__version__}) cannot use; run a Chroma "
            f"{chromadb.__version__.split('.')[0]}.x server"
        )
    return version


class ChromaStore:
    """Sentence vectors, and (with a server) the committed-documents registry, in Chroma."""

    def __init__(self, settings: Settings, registry: bool = True) -> None:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        self.location: str
        self.registry = None
        self._embedded = not settings.chroma_url
        self._persist = ""
        try:
            if settings.chroma_url:
                url = urlparse(settings.chroma_url)
                if url.scheme not in ("http", "https") or not url.hostname:
                    raise StoreError(
                        f"chroma_url: {settings.chroma_url!r} is not an http(s)://HOST:PORT URL"
                    )
                check_server(settings.chroma_url)
                self.client = chromadb.HttpClient(
                    host=url.hostname, port=url.port or (443 if url.scheme == "https" else 8000),
                    ssl=url.scheme == "https", settings=chroma_settings,
                )
                _set_http_timeout(self.client)
                self.location = settings.chroma_url
            else:
                path = settings.index_dir / "chroma"
                path.mkdir(parents=True, exist_ok=True)
                with _OPENING:
                    self._persist = _unshared_name(path)
                    self.client = chromadb.PersistentClient(path=self._persist,
                                                            settings=chroma_settings)
                self.location = str(settings.index_dir)
            space = {"hnsw:space": "cosine"}
            self.sentences = self.client.get_or_create_collection(
                settings.collection, embedding_function=None, metadata=space
            )
            if registry:
                self.registry = self.client.get_or_create_collection(
                    settings.collection + REGISTRY_SUFFIX, embedding_function=None,
                    metadata=space,
                )
        except StoreError:
            raise
        except Exception as exc:  # chromadb raises many kinds; all mean the same to the user
            where = settings.chroma_url or settings.index_dir
            if self._embedded:
                _forget_system(self._persist)
            raise StoreError(f"cannot open the Chroma store at {where}: {exc}") from None
        self._vector_store = None

    def close(self) -> None:
        """Let go of an embedded store's files (so it can be moved aside and rebuilt)."""
        if self._embedded:
            _forget_system(self._persist)

    # -- registry (commit records; server mode) -----------------------------------------------
    def committed(self) -> dict[str, DocRecord]:
        got = self.registry.get(include=["metadatas"])
        return {
            m["path"]: DocRecord(m["path"], m["doc_id"], m["content_hash"], m.get("title", ""),
                                 "", int(m["n_sentences"]), format=m.get("format", "text"),
                                 pages=m.get("pages") or None, size=m.get("size"),
                                 mtime_ns=m.get("mtime_ns"), byte_hash=m.get("byte_hash"),
                                 indexed_at=m.get("indexed_at"),
                                 source_hash=m.get("source_hash"))
            for m in got["metadatas"] or []
        }

    def committed_text(self, path: str) -> str:
        got = self.registry.get(ids=[_registry_id(path)], include=["documents"])
        return (got["documents"] or [""])[0] or ""

    def commit(self, record: DocRecord) -> None:
        self.commit_many([record])

    def commit_many(self, records: list[DocRecord]) -> None:
        """Mark these document versions committed (one upsert: all of them or none)."""
        self.registry.upsert(
            ids=[_registry_id(r.path) for r in records],
            embeddings=[[1.0] for _ in records],
            documents=[r.text for r in records],
            metadatas=[_registry_metadata(r) for r in records],
        )

    def uncommit(self, path: str) -> None:
        self.registry.delete(ids=[_registry_id(path)])

    # -- sentences -------------------------------------------------------------------------
    def add(self, sentences: list[Sentence], embeddings: np.ndarray) -> None:
        """Store sentences with their vectors, as LlamaIndex text nodes in the collection."""
        from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode
        from llama_index.vector_stores.chroma import ChromaVectorStore

        if self._vector_store is None:
            self._vector_store = ChromaVectorStore(chroma_collection=self.sentences)
        nodes = []
        for s, vec in zip(sentences, embeddings, strict=True):
            meta = _metadata(s)
            nodes.append(TextNode(
                id_=s.id, text=s.text, embedding=np.asarray(vec, dtype=np.float32).tolist(),
                metadata=meta, excluded_embed_metadata_keys=list(meta),
                excluded_llm_metadata_keys=list(meta),
                # LlamaIndex writes the source node's id into the `doc_id` metadata key
                relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=s.doc_id)},
            ))
        if nodes:
            self._vector_store.add(nodes)

    def delete_stale(self, path: str, keep_hash: str | None) -> None:
        """Delete the sentences of `path` whose version is not `keep_hash` (all if None)."""
        where: dict = {"path": path}
        if keep_hash is not None:
            where = {"$and": [{"path": path}, {"doc_hash": {"$ne": keep_hash}}]}
        self.sentences.delete(where=where)

    def delete_ids(self, ids: list[str]) -> None:
        for b in range(0, len(ids), BATCH):
            self.sentences.delete(ids=ids[b : b + BATCH])

    def ids(self) -> set[str]:
        out: set[str] = set()
        offset = 0
        while True:
            got = self.sentences.get(include=[], limit=BATCH * 5, offset=offset)["ids"]
            out.update(got)
            if len(got) < BATCH * 5:
                return out
            offset += len(got)

    def fetch(self, path: str, doc_hash: str) -> tuple[list[Sentence], np.ndarray]:
        """The sentences of one version of a document, in order, with their vectors."""
        got = self.sentences.get(
            where={"$and": [{"path": path}, {"doc_hash": doc_hash}]},
            include=["documents", "metadatas", "embeddings"],
        )
        rows = sorted(
            ((sentence_from_metadata(i, d, m), np.asarray(e, dtype=np.float32)) for i, d, m, e in
             zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"], strict=True)),
            key=lambda r: r[0].index,
        )
        return [s for s, _ in rows], np.array([v for _, v in rows], dtype=np.float32)

    def search(self, vector: np.ndarray, k: int) -> list[tuple[str, float]]:
        """Nearest sentences by cosine similarity: (id, similarity), best first."""
        got = self.sentences.query(query_embeddings=[np.asarray(vector).tolist()], n_results=k,
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

    # The embedding model's identity, on the server: the registry collection's metadata, read
    # afresh (another machine may have set it), written with the other keys kept (modify
    # replaces the metadata; the distance function lives in the collection's configuration).
    def embedding(self) -> str | None:
        meta = self.client.get_collection(self.registry.name).metadata or {}
        return meta.get("embedding")

    def set_embedding(self, identity: str) -> None:
        meta = self.client.get_collection(self.registry.name).metadata or {}
        keep = {k: v for k, v in meta.items() if not k.startswith("hnsw:")}
        self.registry.modify(metadata={**keep, "embedding": identity})


def _unshared_name(path: Path) -> str:
    """A name for the folder that no open store in this process uses. chromadb shares one
    in-memory store per folder name in a process, and that store never sees what other
    processes add; a distinct name ("/./.") gives each open its own, which can be reopened to
    see new commits. The shortest free one is taken, so reopening does not lengthen it."""
    from chromadb.api.shared_system_client import SharedSystemClient

    for n in itertools.count():
        name = str(path) + "/." * n
        if name not in SharedSystemClient._identifier_to_system:
            return name
    raise AssertionError("unreachable")


def _forget_system(identifier: str) -> None:
    """chromadb keeps one open system per store folder for the whole process; drop ours."""
    from chromadb.api.shared_system_client import SharedSystemClient

    system = SharedSystemClient._identifier_to_system.pop(identifier, None)
    SharedSystemClient._identifier_to_refcount.pop(identifier, None)
    if system is not None:
        try:
            system.stop()
        except Exception:  # a broken store may fail to stop cleanly; it is being dropped
            pass


def _set_http_timeout(client) -> None:
    """chromadb's HTTP client waits forever by default; bound every request."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if session is not None:
        session.timeout = httpx.Timeout(REQUEST_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)


def _registry_id(path: str) -> str:
    return hashlib.sha1(path.encode("utf-8")).hexdigest()
