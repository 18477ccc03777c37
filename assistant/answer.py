"""The answer: what every answerer returns, and the offline extractive answerer.

One `Answerer` interface; `make_answerer` builds the one the settings name, from the registry in
assistant.answerers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Protocol

from assistant.config import Settings
from assistant.retrieve import Hit
from assistant.sentences import Sentence

TokenCallback = Callable[[str], None]

NOT_FOUND = "I could not find this in your documents."

# Hit scores are the retriever's calibrated probability that a sentence answers the question.
# Below this the best sentence rarely answers it, so the offline answerer says it did not find
# it. Chosen on dev.jsonl with `assistant eval` and `assistant eval --unanswerable`: the
# not-found rate on answerable questions against false answers with the document withheld
# (with the cross-encoder's features: 0.06: 0.080 / 0.091, 0.07: 0.091 / 0.077, 0.08: 0.108 /
# 0.059); kept clear of the 10% of false answers that the tool allows itself.
FOUND_THRESHOLD = 0.07
# Extra sentences are cited only when nearly as probable as the first. On dev, a second- or
# third-ranked sentence answers the question only ~30-40% of the time whatever its score, so
# each extra citation trades precision for recall: cutoff 0.7 gives citation precision/recall
# 0.755/0.643, 0.75 gives 0.775/0.629, 0.8 gives 0.801/0.615 (threshold 0.07; before the
# cross-encoder, 0.75 gave 0.757/0.609, and held out 0.751/0.597). 0.75 keeps precision clear of
# its floor of 0.75 and buys the most recall that allows (a citation must answer; neighbours
# show in the lookup view).
RELATIVE_CUTOFF = 0.75


@dataclass
class Citation:
    """An evidence sentence shown to the user as [n]."""

    n: int
    sentence: Sentence
    score: float
    stale: bool = False
    """Its document changed on disk or vanished since it was indexed (the sentence is shown
    as it was indexed)."""
    stale_reason: str | None = None
    """"changed" or "missing" when stale."""

    def to_dict(self) -> dict:
        s = self.sentence
        return {"id": s.id, "n": self.n, "doc": s.doc_id, "path": s.path, "line": s.line,
                "char_start": s.char_start, "char_end": s.char_end, "text": s.text,
                "page": s.page, "page_end": s.page_end, "page_label": s.page_label,
                "section": s.section, "score": round(self.score, 4), "stale": self.stale,
                "stale_reason": self.stale_reason}


@dataclass
class AnswerSentence:
    """A sentence of the answer text, the citations it carries, and its verification."""

    text: str
    citations: list[int]
    support: float | None = None
    supported: bool | None = None


@dataclass
class Turn:
    question: str
    answer: str
    citations: list[Citation] = field(default_factory=list)
    """The answer's citations, so that "explain [2]" can find the sentence shown as [2]."""
    standalone: str = ""
    """The question as it was understood (a rewritten follow-up), if it differs."""


@dataclass
class Answer:
    question: str
    text: str
    found: bool
    citations: list[Citation]
    answerer: str
    sentences: list[AnswerSentence] = field(default_factory=list)
    nearest: list[Citation] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    partial: bool = False

    def to_dict(self) -> dict:
        return {
            "question": self.question, "answer": self.text, "found": self.found,
            "answerer": self.answerer,
            "citations": [c.to_dict() for c in self.citations],
            "nearest": [c.to_dict() for c in self.nearest],
            "sentences": [asdict(s) for s in self.sentences],
            "notes": self.notes, "partial": self.partial,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
        }


class Answerer(Protocol):
    """What every answerer offers; its capabilities are declared (see assistant.answerers)."""

    name: str
    streams: bool
    """`on_token` gets the text piece by piece as it is written (not once, at the end)."""
    rewrites: bool
    """It has `rewrite(prompt) -> str`, used to rewrite follow-up questions."""
    shares_encoder: bool
    """It has `bind_encoder(factory)`, to use the assistant's encoder instead of its own."""

    def answer(self, question: str, hits: list[Hit], *, history: list[Turn] | None = None,
               on_token: TokenCallback | None = None) -> Answer: ...


def is_relevant(hits: list[Hit], threshold: float = FOUND_THRESHOLD) -> bool:
    """Whether retrieval found anything worth answering from."""
    return bool(hits) and hits[0].score >= threshold


def not_found(question: str, hits: list[Hit], answerer: str, nearest_n: int = 3) -> Answer:
    """The honest reply: nothing found, and the nearest sentences with their scores."""
    nearest = [Citation(i + 1, h.sentence, h.score) for i, h in enumerate(hits[:nearest_n])]
    return Answer(question, NOT_FOUND, False, [], answerer, nearest=nearest)


class ExtractiveAnswerer:
    """Offline: answers with the one to three retrieved sentences that best answer the question."""

    name = "offline"
    streams = False
    rewrites = False
    shares_encoder = False

    @classmethod
    def from_settings(cls, settings: Settings) -> ExtractiveAnswerer:
        return cls(max_sentences=settings.answer_sentences)

    def __init__(self, max_sentences: int = 3, threshold: float = FOUND_THRESHOLD,
                 relative_cutoff: float = RELATIVE_CUTOFF) -> None:
        self.max_sentences = max_sentences
        self.threshold = threshold
        self.relative_cutoff = relative_cutoff

    def select(self, hits: list[Hit]) -> list[Hit]:
        best = hits[0].score
        chosen = [hits[0]]
        for h in hits[1 : self.max_sentences]:
            if h.score >= best * self.relative_cutoff and h.score >= self.threshold:
                chosen.append(h)
        return chosen

    def answer(self, question: str, hits: list[Hit], *, history: list[Turn] | None = None,
               on_token: TokenCallback | None = None) -> Answer:
        if not is_relevant(hits, self.threshold):
            return not_found(question, hits, self.name)
        chosen = self.select(hits)
        citations = [Citation(i + 1, h.sentence, h.score) for i, h in enumerate(chosen)]
        parts = [AnswerSentence(c.sentence.text, [c.n], support=1.0, supported=True)
                 for c in citations]
        text = " ".join(f"{p.text} [{p.citations[0]}]" for p in parts)
        if on_token:
            on_token(text)
        return Answer(question, text, True, citations, self.name, sentences=parts)


def make_answerer(settings: Settings) -> Answerer:
    """The answerer named by the settings (see assistant.answerers); offline unless an LLM is
    configured."""
    from assistant.answerers import make_answerer as build

    return build(settings)
