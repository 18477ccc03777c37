"""The answerers the assistant can use, by name: the one list that the settings' validation, the
CLI's `--llm`/`--answerer` choices, the chat UI's status label and `make_answerer` read.

An entry names its class by import path, so listing the names or validating a setting imports
nothing heavy; what an answerer can do (stream tokens, rewrite follow-ups, share the assistant's
encoder) is declared on its class (`streams`, `rewrites`, `shares_encoder`), not probed for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assistant.errors import ConfigError

if TYPE_CHECKING:
    from assistant.answer import Answerer
    from assistant.config import Settings


@dataclass(frozen=True)
class AnswererSpec:
    """One answerer: its name in settings and on the command line, and how to build it."""

    name: str
    target: str
    """"module:Class", imported only when the answerer is built or its capabilities asked."""
    summary: str
    needs_network: bool
    """Whether it sends the question and evidence over the network."""
    label: Callable[[Settings], str]
    """How the chat UI's status bar names it."""

    def load(self) -> type:
        """The answerer's class (its capabilities are class attributes)."""
        module, _, name = self.target.partition(":")
        return getattr(importlib.import_module(module), name)

    def build(self, settings: Settings) -> Answerer:
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
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(unknown(name)) from None


def unknown(name: object) -> str:
    """The message for a name that is not an answerer's."""
    listed = " or ".join(repr(n) for n in REGISTRY)
    return f"unknown answerer {name!r}; use {listed}"


def make_answerer(settings: Settings) -> Answerer:
    """The answerer named by the settings."""
    return get(settings.llm).build(settings)
