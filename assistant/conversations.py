"""Conversations: what the chat UI shows (questions with their answers, quote look-ups with
their matches), the evidence behind each entry, and their storage in SQLite under
`settings.data_dir`, so a conversation can be reopened later with every citation intact."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.types import Answer, CiteMatch, Sentence

DB_NAME = "conversations.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id INTEGER PRIMARY KEY, title TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL
        REFERENCES conversations(id) ON DELETE CASCADE,
    position INTEGER NOT NULL, kind TEXT NOT NULL, question TEXT NOT NULL,
    payload TEXT NOT NULL, created REAL NOT NULL);
CREATE INDEX IF NOT EXISTS entries_conversation ON entries(conversation_id, position);
"""


@dataclass
class Evidence:
    """A sentence shown in the evidence pane: its number, score and verdict."""

    n: int
    sentence: Sentence
    score: float
    verdict: str  # supported | off-question | unsupported | unverified | nearest | exact | similar
    stale_reason: str | None = None
    """"changed" / "missing": its document differs on disk from what was indexed."""


@dataclass
class Entry:
    """One item of a conversation: a question and its answer, or a quote look-up."""

    kind: str  # "answer" | "cite"
    question: str
    answer: Answer | None = None
    matches: list[CiteMatch] = field(default_factory=list)

    def evidence(self) -> list[Evidence]:
        if self.kind == "cite":
            return [Evidence(i + 1, m.sentence, m.score, "exact" if m.exact else "similar")
                    for i, m in enumerate(self.matches)]
        answer = self.answer
        if answer is None:
            return []
        if not answer.citations:
            return [Evidence(c.n, c.sentence, c.score, "nearest", c.stale_reason)
                    for c in answer.nearest]
        return [Evidence(c.n, c.sentence, c.score, citation_verdict(answer, c.n), c.stale_reason)
                for c in answer.citations]


def citation_verdict(answer: Answer, n: int) -> str:
    """How the answer sentences that cite [n] fared in verification: "off-question" when they
    are supported but none of them addresses the question."""
    citing = [s for s in answer.sentences if n in s.citations]
    if any(s.supported is False for s in citing):
        return "unsupported"
    if citing and all(s.supported is True for s in citing):
        return "off-question" if all(s.addresses is False for s in citing) else "supported"
    return "unverified"


# -- (de)serialisation ----------------------------------------------------------------------
# An entry is stored as its types' own dicts (assistant.types). Conversations saved before that
# nested each sentence under "sentence" and named the answer text "text": read those too.

def _flat(d: dict) -> dict:
    return {**d["sentence"], **{k: v for k, v in d.items() if k != "sentence"}} \
        if "sentence" in d else d


def entry_to_record(entry: Entry) -> dict:
    if entry.kind == "cite":
        return {"matches": [m.to_dict() for m in entry.matches]}
    assert entry.answer is not None
    return {"answer": entry.answer.to_dict()}


def entry_from_record(kind: str, question: str, d: dict) -> Entry:
    if kind == "cite":
        return Entry("cite", question,
                     matches=[CiteMatch.from_dict(_flat(m)) for m in d.get("matches", [])])
    a = dict(d["answer"])
    if "answer" not in a:  # saved before the shared serialisation
        a["answer"] = a["text"]
    for key in ("citations", "nearest"):
        a[key] = [_flat(c) for c in a.get(key, [])]
    return Entry("answer", question, answer=Answer.from_dict(a))


# -- storage --------------------------------------------------------------------------------

@dataclass(frozen=True)
class ConversationInfo:
    id: int
    title: str
    created: float
    updated: float
    entries: int


class ConversationStore:
    """Saved conversations in one SQLite file. `clock` is injectable for reproducible tests."""

    def __init__(self, path: Path, clock: Callable[[], float] = time.time) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.clock = clock
        self._db = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)

    @classmethod
    def for_data_dir(cls, data_dir: Path) -> ConversationStore:
        return cls(data_dir / DB_NAME)

    def create(self, title: str) -> int:
        now = self.clock()
        with self._db:
            cur = self._db.execute(
                "INSERT INTO conversations(title, created, updated) VALUES (?, ?, ?)",
                (_title(title), now, now))
        return int(cur.lastrowid)

    def add(self, conversation_id: int, entry: Entry) -> None:
        now = self.clock()
        with self._db:
            (position,) = self._db.execute(
                "SELECT COUNT(*) FROM entries WHERE conversation_id=?", (conversation_id,)
            ).fetchone()
            self._db.execute(
                "INSERT INTO entries(conversation_id, position, kind, question, payload, created)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (conversation_id, position, entry.kind, entry.question,
                 json.dumps(entry_to_record(entry), ensure_ascii=False), now))
            self._db.execute("UPDATE conversations SET updated=? WHERE id=?",
                             (now, conversation_id))

    def list(self) -> list[ConversationInfo]:
        """Saved conversations, most recently updated first."""
        rows = self._db.execute(
            "SELECT c.id, c.title, c.created, c.updated, COUNT(e.id) FROM conversations c "
            "LEFT JOIN entries e ON e.conversation_id = c.id "
            "GROUP BY c.id ORDER BY c.updated DESC, c.id DESC").fetchall()
        return [ConversationInfo(*r) for r in rows]

    def load(self, conversation_id: int) -> list[Entry]:
        rows = self._db.execute(
            "SELECT kind, question, payload FROM entries WHERE conversation_id=? "
            "ORDER BY position", (conversation_id,)).fetchall()
        return [entry_from_record(k, q, json.loads(p)) for k, q, p in rows]

    def delete(self, conversation_id: int) -> None:
        with self._db:
            self._db.execute("DELETE FROM entries WHERE conversation_id=?", (conversation_id,))
            self._db.execute("DELETE FROM conversations WHERE id=?", (conversation_id,))

    def close(self) -> None:
        self._db.close()


def _title(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the answer as sentences with their markers ----------------------------------------------

_MARKER = r"\s*\[(\d+)\]"


@dataclass
class Segment:
    """A piece of answer text, the citations it carries, and its verification verdicts."""

    text: str
    citations: list[int]
    supported: bool | None = None
    addresses: bool | None = None

    @property
    def mark(self) -> str:
        """"unsupported", "off-question" (supported, or not judged, but not addressing the
        question) or "": one mark, not supported saying more than off-question."""
        if self.supported is False:
            return "unsupported"
        return "off-question" if self.addresses is False else ""


def answer_segments(answer: Answer) -> list[Segment]:
    """The answer split for display: per answer sentence when the answerer gave them (markers
    taken out of the text and carried as numbers), else the text cut at its [n] markers."""
    import re

    if answer.sentences:
        out = []
        for s in answer.sentences:
            cited = list(s.citations) or [int(n) for n in re.findall(_MARKER, s.text)]
            out.append(Segment(re.sub(_MARKER, "", s.text).strip(), cited, s.supported,
                               s.addresses))
        return out
    out = []
    pos = 0
    text = answer.text
    for m in re.finditer(rf"(?:{_MARKER})+", text):
        piece = text[pos:m.start()].strip()
        out.append(Segment(piece, [int(n) for n in re.findall(r"\[(\d+)\]", m.group())]))
        pos = m.end()
    if text[pos:].strip():
        out.append(Segment(text[pos:].strip(), []))
    return out
