"""Placeholder until the chat UI lands: tells the user what works today."""

from __future__ import annotations

from assistant.config import Settings


def run_app(settings: Settings) -> int:
    print("The chat UI is not built yet. Try: assistant ask \"What did Putin confirm?\"")
    return 0
