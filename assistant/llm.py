"""Grounded answers: an LLM's text held to the evidence it was given. Grounding only; the
transport (streaming, deadline, retries) is a `ChatBackend` (assistant.chat).

- Nothing relevant retrieved: "not found", without calling the model.
- The evidence block: numbered sentences, flattened so no document text can act as a prompt.
- Citation ids that match no evidence sentence are removed and counted; each answer sentence gets
  a support score (`verify_part`, the one seam to assistant.support.Verifier); unsupported
  sentences are marked, weakly supporting citations dropped.
- Each answer sentence is also judged on whether it addresses the question (`judge_relevance`,
  the seam to assistant.relevance: one cross-encoder batch per answer); a supported sentence
  that does not is marked off-question. With no sentence both supported and on-question, the
  offline extractive answer is returned and the notes say why.
- Follow-up questions are rewritten by the same backend (`rewrite`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from assistant.answer import ExtractiveAnswerer, is_relevant, not_found
from assistant.chat import ChatBackend, Completion, OpenAIChat
from assistant.citations import (
    ClaimSentence,
    format_sentence,
    split_answer,
    strip_unknown,
)
from assistant.config import Settings
from assistant.prompting import render
from assistant.relevance import Relevance
from assistant.support import Verifier
from assistant.types import Answer, AnswerSentence, Citation, Hit, TokenCallback, Turn

UNSUPPORTED_MARK = "[unverified]"
OFF_QUESTION_MARK = "[off-question]"
# A model that starts writing its own evidence block or next question has finished its answer.
STOP = ["<evidence>", "</evidence>", "\nQuestion:"]
_REFUSAL = re.compile(r"\b(do(?:es)? not|don't|doesn't|cannot|can't|no) (?:\w+ ){0,3}"
                      r"(contain|mention|say|state|include|answer|find|information)", re.I)


def format_evidence(hits: list[Hit]) -> str:
    """The evidence block: one numbered sentence per line, flattened so that no document text
    can close the block or start a line of its own."""
    lines = []
    for i, h in enumerate(hits, 1):
        text = re.sub(r"\s+", " ", h.sentence.text).strip()
        text = re.sub(r"</?\s*evidence\s*>", "", text, flags=re.I)
        # The id follows the sentence, as a citation would: a model that copies a sentence
        # copies its citation too.
        lines.append(f"{text} [{i}]")
    return "\n".join(lines)


def build_messages(question: str, hits: list[Hit]) -> list[dict[str, str]]:
    """System rules, one worked example exchange (small models follow a shown turn better than a
    described one), then the evidence and the question."""
    return [
        {"role": "system", "content": render("answer_system")},
        {"role": "user", "content": render("answer_example_user").strip()},
        {"role": "assistant", "content": render("answer_example_assistant").strip()},
        {"role": "user", "content": render("answer_user", evidence=format_evidence(hits),
                                           question=question.strip())},
    ]


def is_refusal(text: str) -> bool:
    """The model said the evidence does not hold the answer (and cited nothing)."""
    return bool(_REFUSAL.search(text)) and not re.search(r"\[\s*[Ss]?\d", text)


class GroundedAnswerer:
    """The `Answerer` that asks a chat backend and holds its reply to the evidence (see the
    module docstring). Capabilities are declared, for the registry and the service."""

    name = "grounded"  # what `Answer.answerer` says; each registered subclass names itself
    streams = True  # on_token gets the model's text piece by piece
    rewrites = True  # `rewrite` turns a follow-up into a standalone question
    shares_encoder = True  # the verifier takes the assistant's encoder (`bind_encoder`)

    def __init__(self, backend: ChatBackend, settings: Settings, encoder=None) -> None:
        self.backend = backend
        self.settings = settings
        self._encoder = encoder
        self._encoder_factory: Callable[[], object] | None = None
        self._verifier: Verifier | None = None
        self._relevance: Relevance | None = None
        self.fallback = ExtractiveAnswerer(max_sentences=settings.answer_sentences)

    # -- wiring ---------------------------------------------------------------------------
    def bind_encoder(self, factory: Callable[[], object]) -> None:
        """Share the assistant's encoder (built lazily) instead of loading a second one."""
        self._encoder_factory = factory

    @property
    def encoder(self):
        if self._encoder is None:
            if self._encoder_factory is not None:
                self._encoder = self._encoder_factory()
            else:
                from assistant.embedding import Encoder

                self._encoder = Encoder()
        return self._encoder

    @property
    def verifier(self) -> Verifier:
        if self._verifier is None:
            self._verifier = Verifier(self.encoder)
        return self._verifier

    @property
    def relevance(self) -> Relevance:
        if self._relevance is None:
            self._relevance = Relevance()  # the retriever's cross-encoder (rerank.shared)
        return self._relevance

    # -- the Answerer protocol -------------------------------------------------------------
    def answer(self, question: str, hits: list[Hit], *, history: list[Turn] | None = None,
               on_token: TokenCallback | None = None) -> Answer:
        if not is_relevant(hits):
            return not_found(question, hits, self.name)  # the model is never called
        evidence = hits[: self.settings.top_k]
        _ = self.relevance  # a missing or stale threshold file fails before the model is called
        completion = self.backend.complete(build_messages(question, evidence), on_token,
                                           stop=STOP)
        answer = self.check(question, hits, evidence, completion)
        answer.timings["llm_ms"] = completion.total_ms
        if completion.first_token_ms is not None:
            answer.timings["first_token_ms"] = completion.first_token_ms
        return answer

    def check(self, question: str, hits: list[Hit], evidence: list[Hit],
              completion: Completion) -> Answer:
        """Hold the model's text to its evidence: parse, verify, mark, or fall back."""
        text = completion.text.strip()
        notes = [completion.note] if completion.note else []
        if not text and not completion.partial:
            return self._fallback(question, hits, ["the model returned an empty answer"])
        if not completion.partial and is_refusal(text):
            answer = not_found(question, hits, self.name)
            answer.notes.append("the model found no answer in the evidence")
            return answer
        parts = split_answer(text)
        removed = strip_unknown(parts, set(range(1, len(evidence) + 1)))
        sentences: list[AnswerSentence] = []
        dropped = 0
        added = 0
        for part in parts:
            sentence, was_added = self.verify_part(part, evidence, question)
            added += was_added
            dropped += len(part.ids) - len(sentence.citations)
            sentences.append(sentence)
        self.judge_relevance(question, sentences, evidence)
        supported = [s for s in sentences if s.supported]
        off = [s for s in supported if s.addresses is False]
        kept = [s for s in supported if s.addresses is not False]
        if removed:
            notes.append(f"removed {removed} citation{'s' if removed > 1 else ''} to ids that "
                         "match no evidence sentence")
        if added:
            notes.append(f"{added} uncited sentence{'s' if added > 1 else ''} matched to the "
                         "evidence sentence that supports it (citation added by the checker)")
        if dropped:
            notes.append(f"dropped {dropped} weakly supporting citation"
                         f"{'s' if dropped > 1 else ''}")
        if not kept and not completion.partial:
            draft = re.sub(r"\s+", " ", text)[:300]
            why = ("no sentence of the model's answer is supported by the sentences it cites"
                   if not supported else
                   f"no sentence of the model's answer that its citations support addresses the "
                   f"question ({len(off)} off-question)")
            return self._fallback(question, hits, [
                *notes, f"{why}; showing the offline extractive answer instead",
                f"model draft (unverified): {draft}"])
        unsupported = len(sentences) - len(supported)
        if unsupported:
            notes.append(f"{unsupported} sentence{'s' if unsupported > 1 else ''} not supported "
                         f"by {'their' if unsupported > 1 else 'its'} citations, marked "
                         f"{UNSUPPORTED_MARK}")
        if off:
            notes.append(f"{len(off)} sentence{'s' if len(off) > 1 else ''} supported by "
                         f"{'their' if len(off) > 1 else 'its'} citations but not addressing "
                         f"the question, marked {OFF_QUESTION_MARK}")
        shown = []
        for s in sentences:
            line = format_sentence(s.text, s.citations)
            # one mark: not supported says more than off-question
            mark = (UNSUPPORTED_MARK if not s.supported
                    else OFF_QUESTION_MARK if s.addresses is False else "")
            shown.append(f"{line} {mark}" if mark else line)
        body = " ".join(shown)
        if completion.partial:
            body += " …"
        used: list[int] = []
        for s in sentences:
            used.extend(i for i in s.citations if i not in used)
        citations = [Citation(i, evidence[i - 1].sentence, evidence[i - 1].score)
                     for i in sorted(used)]
        return Answer(question, body, bool(kept), citations, self.name,
                      sentences=sentences, notes=notes, partial=completion.partial)

    def verify_part(self, part: ClaimSentence, evidence: list[Hit],
                    question: str) -> tuple[AnswerSentence, bool]:
        """The verification seam: one answer sentence checked against the evidence it cites
        (an uncited one is first given the evidence sentence that supports it, if any). Returns
        the sentence with the citations kept, and whether its citation was added here."""
        added = False
        if not part.ids and not part.unknown:
            # Uncited: cite the evidence sentence that verifiably supports it, if one does.
            texts = {i: h.sentence.text for i, h in enumerate(evidence, 1)}
            all_titles = {i: h.sentence.title for i, h in enumerate(evidence, 1)}
            best, _ = self.verifier.attribute(part.text, texts, all_titles, question)
            if best is not None:
                part.ids = [best]
                added = True
        cited = {i: evidence[i - 1].sentence.text for i in part.ids}
        titles = {i: evidence[i - 1].sentence.title for i in part.ids}
        verdict = self.verifier.verify(part.text, cited, titles, question)
        keep = [i for i in part.ids if verdict.per_citation.get(i, 0.0) >= self.verifier.weak]
        if verdict.supported and not keep:
            keep = list(part.ids)  # supported only by the citations together
        return AnswerSentence(part.text, keep, support=verdict.support,
                              supported=verdict.supported), added

    def judge_relevance(self, question: str, sentences: list[AnswerSentence],
                        evidence: list[Hit]) -> None:
        """The relevance seam: set each sentence's `addresses`, all of an answer's sentences in
        one cross-encoder batch, each read with the title of the first evidence it cites."""
        titles = [evidence[s.citations[0] - 1].sentence.title if s.citations else ""
                  for s in sentences]
        verdicts = self.relevance.addresses(
            question, [(s.text, t) for s, t in zip(sentences, titles, strict=True)])
        for s, addresses in zip(sentences, verdicts, strict=True):
            s.addresses = addresses

    def _fallback(self, question: str, hits: list[Hit], notes: list[str]) -> Answer:
        answer = self.fallback.answer(question, hits)
        answer.notes = [*notes, *answer.notes]
        return answer

    # -- conversation ----------------------------------------------------------------------
    def rewrite(self, prompt: str) -> str:
        """A short, non-streamed completion (used to rewrite follow-up questions)."""
        return self.backend.complete([{"role": "user", "content": prompt}], max_tokens=60,
                                     stop=STOP).text


class OpenAIAnswerer(GroundedAnswerer):
    """Grounded answers from an OpenAI-compatible endpoint: `GroundedAnswerer` over
    `OpenAIChat`, built from settings."""

    name = "openai"

    def __init__(self, settings: Settings, encoder=None, *, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(OpenAIChat(settings, backoff=backoff, sleep=sleep), settings, encoder)

    @classmethod
    def from_settings(cls, settings: Settings) -> OpenAIAnswerer:
        return cls(settings)
