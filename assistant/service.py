"""The assistant as one object: the index, the retriever and an answerer, wired from settings.
The CLI, the terminal UI and the evaluator all go through `Assistant.ask`."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable

from assistant import rerank
from assistant.answer import Answerer
from assistant.answerers import make_answerer
from assistant.config import Settings
from assistant.errors import EmptyIndexError, EmptyQuestionError
from assistant.freshness import UP_TO_DATE, FreshnessChecker, SourceInfo
from assistant.retrieve import HybridRetriever
from assistant.store import SentenceIndex
from assistant.types import Answer, CiteMatch, Hit, Turn


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"[“”\"‘’']", "", text)).strip().lower()


class Assistant:
    def __init__(self, settings: Settings, index: SentenceIndex | None = None,
                 encoder=None, answerer: Answerer | None = None) -> None:
        self.settings = settings
        self._index = index
        self._encoder = encoder
        self._answerer = answerer
        self._retriever: HybridRetriever | None = None
        self._checker = FreshnessChecker(settings.max_file_bytes)

    # Built on first use, so a window can paint before the model and store load.
    @property
    def index(self) -> SentenceIndex:
        if self._index is None:
            self._index = SentenceIndex(self.settings)
        return self._index

    @property
    def encoder(self):
        if self._encoder is None:
            from assistant.embedding import Encoder

            self._encoder = Encoder()
        return self._encoder

    @property
    def answerer(self) -> Answerer:
        if self._answerer is None:
            self._answerer = make_answerer(self.settings)
            if self._answerer.shares_encoder:  # the LLM's verifier shares the encoder
                self._answerer.bind_encoder(lambda: self.encoder)
        return self._answerer

    @property
    def retriever(self) -> HybridRetriever:
        if self._retriever is None:
            self._retriever = HybridRetriever(self.index, self.encoder)
        return self._retriever

    def ingestor(self):
        from assistant.ingest import Ingestor

        return Ingestor(self.index, lambda: self.encoder,
                        batch_sentences=self.settings.ingest_batch,
                        identity=self.embedding_identity)

    def embedding_identity(self) -> str:
        """The identity of this assistant's encoder (`embedding.identity`), known without
        loading the default model."""
        from assistant import embedding

        if self._encoder is not None:
            return embedding.identity_of(self._encoder)
        return embedding.identity()

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        return self.retriever.search(question, k or self.settings.top_k).hits

    def prepare(self) -> None:
        """Open the store and load the models at once: they load mostly outside the GIL, so a
        cold `ask` pays for the longer of the two instead of their sum."""
        if self._index is not None or self._encoder is not None:
            return

        failed: list[BaseException] = []

        def load() -> None:
            try:
                _ = self.encoder
                rerank.shared()
                rerank.shared(rerank.ANSWER_CHECK_FILE)
            except BaseException as exc:  # raised here, in the caller's thread, not printed
                failed.append(exc)

        loader = threading.Thread(target=load, name="load-model", daemon=True)
        loader.start()
        try:
            _ = self.index
        finally:
            loader.join()
        if failed:
            raise failed[0]

    def ask(self, question: str, k: int | None = None, history: list[Turn] | None = None,
            on_token: Callable[[str], None] | None = None) -> Answer:
        """Answer a question from the index, with citations; raises on bad input."""
        if not question or not question.strip():
            raise EmptyQuestionError("the question is empty: type what you want to know")
        started = time.perf_counter()
        self.prepare()
        if self.index.count() == 0:
            raise EmptyIndexError(
                f"the index at {self.index.location} is empty: run `assistant ingest PATH` first"
            )
        getattr(self.retriever, "reranker", None)  # loaded before retrieval is timed (warm: no-op)
        t_loaded = time.perf_counter()
        resolved = self.resolve(question.strip(), history)
        retrieval = self.retriever.search(resolved.question, k or self.settings.top_k)
        if resolved.sentence is not None and all(
                h.sentence.id != resolved.sentence.id for h in retrieval.hits):
            top = retrieval.hits[0].score if retrieval.hits else 1.0
            retrieval.hits.insert(0, Hit(resolved.sentence, top))
        t_retrieved = time.perf_counter()
        answer = self.answerer.answer(resolved.question, retrieval.hits, history=history,
                                      on_token=on_token)
        if resolved.note:
            answer.notes.insert(0, resolved.note)
        t_answered = time.perf_counter()
        self.mark_stale([*answer.citations, *answer.nearest])
        done = time.perf_counter()
        answer.timings["freshness_ms"] = (done - t_answered) * 1000
        answer.timings.update(retrieval.timings)
        answer.timings["load_ms"] = (t_loaded - started) * 1000
        answer.timings["retrieve_ms"] = (t_retrieved - t_loaded) * 1000
        answer.timings["answer_ms"] = (done - t_retrieved) * 1000
        answer.timings["total_ms"] = (done - started) * 1000
        return answer

    def resolve(self, question: str, history: list[Turn] | None):
        """A follow-up rewritten as a standalone question; "explain [2]" resolved to the sentence
        cited as [2] (see assistant.conversation)."""
        from assistant.conversation import Resolved, resolve

        if not history:
            return Resolved(question, question)
        answerer = self.answerer
        return resolve(question, history, answerer.rewrite if answerer.rewrites else None)

    def cite(self, text: str, k: int = 5) -> list[CiteMatch]:
        """Where the documents state `text`: exact (normalised) matches first, then nearest."""
        if not text.strip():
            raise EmptyQuestionError("nothing to look up: give a quote or a claim")
        hits = self.retriever.search(text, max(k, 20)).hits
        wanted = _norm(text)
        matches = [CiteMatch(h.sentence, h.score, wanted in _norm(h.sentence.text)) for h in hits]
        matches.sort(key=lambda m: (not m.exact, -m.score))
        self.mark_stale(matches[:k])
        return matches[:k]

    # -- freshness ---------------------------------------------------------------------------
    def freshness(self, paths) -> dict[str, str]:
        """The state of each indexed document among `paths`: "up to date", "changed" or
        "missing" (see assistant.freshness); paths that are not indexed are left out."""
        records = self.index.records(paths)
        return {path: self._checker.state(rec) for path, rec in records.items()}

    def mark_stale(self, cited) -> None:
        """Flag citations (or cite matches) whose document changed or vanished on disk."""
        states = self.freshness({c.sentence.path for c in cited})
        for c in cited:
            state = states.get(c.sentence.path, UP_TO_DATE)
            c.stale = state != UP_TO_DATE
            c.stale_reason = state if c.stale else None

    def sources(self) -> list[SourceInfo]:
        """Every indexed document, by path, with its state on disk."""
        out = []
        for path, rec in sorted(self._documents().items()):
            out.append(SourceInfo(path=path, format=rec.format or "text", size=rec.size,
                                  sentences=rec.n_sentences, pages=rec.pages,
                                  indexed_at=rec.indexed_at, state=self._checker.state(rec)))
        return out

    def _documents(self):
        """The committed documents. An embedded store's catalog is its commit point, so a
        listing need not open Chroma (which takes a second or two to import)."""
        if self._index is not None or self.settings.chroma_url:
            return self.index.documents()
        from assistant.catalog import Catalog
        from assistant.store import catalog_path

        path = catalog_path(self.settings)
        if not path.exists():
            return {}
        catalog = Catalog(path)
        try:
            return catalog.documents()
        finally:
            catalog.close()

    def remove(self, paths) -> tuple[list[str], list[str]]:
        """Drop the documents at `paths` (a folder: every document under it; the path need not
        exist any more). Call it holding `index.writing()`. Returns (removed, not indexed)."""
        from assistant.documents import key_path

        indexed = self.index.documents()
        removed: list[str] = []
        unknown: list[str] = []
        for given in paths:
            key = key_path(given)
            prefix = key.rstrip("/") + "/"
            under = sorted(p for p in indexed if p == key or p.startswith(prefix))
            if not under:
                unknown.append(str(given))
            for path in under:
                self.index.remove(path)
                indexed.pop(path)
                removed.append(path)
        return removed, unknown

    def index_seeds_if_empty(self, progress=None, wait: float = 0.0):
        """Index `seeds/` when the index is empty (a first run), holding the write lock; the
        ingest report, or None when there was nothing to do."""
        from assistant.config import default_seeds_dir

        seeds = default_seeds_dir()
        if self.index.count() or not seeds.is_dir():
            return None
        with self.index.writing(wait=wait):
            if self.index.count():  # another process did it meanwhile
                return None
            return self.ingestor().ingest_paths([seeds], self.settings.max_file_bytes,
                                                progress=progress)

    def close(self) -> None:
        if self._index is not None:
            self._index.catalog.close()
