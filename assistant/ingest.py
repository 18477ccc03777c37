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

import numpy as np

from assistant.catalog import DocRecord
from assistant.documents import (
    byte_hash,
    discover,
    document_from_bytes,
    file_stat,
    key_path,
    key_to_path,
    read_bytes,
    source_hash,
)
from assistant.errors import InputError, ModelError
from assistant.sentences import doc_id_for, split_document
from assistant.store import SentenceIndex
from assistant.types import Document, FileState, Sentence

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
    sentences_reused: int = 0
    """Sentences whose vectors and token states were copied from a committed document with
    the same text (a moved, renamed or copied file) instead of embedded."""
    sentences_reembedded: int = 0
    """Committed sentences embedded anew because the index was made by another encoder."""
    seconds: float = 0.0
    embed_seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)

    def summary(self) -> str:
        parts = [f"{self.count(s)} {s}" for s in ("indexed", "unchanged", "removed", "skipped")]
        again = (f" (and {self.sentences_reembedded} indexed sentences embedded anew for "
                 "another embedding model)") if self.sentences_reembedded else ""
        return (f"{', '.join(parts)}; {self.sentences_reused} sentences reused, "
                f"{self.sentences_embedded} embedded in {self.seconds:.1f} s{again}")

    def to_dict(self) -> dict:
        return {
            "files": [asdict(f) for f in self.files],
            "indexed": self.count("indexed"), "unchanged": self.count("unchanged"),
            "removed": self.count("removed"), "skipped": self.count("skipped"),
            "sentences_embedded": self.sentences_embedded,
            "sentences_reused": self.sentences_reused,
            "sentences_reembedded": self.sentences_reembedded, "seconds": round(self.seconds, 3),
        }


def _default_identity() -> str:
    from assistant.embedding import identity

    return identity()


def _preload_writer() -> None:
    try:
        import llama_index.core.schema  # noqa: F401
        import llama_index.vector_stores.chroma  # noqa: F401
    except Exception:  # the writer will report a real import problem itself
        pass


class Ingestor:
    """Brings documents into a SentenceIndex. The encoder is created only when needed."""

    def __init__(self, index: SentenceIndex, encoder_factory: Callable[[], object],
                 batch_sentences: int = 1024,
                 identity: Callable[[], str] | None = None) -> None:
        """`identity`: the identity of the encoder the factory makes, known without loading
        it (default: the default model's, `embedding.identity`)."""
        self.index = index
        self._encoder_factory = encoder_factory
        self._identity = identity or _default_identity
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
        self._check_embedding(report, progress)
        docs: list[Document] = []
        roots = list(paths)
        kept = self._kept_under_missing(roots)
        committed = self.index.documents()
        for found in discover(roots):
            shown = key_path(found.path)
            if shown in kept:
                n = kept[shown]
                report.files.append(FileReport(shown, "skipped", (
                    f"not found: its {n} document{'s are' if n != 1 else ' is'} kept; "
                    "`assistant remove` drops them")))
                continue
            if found.skip_reason:
                report.files.append(FileReport(shown, "skipped", found.skip_reason))
                continue
            try:
                before = file_stat(found.path)
                data = read_bytes(found.path, max_bytes)
                old = committed.get(shown)
                digest = byte_hash(data)
                if old is not None and old.source_hash == source_hash(digest):
                    # same bytes, same readers: not parsed again
                    if before is not None:
                        self._note_file_state(shown, FileState(
                            before.st_size, before.st_mtime_ns, digest), old)
                    report.files.append(FileReport(shown, "unchanged",
                                                   sentences=old.n_sentences))
                    continue
                docs.append(document_from_bytes(found.path, data, before, digest))
            except InputError as exc:
                report.files.append(FileReport(shown, "skipped", str(exc)))
        self._ingest(docs, report, progress, committed)
        for path in sorted(self._vanished(roots, kept)):
            self.index.remove(path)
            report.files.append(FileReport(path, "removed", "file no longer exists"))
        report.seconds = time.perf_counter() - started
        return report

    def ingest_documents(self, docs: Iterable[Document],
                         progress: Progress | None = None) -> IngestReport:
        """Ingest documents already in memory (evaluation sets, tests)."""
        started = time.perf_counter()
        report = IngestReport()
        self._check_embedding(report, progress)
        self._ingest(list(docs), report, progress)
        report.seconds = time.perf_counter() - started
        return report

    def _check_embedding(self, report: IngestReport, progress: Progress | None) -> None:
        """An index made by another encoder is embedded anew before anything is added (its
        vectors cannot be compared with this encoder's, or may not even have its dimension);
        an index that recorded none was made by the default model."""
        want = self._identity()
        have = self.index.embedding()
        if have == want:
            return
        if have is None:
            try:
                same = not self.index.count() or want == _default_identity()
            except ModelError:
                same = False
            if same:
                self.index.set_embedding(want)
                return
        report.sentences_reembedded = self.index.reembed(
            want, lambda docs: self._encode(self.encoder, docs, report), progress)

    def _kept_under_missing(self, roots: list[Path]) -> dict[str, int]:
        """Named paths that do not exist (an unplugged drive, a share not mounted) with the
        number of indexed documents under each: those are kept, never removed. A named file
        that is gone from a folder that exists is not among them: it is removed."""
        kept: dict[str, int] = {}
        committed: dict | None = None
        for root in roots:
            if root.exists():
                continue
            if committed is None:
                committed = self.index.documents()
            shown = key_path(root)
            if shown in committed and root.parent.is_dir():
                continue  # a file deleted from a folder that is there
            prefix = shown.rstrip("/") + "/"
            n = sum(1 for path in committed if path == shown or path.startswith(prefix))
            if n:
                kept[shown] = n
        return kept

    def _vanished(self, roots: list[Path], kept: dict[str, int]) -> set[str]:
        """Indexed documents that are gone from the named folders, and named files that are
        gone from folders that exist (`kept`: the missing roots whose documents stay)."""
        folders, files = [], set()
        for root in roots:
            shown = key_path(root)
            if root.is_dir():
                folders.append(shown.rstrip("/") + "/")
            elif not root.exists() and shown not in kept:
                files.add(shown)
        return {path for path in self.index.documents()
                if (path in files or any(path.startswith(p) for p in folders))
                and not Path(key_to_path(path)).exists()}

    def _ingest(self, docs: list[Document], report: IngestReport,
                progress: Progress | None, committed: dict | None = None) -> None:
        """`committed`: the index's documents, when the caller has just read them."""
        if committed is None:
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
        self._reused: list[tuple[Document, list[Sentence], np.ndarray, dict[str, bytes]]] = []
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="encode") as pool:
            for batch in self._split(docs, committed, report, state):
                encoder = self.encoder  # created here, once, only when something changed
                texts = [[s.text for s in sents] for _, sents in batch]
                inflight.append((batch, pool.submit(self._encode, encoder, texts, report)))
                while inflight and inflight[0][1].done():
                    self._write(*self._pop(inflight), report, state, progress)
            while inflight:
                self._write(*self._pop(inflight), report, state, progress)
        self._write_reused(report)

    def _split(self, docs: list[Document], committed: dict, report: IngestReport,
               state: dict) -> Iterator[list[tuple[Document, list[Sentence]]]]:
        """Batches of at least `batch_sentences` sentences from the documents that changed."""
        batch: list[tuple[Document, list[Sentence]]] = []
        size = 0
        for doc in docs:
            old = committed.get(doc.path)
            if old is not None and old.content_hash == doc.content_hash:
                if doc.file is not None:
                    self._note_file_state(doc.path, doc.file, old)
                report.files.append(FileReport(doc.path, "unchanged", sentences=old.n_sentences))
                continue
            sentences = split_document(doc)
            if not sentences:
                report.files.append(FileReport(doc.path, "skipped", "no sentences found"))
                continue
            if self._reuse(doc, sentences):
                if sum(len(r[1]) for r in self._reused) >= self.batch_sentences:
                    self._write_reused(report)
                continue
            batch.append((doc, sentences))
            size += len(sentences)
            state["total"] += len(sentences)
            if size >= self.batch_sentences:
                yield batch
                batch, size = [], 0
        if batch:
            yield batch

    def _note_file_state(self, path: str, f: FileState, old: DocRecord) -> None:
        """An unchanged text in a file that was touched or re-saved: record the file as it is
        now, so freshness checks compare against it."""
        if (old.size, old.mtime_ns, old.byte_hash) != (f.size, f.mtime_ns, f.byte_hash):
            self.index.set_file_state(path, f.size, f.mtime_ns, f.byte_hash)

    def _reuse(self, doc: Document, sentences: list[Sentence]) -> bool:
        """Content-addressed embeddings: a committed document with the same text (this file
        moved, renamed or copied) has the same sentences, and as a sentence's vector depends
        only on the text of its document (its late-chunking context, see embedding.py), the
        same vectors and token states. Queue them to be copied instead of encoding; False if
        there is no such document."""
        source = self.index.by_content(doc.content_hash)
        if source is None:
            return False
        old = self.index.document_sentences(source.path)
        if [(s.text, s.char_start, s.char_end) for s in old] != [
                (s.text, s.char_start, s.char_end) for s in sentences]:
            return False  # split differently (another splitter version): embed anew
        vectors = self.index.vectors([s.id for s in old])
        if len(vectors) != len(old):
            return False
        packed = self.index.token_states([s.id for s in old])
        tokens = {new.id: packed[o.id] for new, o in zip(sentences, old, strict=True)
                  if o.id in packed}
        self._reused.append((doc, sentences, np.stack([vectors[s.id] for s in old]), tokens))
        return True

    def _write_reused(self, report: IngestReport) -> None:
        """Commit the queued documents with copied vectors (one Chroma add for all)."""
        if not self._reused:
            return
        if self._preload is not None:
            self._preload.join()
        items = [(self._record(doc, sents), sents, matrix) for doc, sents, matrix, _ in
                 self._reused]
        tokens = {k: v for *_, t in self._reused for k, v in t.items()}
        self.index.replace_many(items, tokens or None)
        for doc, sents, _, _ in self._reused:
            report.sentences_reused += len(sents)
            report.files.append(FileReport(doc.path, "indexed",
                                           f"{len(sents)} sentences, vectors reused",
                                           sentences=len(sents)))
        self._reused = []

    @staticmethod
    def _record(doc: Document, sentences: list[Sentence]) -> DocRecord:
        f = doc.file
        return DocRecord(doc.path, doc_id_for(doc.path), doc.content_hash, doc.title, doc.text,
                         len(sentences), format=doc.format,
                         size=f.size if f else None, mtime_ns=f.mtime_ns if f else None,
                         byte_hash=f.byte_hash if f else None,
                         pages=len(doc.pages) if doc.pages else None,
                         source_hash=doc.source_hash or None)

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
            items.append((self._record(doc, sents), sents, vectors[offset : offset + len(sents)]))
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
