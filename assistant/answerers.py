"""Which answerer the settings name: offline (extractive) or an OpenAI-compatible server.
Kept apart from `answer.py` so that the LLM answerer can import the answer types without a
cycle."""

from __future__ import annotations

from assistant.answer import Answerer, ExtractiveAnswerer
from assistant.config import Settings


def make_answerer(settings: Settings) -> Answerer:
    """The answerer named by the settings; offline unless an LLM is configured."""
    if settings.llm == "openai":
        from assistant.llm import OpenAIAnswerer

        return OpenAIAnswerer(settings)
    return ExtractiveAnswerer(max_sentences=settings.answer_sentences)
