"""Evidence as the integrations hand it out (the MCP server, the LlamaIndex retriever): one
shaping function from a sentence, hit or citation to a flat dict, and the documents' state.

Fields that other parts of the program are still gaining (`page`, `page_label`, `section` on
`Sentence`, with `page_end`; `stale`, `stale_reason` on `Citation`; `Assistant.sources()` and
`Assistant.freshness()`) are read here, and only here, with a default while they are absent."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from assistant.sentences import Sentence

UP_TO_DATE, CHANGED, MISSING = "up to date", "changed", "missing"


def file_uri(path: str) -> str | None:
    """`file://` URI of an indexed path; None for a document that is not a file (an eval id)."""
    return Path(path).as_uri() if os.path.isabs(path) else None


def evidence(item: Any, freshness: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A `Sentence`, or anything with `.sentence` (`Hit`, `Citation`, `CiteMatch`), as a dict:
    id, doc_id, path, line, page, page_end, page_label, section, char_start, char_end, text, score,
    stale, stale_reason, uri. `freshness` (path -> state) marks stale what the item does not."""
    s: Sentence = getattr(item, "sentence", item)
    score = getattr(item, "score", None)
    stale = getattr(item, "stale", None)
    reason = getattr(item, "stale_reason", None)
    if stale is None:
        state = (freshness or {}).get(s.path, UP_TO_DATE)
        stale = state in (CHANGED, MISSING)
        reason = state if stale else None
    page = getattr(s, "page", None)
    return {
        "id": s.id, "doc_id": s.doc_id, "path": s.path, "line": s.line,
        "page": page, "page_end": getattr(s, "page_end", None),
        "page_label": getattr(s, "page_label", "") or (str(page) if page is not None else ""),
        "section": getattr(s, "section", "") or "",
        "char_start": s.char_start, "char_end": s.char_end, "text": s.text,
        "score": None if score is None else round(float(score), 4),
        "stale": bool(stale), "stale_reason": reason, "uri": file_uri(s.path),
    }


def freshness(assistant, paths: Iterable[str]) -> dict[str, str]:
    """path -> "up to date" / "changed" / "missing" for indexed paths."""
    paths = sorted(set(paths))
    if hasattr(assistant, "freshness"):
        return dict(assistant.freshness(paths))
    return _freshness_fallback(assistant, paths)


def _freshness_fallback(assistant, paths: list[str]) -> dict[str, str]:
    # Until Assistant.freshness lands: re-read each file and compare its content hash.
    from assistant.documents import read_document
    from assistant.errors import InputError

    out: dict[str, str] = {}
    for path in paths:
        record = assistant.index.document(path)
        if record is None or not os.path.isabs(path):
            out[path] = UP_TO_DATE  # not a file on disk (an evaluation document)
            continue
        if not os.path.exists(path):
            out[path] = MISSING
            continue
        try:
            doc = read_document(Path(path), assistant.settings.max_file_bytes)
        except InputError:
            out[path] = CHANGED
            continue
        out[path] = UP_TO_DATE if doc.content_hash == record.content_hash else CHANGED
    return out


def sources(assistant) -> list[dict[str, Any]]:
    """The indexed documents and their state (path, format, size, sentences, pages,
    indexed_at, state), as `Assistant.sources()` gives them."""
    if hasattr(assistant, "sources"):
        return [s.to_dict() for s in assistant.sources()]
    # Until Assistant.sources lands: the catalog's records and a fresh look at each file.
    from assistant.readers import SUFFIXES

    records = assistant.index.documents()
    states = _freshness_fallback(assistant, list(records))
    out = []
    for path, record in sorted(records.items()):
        try:
            size: int | None = os.stat(path).st_size
        except OSError:
            size = None
        out.append({"path": path, "format": SUFFIXES.get(Path(path).suffix.lower()),
                    "size": size, "sentences": record.n_sentences, "pages": None,
                    "indexed_at": None, "state": states[path]})
    return out
