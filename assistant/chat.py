"""Chat backends: messages in, streamed text out. Transport only, no knowledge of evidence.

`ChatBackend` is what the grounding layer (assistant.llm) talks to, so a test can hand it a
scripted backend. `OpenAIChat` is the implementation for any OpenAI-compatible endpoint (OpenAI,
llama.cpp, Ollama, vLLM, LM Studio): tokens streamed to `on_token` as they arrive; one deadline
bounds the whole call; 429 (honouring Retry-After), 5xx and dropped connections retried with
backoff inside it; a stream that breaks after some text keeps that text, marked partial; an
error raised by `on_token` passed on as it is. The API key is never printed, logged or put in a
message.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

from assistant.config import Settings
from assistant.errors import ConfigError, LLMError
from assistant.types import TokenCallback

DUMMY_KEY = "sk-no-key-needed"  # local servers ignore the key, but the client wants one


@dataclass
class Completion:
    """What the model wrote, whether it was cut off, and how long it took."""

    text: str
    partial: bool = False
    note: str = ""
    first_token_ms: float | None = None
    total_ms: float = 0.0
    attempts: int = 1


class ChatBackend(Protocol):
    """A chat model behind some transport."""

    def complete(self, messages: list[dict[str, str]], on_token: TokenCallback | None = None,
                 *, deadline: float | None = None, max_tokens: int | None = None,
                 stop: Sequence[str] | None = None) -> Completion:
        """The model's reply to `messages`, streamed to `on_token`, finished (or cut off,
        marked partial) by `deadline` (a `time.monotonic()` instant; None: the backend's own
        timeout). Raises LLMError when nothing usable arrived."""
        ...


def endpoint_label(base_url: str | None) -> str:
    """The endpoint as shown in messages: scheme, host and path, never credentials."""
    if not base_url:
        return "the OpenAI API"
    parts = urlsplit(base_url)
    host = parts.hostname or base_url
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}" if parts.scheme else host


class OpenAIChat:
    """The `ChatBackend` for OpenAI-compatible endpoints (see the module docstring)."""

    def __init__(self, settings: Settings, *, backoff: float = 0.5,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not settings.api_key and not settings.base_url:
            raise ConfigError(
                "--llm openai needs an endpoint: set OPENAI_API_KEY (for OpenAI) or "
                "OPENAI_BASE_URL (a local server such as llama.cpp, Ollama or LM Studio, e.g. "
                "http://127.0.0.1:8080/v1), or use --llm offline")
        self.settings = settings
        self.backoff = backoff
        self.sleep = sleep
        self.endpoint = endpoint_label(settings.base_url)
        self._client = None

    @property
    def client(self):
        if self._client is None:
            import httpx2
            from openai import OpenAI

            self._client = OpenAI(
                api_key=self.settings.api_key or DUMMY_KEY,
                base_url=self.settings.base_url,
                timeout=httpx2.Timeout(self.settings.timeout),
                max_retries=0,  # retried here, inside one deadline
            )
        return self._client

    def _redact(self, text: str) -> str:
        key = self.settings.api_key
        if key:
            text = text.replace(key, "***")
        return re.sub(r"(sk-[A-Za-z0-9_\-]{4})[A-Za-z0-9_\-*]+", r"\1***", text)

    def complete(self, messages: list[dict[str, str]], on_token: TokenCallback | None = None,
                 *, deadline: float | None = None, max_tokens: int | None = None,
                 stop: Sequence[str] | None = None) -> Completion:
        """Stream a chat completion within `deadline` (default: `settings.timeout` from now),
        retrying 429/5xx/dropped connections with backoff. Raises LLMError when nothing usable
        arrived."""
        started = time.monotonic()
        # `limit`: the time allowed, as messages state it (the setting, or the deadline given)
        limit = self.settings.timeout if deadline is None else max(round(deadline - started, 1), 0)
        if deadline is None:
            deadline = started + self.settings.timeout
        attempt = 0
        last_reason = ""
        while True:
            attempt += 1
            received: list[str] = []
            first: list[float] = []
            try:
                reason = self._stream_once(messages, started, deadline, received, first,
                                           on_token, max_tokens or self.settings.max_tokens,
                                           list(stop) if stop else None)
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
                                         f"the {limit:g} s timeout")
                raise LLMError(
                    f"{self.endpoint} did not answer within {limit:g} s "
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
                     first: list[float], on_token: TokenCallback | None, max_tokens: int,
                     stop: list[str] | None) -> str:
        """One streamed request; returns the finish reason. `first` gets the time to the first
        token, counted from `started` (the start of the whole call, retries included)."""
        import httpx2  # the HTTP library openai 3 is built on (not chromadb's httpx)
        import openai

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise _Timeout()
        timeout = httpx2.Timeout(remaining, connect=min(remaining, 10.0))
        try:
            stream = self.client.chat.completions.create(
                model=self.settings.model, messages=messages, stream=True, temperature=0,
                max_tokens=max_tokens, timeout=timeout, **({"stop": stop} if stop else {}))
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
            if isinstance(cause, httpx2.TimeoutException):
                raise _Timeout() from None
            raise _Retryable(f"connection failed: {type(cause).__name__}") from None
        except httpx2.TimeoutException:
            raise _Timeout() from None
        except httpx2.TransportError as exc:  # dropped half-way through the stream
            raise _Retryable(f"connection dropped: {type(exc).__name__}") from None
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError, TypeError,
                AttributeError, openai.APIResponseValidationError) as exc:
            raise _Garbled(_short(type(exc).__name__)) from None
        except openai.APIError as exc:  # an error event inside the stream
            raise _Garbled(self._redact(_short(str(exc.message)))) from None


class _Retryable(Exception):
    def __init__(self, reason: str, wait: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


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
