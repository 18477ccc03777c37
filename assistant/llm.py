"""Fluent answers from any OpenAI-compatible endpoint (OpenAI, llama.cpp, Ollama, vLLM, LM Studio),
held to the evidence: every answer sentence is checked locally against the sentences it cites.

- Nothing relevant retrieved: "not found", without calling the model.
- Tokens are streamed to `on_token` as they arrive.
- Citation ids that match no evidence sentence are removed and counted; each answer sentence gets
  a support score (assistant.support.Verifier); unsupported sentences are marked, weakly
  supporting citations dropped; with no supported sentence left, the offline extractive answer
  is returned and the notes say so.
- Faults: one deadline (`settings.timeout`) bounds the whole call; 429, 5xx and dropped
  connections are retried with backoff inside it; a stream that breaks after some text keeps that
  text, marked partial. The API key is never printed, logged or put in a message.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from assistant.answer import ExtractiveAnswerer, is_relevant, not_found
from assistant.citations import format_sentence, split_answer, strip_unknown
from assistant.config import Settings
from assistant.errors import ConfigError, LLMError
from assistant.prompting import render
from assistant.support import Verifier
from assistant.types import Answer, AnswerSentence, Citation, Hit, TokenCallback, Turn

DUMMY_KEY = "sk-no-key-needed"  # local servers ignore the key, but the client wants one
UNSUPPORTED_MARK = "[unverified]"
# A model that starts writing its own evidence block or next question has finished its answer.
STOP = ["<evidence>", "</evidence>", "\nQuestion:"]
_REFUSAL = re.compile(r"\b(do(?:es)? not|don't|doesn't|cannot|can't|no) (?:\w+ ){0,3}"
                      r"(contain|mention|say|state|include|answer|find|information)", re.I)


@dataclass
class Completion:
    """What the model wrote, whether it was cut off, and how long it took."""

    text: str
    partial: bool = False
    note: str = ""
    first_token_ms: float | None = None
    total_ms: float = 0.0
    attempts: int = 1


class _Retryable(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


def endpoint_label(base_url: str | None) -> str:
    """The endpoint as shown in messages: scheme, host and path, never credentials."""
    if not base_url:
        return "the OpenAI API"
    parts = urlsplit(base_url)
    host = parts.hostname or base_url
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else host


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


class OpenAIAnswerer:
    """The `Answerer` for OpenAI-compatible endpoints (see the module docstring)."""

    name = "openai"

    def __init__(self, settings: Settings, encoder=None, *, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not settings.api_key and not settings.base_url:
            raise ConfigError(
                "--llm openai needs an endpoint: set OPENAI_API_KEY (for OpenAI) or "
                "OPENAI_BASE_URL (a local server such as llama.cpp, Ollama or LM Studio, e.g. "
                "http://127.0.0.1:8080/v1), or use --llm offline")
        self.settings = settings
        self._encoder = encoder
        self._encoder_factory: Callable[[], object] | None = None
        self._client = None
        self._verifier: Verifier | None = None
        self.backoff = backoff
        self.sleep = sleep
        self.fallback = ExtractiveAnswerer(max_sentences=settings.answer_sentences)
        self.endpoint = endpoint_label(settings.base_url)

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
    def client(self):
        if self._client is None:
            import httpx
            from openai import OpenAI

            self._client = OpenAI(
                api_key=self.settings.api_key or DUMMY_KEY,
                base_url=self.settings.base_url,
                timeout=httpx.Timeout(self.settings.timeout),
                max_retries=0,  # retried here, inside one deadline
            )
        return self._client

    def _redact(self, text: str) -> str:
        key = self.settings.api_key
        if key:
            text = text.replace(key, "***")
        return re.sub(r"(sk-[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-*]+", r"\1***", text)

    # -- the model call --------------------------------------------------------------------
    def complete(self, messages: list[dict[str, str]], on_token: TokenCallback | None = None,
                 max_tokens: int | None = None) -> Completion:
        """Stream a chat completion within `settings.timeout`, retrying 429/5xx/dropped
        connections with backoff. Raises LLMError when nothing usable arrived."""
        started = time.monotonic()
        deadline = started + self.settings.timeout
        attempt = 0
        last_reason = ""
        while True:
            attempt += 1
            received: list[str] = []
            first: list[float] = []
            try:
                reason = self._stream_once(messages, started, deadline, received, first,
                                           on_token, max_tokens or self.settings.max_tokens)
                note = "the answer reached the length limit (max_tokens) and may be cut short" \
                    if reason == "length" else ""
                return Completion("".join(received), note=note,
                                  first_token_ms=first[0] if first else None,
                                  total_ms=(time.monotonic() - started) * 1000,
                                  attempts=attempt)
            except _Retryable as exc:
                last_reason = exc.reason
                if received:  # text already shown: keep it, marked, rather than start over
                    return self._partial(received, first, started, attempt,
                                         f"the connection to {self.endpoint} broke off "
                                         f"({exc.reason})")
                remaining = deadline - time.monotonic()
                if attempt > self.settings.max_retries or remaining <= 0:
                    raise LLMError(
                        f"{self.endpoint} kept failing ({last_reason}) after {attempt} "
                        f"attempt{'s' if attempt > 1 else ''}; try again later, or use "
                        "--llm offline") from None
                wait = self.backoff * 2 ** (attempt - 1) * (1 + random.random() / 4)
                if exc.wait is not None:
                    wait = max(wait, exc.wait)
                self.sleep(min(wait, max(remaining - 0.05, 0)))
            except _Timeout:
                if received:
                    return self._partial(received, first, started, attempt,
                                         f"{self.endpoint} stopped answering; no reply within "
                                         f"the {self.settings.timeout:g} s timeout")
                raise LLMError(
                    f"{self.endpoint} did not answer within {self.settings.timeout:g} s "
                    "(timeout); check that the server is running and not overloaded, raise "
                    "ASSISTANT_TIMEOUT, or use --llm offline") from None
            except _Garbled as exc:
                if received:
                    return self._partial(received, first, started, attempt,
                                         f"{self.endpoint} sent a reply that could not be read "
                                         f"({exc})")
                raise LLMError(
                    f"{self.endpoint} sent a reply that is not an OpenAI-compatible chat "
                    f"completion ({exc}); check OPENAI_BASE_URL (it usually ends in /v1)"
                ) from None

    def _partial(self, received: list[str], first: list[float], started: float, attempts: int,
                 why: str) -> Completion:
        return Completion("".join(received), partial=True,
                          note=f"partial answer: {why}", first_token_ms=first[0] if first else None,
                          total_ms=(time.monotonic() - started) * 1000, attempts=attempts)

    def _stream_once(self, messages, started: float, deadline: float, received: list[str],
                     first: list[float], on_token: TokenCallback | None, max_tokens: int) -> str:
        """One streamed request; returns the finish reason. `first` gets the time to the first
        token, counted from `started` (the start of the whole call, retries included)."""
        import httpx
        import openai

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Timeout()
        timeout = httpx.Timeout(remaining, connect=min(remaining, 10.0))
        try:
            stream = self.client.chat.completions.create(
                model=self.settings.model, messages=messages, stream=True, temperature=0,
                max_tokens=max_tokens, stop=STOP, timeout=timeout)
            finished = ""
            for chunk in stream:
                if getattr(chunk, "choices", None) is None:
                    raise _Garbled("a stream event without choices")
                if not chunk.choices:
                    continue
                if chunk.choices[0].finish_reason:
                    finished = chunk.choices[0].finish_reason
                delta = chunk.choices[0].delta
                piece = (getattr(delta, "content", None) or "") if delta is not None else ""
                if piece:
                    if not first:
                        first.append((time.monotonic() - started) * 1000)
                    received.append(piece)
                    if on_token:
                        try:
                            on_token(piece)
                        except BaseException as exc:  # the caller's error, not the server's
                            stream.close()
                            raise _CallbackFailed(exc) from exc
                if time.monotonic() > deadline:
                    stream.close()
                    raise _Timeout()
            if not finished:
                raise _Retryable("the stream ended before the answer was finished")
            return finished
        except _CallbackFailed as exc:
            raise exc.error from exc.error.__cause__
        except (_Timeout, _Garbled, _Retryable):
            raise
        except openai.APITimeoutError:
            raise _Timeout() from None
        except openai.AuthenticationError:
            raise LLMError(
                f"{self.endpoint} rejected the API key (HTTP 401): set a valid OPENAI_API_KEY "
                "(or unset it for a local server), or use --llm offline") from None
        except openai.PermissionDeniedError:
            raise LLMError(
                f"{self.endpoint} refused access (HTTP 403): check that OPENAI_API_KEY may use "
                f"model {self.settings.model!r}, or use --llm offline") from None
        except openai.NotFoundError:
            raise LLMError(
                f"{self.endpoint} has no model {self.settings.model!r} or no chat API (HTTP "
                "404): pick one with --model, and check OPENAI_BASE_URL (it usually ends in "
                "/v1)") from None
        except openai.RateLimitError as exc:
            raise _Retryable("HTTP 429, rate limited", _retry_after(exc)) from None
        except openai.InternalServerError as exc:
            raise _Retryable(f"HTTP {exc.status_code}, server error") from None
        except openai.APIStatusError as exc:
            if exc.status_code >= 500:
                raise _Retryable(f"HTTP {exc.status_code}, server error") from None
            raise LLMError(f"{self.endpoint} refused the request (HTTP {exc.status_code}): "
                           f"{self._redact(_short(exc.message))}") from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            if isinstance(cause, httpx.TimeoutException):
                raise _Timeout() from None
            raise _Retryable(f"connection failed: {type(cause).__name__}") from None
        except httpx.TimeoutException:
            raise _Timeout() from None
        except httpx.TransportError as exc:  # dropped half-way through the stream
            raise _Retryable(f"connection dropped: {type(exc).__name__}") from None
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError,
                AttributeError, openai.APIResponseValidationError) as exc:
            raise _Garbled(_short(type(exc).__name__)) from None
        except openai.APIError as exc:  # an error event inside the stream
            raise _Garbled(self._redact(_short(str(exc.message)))) from None

    # -- the Answerer protocol -------------------------------------------------------------
    def answer(self, question: str, hits: list[Hit], *, history: list[Turn] | None = None,
               on_token: TokenCallback | None = None) -> Answer:
        if not is_relevant(hits):
            return not_found(question, hits, self.name)  # the model is never called
        evidence = hits[: self.settings.top_k]
        completion = self.complete(build_messages(question, evidence), on_token)
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
        texts = {i: h.sentence.text for i, h in enumerate(evidence, 1)}
        all_titles = {i: h.sentence.title for i, h in enumerate(evidence, 1)}
        added = 0
        for part in parts:
            if not part.ids and not part.unknown:
                # Uncited: cite the evidence sentence that verifiably supports it, if one does.
                best, _ = self.verifier.attribute(part.text, texts, all_titles, question)
                if best is not None:
                    part.ids = [best]
                    added += 1
            cited = {i: evidence[i - 1].sentence.text for i in part.ids}
            titles = {i: evidence[i - 1].sentence.title for i in part.ids}
            verdict = self.verifier.verify(part.text, cited, titles, question)
            keep = [i for i in part.ids if verdict.per_citation.get(i, 0.0) >= self.verifier.weak]
            if verdict.supported and not keep:
                keep = list(part.ids)  # supported only by the citations together
            dropped += len(part.ids) - len(keep)
            sentences.append(AnswerSentence(part.text, keep, support=verdict.support,
                                            supported=verdict.supported))
        supported = [s for s in sentences if s.supported]
        if removed:
            notes.append(f"removed {removed} citation{'s' if removed > 1 else ''} to ids that "
                         "match no evidence sentence")
        if added:
            notes.append(f"{added} uncited sentence{'s' if added > 1 else ''} matched to the "
                         "evidence sentence that supports it (citation added by the checker)")
        if dropped:
            notes.append(f"dropped {dropped} weakly supporting citation"
                         f"{'s' if dropped > 1 else ''}")
        if not supported and not completion.partial:
            draft = re.sub(r"\s+", " ", text)[:300]
            return self._fallback(question, hits, [
                *notes, "no sentence of the model's answer is supported by the sentences it "
                "cites; showing the offline extractive answer instead",
                f"model draft (unverified): {draft}"])
        unsupported = len(sentences) - len(supported)
        if unsupported:
            notes.append(f"{unsupported} sentence{'s' if unsupported > 1 else ''} not supported "
                         f"by {'their' if unsupported > 1 else 'its'} citations, marked "
                         f"{UNSUPPORTED_MARK}")
        shown = []
        for s in sentences:
            line = format_sentence(s.text, s.citations)
            shown.append(line if s.supported else f"{line} {UNSUPPORTED_MARK}")
        body = " ".join(shown)
        if completion.partial:
            body += " …"
        used: list[int] = []
        for s in sentences:
            used.extend(i for i in s.citations if i not in used)
        citations = [Citation(i, evidence[i - 1].sentence, evidence[i - 1].score)
                     for i in sorted(used)]
        return Answer(question, body, bool(supported), citations, self.name,
                      sentences=sentences, notes=notes, partial=completion.partial)

    def _fallback(self, question: str, hits: list[Hit], notes: list[str]) -> Answer:
        answer = self.fallback.answer(question, hits)
        answer.notes = [*notes, *answer.notes]
        return answer

    # -- conversation ----------------------------------------------------------------------
    def rewrite(self, prompt: str) -> str:
        """A short, non-streamed completion (used to rewrite follow-up questions)."""
        return self.complete([{"role": "user", "content": prompt}], max_tokens=60).text


class _Timeout(Exception):
    pass


class _Garbled(Exception):
    pass


class _CallbackFailed(Exception):
    """`on_token` raised: its error is passed on as it is, never retried or called garbled."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(error)
        self.error = error


def _retry_after(exc) -> float | None:
    try:
        value = exc.response.headers.get("retry-after")
        return min(float(value), 30.0) if value else None
    except (AttributeError, ValueError):
        return None


def _short(text: str, limit: int = 200) -> str:
    text = re.sub(r"\s+", " ", str(text)).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"
