"""The assistant as one object: the index, the retriever and an answerer, wired from settings.
The CLI, the terminal UI and the evaluator all go through `Assistant.ask`."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from assistant import rerank
from assistant.answer import Answer, Answerer, Turn, make_answerer
from assistant.config import Settings
from assistant.errors import EmptyIndexError, EmptyQuestionError
from assistant.retrieve import Hit, HybridRetriever
from assistant.sentences import Sentence
from assistant.store import SentenceIndex


@dataclass
class CiteMatch:
    sentence: Sentence
    score: float
    exact: bool


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
            if hasattr(self._answerer, "bind_encoder"):  # the LLM's verifier shares the encoder
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
                        batch_sentences=self.settings.ingest_batch)

    def retrieve(self, question: str, k: int | None = None) -> list[Hit]:
        return self.retriever.search(question, k or self.settings.top_k).hits

    def prepare(self) -> None:
        """Open the store and load the models at once: they load mostly outside the GIL, so a
        cold `ask` pays for the longer of the two instead of their sum."""
        if self._index is not None or self._encoder is not None:
            return

        def load() -> None:
            _ = self.encoder
            rerank.shared()

        loader = threading.Thread(target=load, name="load-model", daemon=True)
        loader.start()
        try:
            _ = self.index
        finally:
            loader.join()

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
        done = time.perf_counter()
        answer.timings.update(retrieval.timings)
        answer.timings["retrieve_ms"] = (t_retrieved - started) * 1000
        answer.timings["answer_ms"] = (done - t_retrieved) * 1000
        answer.timings["total_ms"] = (done - started) * 1000
        return answer

    def resolve(self, question: str, history: list[Turn] | None):
        """A follow-up rewritten as a standalone question; "explain [2]" resolved to the sentence
        cited as [2] (see assistant.conversation)."""
        from assistant.conversation import Resolved, resolve

        if not history:
            return Resolved(question, question)
        return resolve(question, history, getattr(self.answerer, "rewrite", None))

    def cite(self, text: str, k: int = 5) -> list[CiteMatch]:
        """Where the documents state `text`: exact (normalised) matches first, then nearest."""
        if not text.strip():
            raise EmptyQuestionError("nothing to look up: give a quote or a claim")
        hits = self.retriever.search(text, max(k, 20)).hits
        wanted = _norm(text)
        matches = [CiteMatch(h.sentence, h.score, wanted in _norm(h.sentence.text)) for h in hits]
        matches.sort(key=lambda m: (not m.exact, -m.score))
        return matches[:k]

    def close(self) -> None:
        if self._index is not None:
            self._index.catalog.close()
