"""Conversations: what the chat UI shows (questions with their answers, quote look-ups with
their matches), the evidence behind each entry, and their storage in SQLite under
`settings.data_dir`, so a conversation can be reopened later with every citation intact."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from assistant.answer import Answer, AnswerSentence, Citation
from assistant.sentences import Sentence

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
class CiteResult:
    """One sentence found by a quote look-up (`/cite`)."""

    sentence: Sentence
    score: float
    exact: bool


@dataclass
class Evidence:
    """A sentence shown in the evidence pane: its number, score and verdict."""

    n: int
    sentence: Sentence
    score: float
    verdict: str  # supported | unsupported | unverified | nearest | exact | similar
    stale_reason: str | None = None
    """"changed" / "missing": its document differs on disk from what was indexed."""


@dataclass
class Entry:
    """One item of a conversation: a question and its answer, or a quote look-up."""

    kind: str  # "answer" | "cite"
    question: str
    answer: Answer | None = None
    matches: list[CiteResult] = field(default_factory=list)

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
    """How the answer sentences that cite [n] fared in verification."""
    verdicts = [s.supported for s in answer.sentences if n in s.citations]
    if any(v is False for v in verdicts):
        return "unsupported"
    if verdicts and all(v is True for v in verdicts):
        return "supported"
    return "unverified"


# -- (de)serialisation ----------------------------------------------------------------------

def _sentence_from(d: dict) -> Sentence:
    return Sentence(**{k: d[k] for k in Sentence.__dataclass_fields__ if k in d})


def _citation_to(c: Citation) -> dict:
    return {"n": c.n, "score": c.score, "sentence": asdict(c.sentence)}


def _citation_from(d: dict) -> Citation:
    return Citation(int(d["n"]), _sentence_from(d["sentence"]), float(d["score"]))


def answer_to_record(answer: Answer) -> dict:
    """Everything needed to show the answer again, spans included (not `to_dict`, which drops
    the fields a Sentence needs to be rebuilt)."""
    return {
        "question": answer.question, "text": answer.text, "found": answer.found,
        "answerer": answer.answerer,
        "citations": [_citation_to(c) for c in answer.citations],
        "nearest": [_citation_to(c) for c in answer.nearest],
        "sentences": [asdict(s) for s in answer.sentences],
        "timings": answer.timings, "notes": answer.notes, "partial": answer.partial,
    }


def answer_from_record(d: dict) -> Answer:
    return Answer(
        question=d["question"], text=d["text"], found=bool(d["found"]),
        citations=[_citation_from(c) for c in d.get("citations", [])],
        answerer=d.get("answerer", ""),
        sentences=[AnswerSentence(**s) for s in d.get("sentences", [])],
        nearest=[_citation_from(c) for c in d.get("nearest", [])],
        timings=dict(d.get("timings", {})), notes=list(d.get("notes", [])),
        partial=bool(d.get("partial", False)),
    )


def entry_to_record(entry: Entry) -> dict:
    if entry.kind == "cite":
        return {"matches": [{"score": m.score, "exact": m.exact,
                             "sentence": asdict(m.sentence)} for m in entry.matches]}
    assert entry.answer is not None
    return {"answer": answer_to_record(entry.answer)}


def entry_from_record(kind: str, question: str, d: dict) -> Entry:
    if kind == "cite":
        matches = [CiteResult(_sentence_from(m["sentence"]), float(m["score"]), bool(m["exact"]))
                   for m in d.get("matches", [])]
        return Entry("cite", question, matches=matches)
    return Entry("answer", question, answer=answer_from_record(d["answer"]))


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
    """A piece of answer text, the citations it carries, and its verification verdict."""

    text: str
    citations: list[int]
    supported: bool | None = None


def answer_segments(answer: Answer) -> list[Segment]:
    """The answer split for display: per answer sentence when the answerer gave them (markers
    taken out of the text and carried as numbers), else the text cut at its [n] markers."""
    import re

    if answer.sentences:
        out = []
        for s in answer.sentences:
            cited = list(s.citations) or [int(n) for n in re.findall(_MARKER, s.text)]
            out.append(Segment(re.sub(_MARKER, "", s.text).strip(), cited, s.supported))
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
