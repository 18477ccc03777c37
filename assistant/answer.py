"""The `Answerer` interface, the not-found reply, and the offline extractive answerer.
`assistant.answerers.make_answerer` picks the answerer the settings name."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from assistant.types import Answer, AnswerSentence, Citation, Hit, TokenCallback, Turn

if TYPE_CHECKING:
    from assistant.config import Settings

NOT_FOUND = "I could not find this in your documents."

# Hit scores are the retriever's calibrated probability that a sentence answers the question.
# Below FOUND_THRESHOLD the best sentence rarely answers, so the offline answerer says it did
# not find it; extra sentences are cited only when at least RELATIVE_CUTOFF times as probable
# as the first. Both chosen on dev.jsonl with `assistant eval` (and `--unanswerable`): the
# trade-offs measured are in docs/ranking-experiments.md ("Thresholds").
FOUND_THRESHOLD = 0.07
RELATIVE_CUTOFF = 0.75


class Answerer(Protocol):
    """What every answerer offers; its capabilities are declared, not probed for."""

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
