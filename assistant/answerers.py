"""The answerers the assistant can use, by name: the one list that the settings' validation, the
CLI's `--llm`/`--answerer` choices, the chat UI's status label and `make_answerer` read.

An entry names its class by import path, as a plugin would be named: the settings read this list
without importing the answerers (which import the settings), and listing the names imports
nothing heavy. What an answerer can do (stream tokens, rewrite follow-ups, share the assistant's
encoder) is declared on its class (`streams`, `rewrites`, `shares_encoder`; see
assistant.answer.Answerer), not probed for with hasattr.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from assistant.errors import ConfigError


class _Settings(Protocol):
    """What this module reads of assistant.config.Settings (not imported: config imports this
    module to validate `llm`)."""

    llm: str
    model: str


@dataclass(frozen=True)
class AnswererSpec:
    """One answerer: its name in settings and on the command line, and how to build it."""

    name: str
    target: str
    """"module:Class", imported only when the answerer is built or its capabilities read; the
    class has `from_settings(settings)`."""
    summary: str
    needs_network: bool
    """Whether it sends the question and the evidence over the network."""
    label: Callable[[_Settings], str]
    """How the chat UI's status bar names it."""

    def load(self) -> type:
        """The answerer's class (its capabilities are class attributes)."""
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def build(self, settings: _Settings) -> Any:
        """The answerer (an assistant.answer.Answerer) for these settings."""
        return self.load().from_settings(settings)


REGISTRY: dict[str, AnswererSpec] = {spec.name: spec for spec in (
    AnswererSpec("offline", "assistant.answer:ExtractiveAnswerer",
                 "extractive: the retrieved sentences that best answer, no network",
                 needs_network=False, label=lambda s: "offline (extractive)"),
    AnswererSpec("openai", "assistant.llm:OpenAIAnswerer",
                 "any OpenAI-compatible server, its answer checked against the evidence",
                 needs_network=True, label=lambda s: f"openai · {s.model}"),
)}
DEFAULT = "offline"


def names() -> list[str]:
    """The answerers' names, the default first."""
    return list(REGISTRY)


def get(name: str) -> AnswererSpec:
    """The entry for `name`, or ConfigError saying which names there are."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(unknown(name)) from None


def unknown(name: object) -> str:
    """The message for a name that is not an answerer's."""
    listed = " or ".join(repr(n) for n in REGISTRY)
    return f"unknown answerer {name!r}; use {listed}"


def make_answerer(settings: _Settings) -> Any:
    """The answerer (an assistant.answer.Answerer) named by the settings; offline unless an LLM
    is configured."""
    return get(settings.llm).build(settings)
