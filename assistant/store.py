"""The sentence store: sentence vectors in a Chroma collection (embedded on disk, or a Chroma
server) written through LlamaIndex, and the local catalog (catalog.py: spans, text, vectors,
BM25). `SentenceIndex` is the one interface the rest of the program uses.

Embedded store (`<index>/chroma` + `<index>/catalog.sqlite3`). Embedded Chroma does not survive
SIGKILL at every moment (a kill while it applies its log to the HNSW files can leave a
collection that fails every call with "Failed to apply logs to the hnsw segment writer"), so
the catalog is the commit point and the durable copy, and Chroma is a derived vector index:
  1. add the new sentences to Chroma (their ids carry the content hash: old and new coexist);
  2. replace the document in the catalog, vectors included, in one SQLite transaction: the
     commit point; readers see the old version before it and the new one after it;
  3. delete the old version's sentences from Chroma.
Readers only return sentences that are in the catalog, so leftovers in Chroma are never shown.
A writer leaves a marker while it works; the next writer that finds the marker (or finds Chroma
unreadable, or holding a different number of sentences) repairs Chroma from the catalog: it
deletes leftovers, adds what is missing, and rebuilds the collection from scratch when Chroma
cannot be read. A reader that finds Chroma unreadable answers from the catalog's vectors
(exact search) until a writer has repaired it.

Chroma server (`--chroma-url`). The server keeps its data safe itself; the collection
`<name>-documents` is the registry of committed documents and the commit point:
  1. add the new sentences; 2. upsert the registry record (commit); 3. delete the old
  version's sentences; 4. update the local catalog, which is a cache of the registry
  (`settings.data_dir/server-cache/`) re-synced whenever it disagrees.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import itertools
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterator
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
CONNECT_TIMEOUT_S = 5.0
"""How long to wait for a Chroma server to accept a connection and answer its heartbeat."""
REQUEST_TIMEOUT_S = 60.0
"""How long any later request to a Chroma server may take before it is abandoned."""
BATCH = 2000
SERVER_RESYNC_S = 10.0
"""With a server, how old the local cache may get before a query re-syncs it (other
machines may have committed meanwhile)."""
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


def _sentence_from(id_: str, text: str, meta: dict) -> Sentence:
    page, page_end = meta.get("page"), meta.get("page_end")
    return Sentence(
        id=id_, doc_id=meta["doc_id"], path=meta["path"], index=int(meta["sentence_index"]),
        char_start=int(meta["char_start"]), char_end=int(meta["char_end"]),
        line=int(meta["line"]), text=text, doc_hash=meta["doc_hash"], title=meta.get("title", ""),
        page=int(page) if page is not None else None,
        page_end=int(page_end) if page_end is not None else None,
        page_label=meta.get("page_label", ""), section=meta.get("section", ""),
    )


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
            ((_sentence_from(i, d, m), np.asarray(e, dtype=np.float32)) for i, d, m, e in
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


def catalog_path(settings: Settings) -> Path:
    """Embedded: inside the index folder. Server: a cache folder named after the URL."""
    if not settings.chroma_url:
        return settings.index_dir / "catalog.sqlite3"
    key = hashlib.sha1(f"{settings.chroma_url}|{settings.collection}".encode()).hexdigest()[:16]
    return settings.data_dir / "server-cache" / f"{key}.sqlite3"


def check_index(settings: Settings, create: bool) -> None:
    """One clear line for an `--index` that cannot be an index: a file or a device, or (for
    `ask` and `cite`, `create=False`) a folder that holds no index (a mistyped name must not
    leave an empty index behind)."""
    if settings.chroma_url:
        return
    folder = settings.index_dir
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"the index {folder} is not a folder: give --index a folder "
                         "(ingest creates it)")
    if not create and not catalog_path(settings).is_file():
        what = "does not exist" if not folder.exists() else "holds no index"
        raise StoreError(f"the index folder {folder} {what}: check the --index name, or run "
                         f"`assistant ingest --index {folder} PATH` to create it")


def rebuild_catalog(settings: Settings) -> dict[str, int]:
    """`assistant repair`: a catalog SQLite cannot read is moved aside and rebuilt from the
    sentences, spans and vectors that Chroma holds (embedded store). A document's text comes
    from its file when the file still has the indexed content, else it is rebuilt from its
    sentences at their offsets (what a citation shows stays exact). Returns the counts."""
    if settings.chroma_url:
        raise StoreError("repair rebuilds an embedded index; with a Chroma server the catalog "
                         "is a cache: delete it and ask again")
    check_index(settings, create=False)
    from assistant.catalog import Catalog as _Catalog
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
                        (_sentence_from(i, d or "", m), np.asarray(e, dtype=np.float32)))
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
        catalog = _Catalog(path)
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


def _who() -> str:
    command = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv[:4]))
    return (f"process {os.getpid()} on {os.uname().nodename} ({command or 'python'}), "
            f"since {time.strftime('%H:%M:%S')}")


class SentenceIndex:
    """The one store interface the rest of the program uses: committed sentences, their
    vectors, lexical search, and the documents they came from."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.embedded = not settings.chroma_url
        check_index(settings, create=True)
        self.catalog = Catalog(catalog_path(settings))
        self.degraded: str | None = None
        """Why vector search is answered from the catalog instead of Chroma (embedded only)."""
        self._chroma: ChromaStore | None = None
        self._exact: tuple[int, list[str], np.ndarray] | None = None
        self._holding = False
        self._seen = self.catalog.generation()
        if self.embedded and self.catalog.read_only:
            # Chroma writes its own files even to read; the catalog's vectors answer instead.
            self.degraded = f"the index folder {settings.index_dir} is read-only"
        elif self.embedded:
            try:
                self._chroma = ChromaStore(settings, registry=False)
            except StoreError as exc:
                self.degraded = str(exc)
        else:
            self._chroma = ChromaStore(settings, registry=True)
            self.sync()
        self._synced = time.monotonic()

    @property
    def location(self) -> str:
        return self.settings.chroma_url or str(self.settings.index_dir)

    @property
    def chroma(self) -> ChromaStore:
        if self._chroma is None:
            raise StoreError(f"the Chroma store at {self.location} cannot be opened: "
                             f"{self.degraded}; run `assistant ingest` to repair it")
        return self._chroma

    @property
    def _marker(self) -> Path:
        return catalog_path(self.settings).with_suffix(".writing")

    def close(self) -> None:
        self.catalog.close()
        if self._chroma is not None:
            self._chroma.close()
            self._chroma = None

    # -- keeping Chroma and the catalog in step ------------------------------------------------
    def sync(self) -> int:
        """Server: make the catalog cache match the registry. Embedded: the catalog is the
        commit point, so there is nothing to fetch (see `repair`). Returns documents fixed."""
        if self.embedded:
            return 0
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
        """Make Chroma hold exactly the catalog's sentences (call it holding the write lock):
        delete leftovers of interrupted writes, add what is missing, rebuild when unreadable."""
        report = {"deleted": 0, "added": 0, "rebuilt": 0, "dropped_documents": 0}
        if not self.embedded:
            self.sync()
        try:
            self._backfill_vectors()
            chroma = self.chroma
            have, want = chroma.ids(), self.catalog.ids()
            stray = sorted(have - want)
            chroma.delete_ids(stray)
            report["deleted"] = len(stray)
            missing = want - have
            if missing:
                report["added"] = self._add_from_catalog(missing)
        except StoreError:
            if not self.embedded:
                raise
            report.update(self.rebuild())
        except Exception:  # chromadb's own errors: the embedded collection is unreadable
            if not self.embedded:
                raise
            report.update(self.rebuild())
        return report

    def rebuild(self) -> dict[str, int]:
        """Embedded only: replace the Chroma store with a fresh one built from the catalog."""
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

    def _refresh(self) -> None:
        """Embedded: if another process has committed since Chroma was opened, reopen it (an
        open embedded Chroma does not see other processes' additions). Server: re-sync the
        local cache when it is older than SERVER_RESYNC_S."""
        if not self.embedded:
            if time.monotonic() - self._synced > SERVER_RESYNC_S:
                self.sync()
                self._synced = time.monotonic()
            return
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

    def _chroma_write(self, action: Callable[[], None]) -> None:
        """Run a write to Chroma; if the embedded store is unreadable, rebuild it and retry."""
        try:
            action()
        except Exception:
            if not self.embedded:
                raise
            self.rebuild()
            action()

    # -- the embedding model ------------------------------------------------------------------
    def embedding(self) -> str | None:
        """The identity of the encoder that made the stored vectors (None: not recorded)."""
        return self.catalog.embedding()

    def set_embedding(self, identity: str) -> None:
        self.catalog.set_embedding(identity)

    def reembed(self, identity: str, encode: Callable[[list[list[str]]], tuple],
                progress: Callable[[int, int, str], None] | None = None) -> int:
        """Another encoder (model, dimension or token basis): give every committed sentence
        its vector and token state from `encode` (the sentences of each document, in order →
        (vectors, packed token states or None)), rebuild Chroma from them, then record
        `identity`. Call it holding the write lock. An interruption leaves the old identity
        recorded, so the next writer starts over. Returns the sentences embedded."""
        if not self.embedded:
            raise StoreError(
                f"the collection {self.settings.collection!r} on {self.location} was embedded "
                f"with another model ({self.embedding()}); ingest into a new --collection")
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
        self.set_embedding(identity)
        return done

    # -- the interface ---------------------------------------------------------------------
    def documents(self) -> dict[str, DocRecord]:
        return self.catalog.documents()

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
        if not items:
            return
        all_sentences = [s for _, sents, _ in items for s in sents]
        all_vectors = np.concatenate([e for _, _, e in items])
        self._chroma_write(lambda: self.chroma.add(all_sentences, all_vectors))
        committed = self.catalog.documents()
        if not self.embedded:  # the registry is the commit point: one call for all of them
            self.chroma.commit_many([r for r, _, _ in items])
        for record, sentences, embeddings in items:
            had_old = record.path in committed
            if self.embedded:
                self.catalog.replace_document(record, sentences, embeddings, tokens)  # commit
                self._seen = self.catalog.generation()
                if not had_old:  # nothing stale (a killed write's leftovers: see repair)
                    continue
                try:
                    self.chroma.delete_stale(record.path, keep_hash=record.content_hash)
                except Exception:  # leftovers are invisible to readers; the next writer repairs
                    self._marker.touch()
            else:
                if had_old:  # a new document has nothing stale (leftovers: see repair)
                    self.chroma.delete_stale(record.path, keep_hash=record.content_hash)
                self.catalog.replace_document(record, sentences, embeddings, tokens)

    def remove(self, path: str) -> None:
        if self.embedded:
            self.catalog.remove_document(path)  # the commit
            self._seen = self.catalog.generation()
            try:
                self.chroma.delete_stale(path, keep_hash=None)
            except Exception:
                self._marker.touch()
        else:
            self.chroma.uncommit(path)
            self.chroma.delete_stale(path, keep_hash=None)
            self.catalog.remove_document(path)

    def set_file_state(self, path: str, size: int | None, mtime_ns: int | None,
                       byte_hash: str | None) -> None:
        """Record a committed document's file as it is now (its text is unchanged)."""
        self.catalog.set_file_state(path, size, mtime_ns, byte_hash)

    def count(self) -> int:
        return self.catalog.count()

    def vector_search(self, vector: np.ndarray, k: int) -> list[tuple[Sentence, float]]:
        """Nearest committed sentences: (sentence, cosine similarity), best first."""
        self._refresh()
        if self._chroma is not None and self.degraded is None:
            try:
                return self._chroma_search(vector, k)
            except Exception as exc:
                if not self.embedded:
                    raise StoreError(f"the Chroma server at {self.location} failed: {exc}") \
                        from None
                self.degraded = f"the Chroma store cannot be read ({exc})"
        return self._exact_search(vector, k)

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

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Stored unit vectors of the given sentences."""
        out = self.catalog.vectors(ids)
        rest = [i for i in ids if i not in out]
        if rest and self._chroma is not None and self.degraded is None:
            try:
                out.update(self._chroma.vectors(rest))
            except Exception as exc:
                if not self.embedded:
                    raise StoreError(f"the Chroma server at {self.location} failed: {exc}") \
                        from None
        return out

    def token_states(self, ids: list[str]) -> dict[str, bytes]:
        """Packed token states kept for the given sentences (see embedding.pack_tokens); those
        without (written by another machine to a Chroma server, or before they were kept) are
        left out: the retriever computes them."""
        return self.catalog.token_states(ids)

    def lexical_search(self, query: str, k: int) -> list[tuple[Sentence, float]]:
        self._refresh()
        hits = self.catalog.lexical_search(query, k)
        found = self.catalog.get([i for i, _ in hits])
        return [(found[i], score) for i, score in hits if i in found]

    def neighbours(self, sentence: Sentence, before: int = 2, after: int = 2) -> list[Sentence]:
        return self.catalog.neighbours(sentence, before, after)

    def document(self, path: str) -> DocRecord | None:
        return self.catalog.document(path)

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
        self._holding = True
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(_who())
            handle.flush()
            self._prepare_write()
            yield
            self._marker.unlink(missing_ok=True)
        finally:
            self._holding = False
            handle.seek(0)
            handle.truncate()
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()

    def _prepare_write(self) -> None:
        """Under the lock: repair after an interrupted write, then mark a write in progress."""
        needs = self._marker.exists() or self.degraded is not None or (
            self.embedded and bool(self.catalog.missing_vectors()))
        if not needs and self.embedded:
            try:
                needs = self.chroma.count() != self.catalog.count()
            except Exception:
                needs = True
        if needs:
            self.repair()
        self._marker.touch()
