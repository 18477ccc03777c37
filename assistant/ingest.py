"""Ingest: read → split into sentences → embed → store, with a report line per file.

Unchanged files (same content hash) are skipped without loading the model; a changed file
replaces its old sentences; a file that is gone from an ingested folder is removed."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from assistant.catalog import DocRecord
from assistant.documents import (
    Document,
    discover,
    document_from_bytes,
    key_path,
    read_bytes,
    source_hash,
)
from assistant.errors import InputError
from assistant.sentences import Sentence, doc_id_for, split_document
from assistant.store import SentenceIndex

Progress = Callable[[int, int, str], None]
"""progress(sentences_done, sentences_total, current_path)"""


@dataclass
class FileReport:
    path: str
    status: str  # indexed | unchanged | removed | skipped
    reason: str = ""
    sentences: int = 0
    warnings: list[str] = field(default_factory=list)  # indexed, but e.g. some pages had no text


@dataclass
class IngestReport:
    files: list[FileReport] = field(default_factory=list)
    sentences_embedded: int = 0
    seconds: float = 0.0
    embed_seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def summary(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in ("indexed", "unchanged", "removed", "skipped")]
        return (f"{', '.join(parts)}; {self.sentences_embedded} sentences embedded "
                f"in {self.seconds:.1f} s")

    def to_dict(self) -> dict:
        return {
            "files": [asdict(f) for f in self.files],
            "indexed": self.count("indexed"), "unchanged": self.count("unchanged"),
            "removed": self.count("removed"), "skipped": self.count("skipped"),
            "sentences_embedded": self.sentences_embedded, "seconds": round(self.seconds, 3),
        }


def _preload_writer() -> None:
    try:
        import llama_index.core.schema  # noqa: F401
        import llama_index.vector_stores.chroma  # noqa: F401
    except Exception:  # the writer will report a real import problem itself
        pass


class Ingestor:
    """Brings documents into a SentenceIndex. The encoder is created only when needed."""

    def __init__(self, index: SentenceIndex, encoder_factory: Callable[[], object],
                 batch_sentences: int = 1024) -> None:
        self.index = index
        self._encoder_factory = encoder_factory
        self._encoder = None
        self.batch_sentences = batch_sentences
        self._preload: threading.Thread | None = None

    @property
    def encoder(self):
        if self._encoder is None:
            self._encoder = self._encoder_factory()
        return self._encoder

    def ingest_paths(self, paths: Iterable[Path], max_bytes: int,
                     progress: Progress | None = None) -> IngestReport:
        """Ingest files and folders; vanished files under an ingested folder are removed."""
        started = time.perf_counter()
        report = IngestReport()
        docs: list[Document] = []
        roots = list(paths)
        committed = self.index.documents()
        for found in discover(roots):
            shown = key_path(found.path)
            if found.skip_reason:
                report.files.append(FileReport(shown, "skipped", found.skip_reason))
                continue
            try:
                data = read_bytes(found.path, max_bytes)
                old = committed.get(shown)
                if old is not None and old.source_hash and old.source_hash == source_hash(data):
                    # same bytes, same readers: not parsed again
                    report.files.append(FileReport(shown, "unchanged",
                                                   sentences=old.n_sentences))
                    continue
                docs.append(document_from_bytes(found.path, data))
            except InputError as exc:
                report.files.append(FileReport(shown, "skipped", str(exc)))
        self._ingest(docs, report, progress)
        for path in sorted(self._vanished(roots)):
            self.index.remove(path)
            report.files.append(FileReport(path, "removed", "file no longer exists"))
        report.seconds = time.perf_counter() - started
        return report

    def ingest_documents(self, docs: Iterable[Document],
                         progress: Progress | None = None) -> IngestReport:
        """Ingest documents already in memory (evaluation sets, tests)."""
        started = time.perf_counter()
        report = IngestReport()
        self._ingest(list(docs), report, progress)
        report.seconds = time.perf_counter() - started
        return report

    def _vanished(self, roots: list[Path]) -> set[str]:
        gone: set[str] = set()
        prefixes = []
        for root in roots:
            shown = key_path(root)
            if root.is_dir():
                prefixes.append(shown.rstrip("/") + "/")
            elif not root.exists():
                prefixes.append(shown)  # a named file that is gone
        for path in self.index.documents():
            if any(path == p or path.startswith(p) for p in prefixes) and not Path(path).exists():
                gone.add(path)
        return gone

    def _ingest(self, docs: list[Document], report: IngestReport,
                progress: Progress | None) -> None:
        committed = self.index.documents()
        if docs and self._preload is None:
            # The store's writer imports LlamaIndex (~2 s): do it while splitting/embedding.
            # It is joined before the first write: two threads importing LlamaIndex's circular
            # modules at once fail with "partially initialized module".
            self._preload = threading.Thread(target=_preload_writer, daemon=True)
            self._preload.start()
        # A three-stage pipeline: this thread splits documents and writes finished batches
        # while one worker thread encodes (onnxruntime releases the GIL), so splitting and
        # storing hide behind the encoder instead of adding to it.
        state = {"done": 0, "total": 0}
        inflight: deque[tuple[list[tuple[Document, list[Sentence]]], Future]] = deque()
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as pool:
            for batch in self._split(docs, committed, report, state):
                encoder = self.encoder  # created here, once, only when something changed
                texts = [[s.text for s in sents] for _, sents in batch]
                inflight.append((batch, pool.submit(self._encode, encoder, texts, report)))
                while inflight and inflight[0][1].done():
                    self._write(*self._pop(inflight), report, state, progress)
            while inflight:
                self._write(*self._pop(inflight), report, state, progress)

    def _split(self, docs: list[Document], committed: dict, report: IngestReport,
               state: dict) -> Iterator[list[tuple[Document, list[Sentence]]]]:
        """Batches of at least `batch_sentences` sentences from the documents that changed."""
        batch: list[tuple[Document, list[Sentence]]] = []
        size = 0
        for doc in docs:
            old = committed.get(doc.path)
            if old is not None and old.content_hash == doc.content_hash:
                report.files.append(FileReport(doc.path, "unchanged", sentences=old.n_sentences))
                continue
            sentences = split_document(doc)
            if not sentences:
                report.files.append(FileReport(doc.path, "skipped", "no sentences found"))
                continue
            batch.append((doc, sentences))
            size += len(sentences)
            state["total"] += len(sentences)
            if size >= self.batch_sentences:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    @staticmethod
    def _encode(encoder, documents: list[list[str]], report: IngestReport):
        """(vectors, packed token states or None) of each document's sentences, in order."""
        t0 = time.perf_counter()
        if hasattr(encoder, "encode_documents"):
            vectors, tokens = encoder.encode_documents(documents)
        else:  # an encoder of sentences alone: the retriever computes token states when asked
            vectors, tokens = encoder.encode([t for doc in documents for t in doc]), None
        report.embed_seconds += time.perf_counter() - t0
        return vectors, tokens

    @staticmethod
    def _pop(inflight: deque) -> tuple[list[tuple[Document, list[Sentence]]], object]:
        batch, future = inflight.popleft()
        return batch, future.result()

    def _write(self, batch: list[tuple[Document, list[Sentence]]], encoded, report: IngestReport,
               state: dict, progress: Progress | None) -> None:
        vectors, packed = encoded
        tokens = None
        if packed is not None:
            ids = [s.id for _, sents in batch for s in sents]
            tokens = dict(zip(ids, packed, strict=True))
        offset = 0
        items = []
        for doc, sents in batch:
            record = DocRecord(doc.path, doc_id_for(doc.path), doc.content_hash, doc.title,
                               doc.text, len(sents), doc.format, len(doc.pages),
                               doc.source_hash)
            items.append((record, sents, vectors[offset : offset + len(sents)]))
            offset += len(sents)
        if self._preload is not None:
            self._preload.join()
        # One Chroma add for the whole batch (each document is still committed on its own).
        self.index.replace_many(items, tokens)
        for doc, sents in batch:
            state["done"] += len(sents)
            report.sentences_embedded += len(sents)
            report.files.append(FileReport(doc.path, "indexed", sentences=len(sents),
                                           warnings=list(doc.warnings)))
            if progress:
                progress(state["done"], state["total"], doc.path)
