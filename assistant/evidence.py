"""Evidence as the integrations hand it out (the MCP server, the LlamaIndex retriever): one
shaping function from a sentence, hit or citation to a flat dict, and the documents' state."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from assistant.freshness import CHANGED, MISSING, UP_TO_DATE
from assistant.types import Sentence


def file_uri(path: str) -> str | None:
    """`file://` URI of an indexed path; None for a document that is not a file (an eval id)."""
    return Path(path).as_uri() if os.path.isabs(path) else None


def evidence(item: Any, freshness: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A `Sentence`, or anything with `.sentence` (`Hit`, `Citation`, `CiteMatch`), as a dict:
    the sentence's own dict (`Sentence.to_dict`) with its page label filled in, and score,
    stale, stale_reason, uri. `freshness` (path -> state) marks stale what the item does not."""
    s: Sentence = getattr(item, "sentence", item)
    score = getattr(item, "score", None)
    stale = getattr(item, "stale", None)
    reason = getattr(item, "stale_reason", None)
    if stale is None:
        state = (freshness or {}).get(s.path, UP_TO_DATE)
        stale = state in (CHANGED, MISSING)
        reason = state if stale else None
    return {
        **s.to_dict(),
        "page_label": s.page_label or (str(s.page) if s.page is not None else ""),
        "score": None if score is None else round(float(score), 4),
        "stale": bool(stale), "stale_reason": reason, "uri": file_uri(s.path),
    }


def freshness(assistant, paths: Iterable[str]) -> dict[str, str]:
    """path -> "up to date" / "changed" / "missing" for indexed paths."""
    return dict(assistant.freshness(sorted(set(paths))))


def sources(assistant) -> list[dict[str, Any]]:
    """The indexed documents and their state (path, format, size, sentences, pages,
    indexed_at, state), as `Assistant.sources()` gives them."""
    return [s.to_dict() for s in assistant.sources()]
