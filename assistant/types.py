"""The domain types, in one place: a document and its places (pages, sections), a sentence, a
retrieved hit, a citation, an answer and its sentences, a conversation turn, a quote look-up's
match. Each has one serialisation (`to_dict` / `from_dict`); the JSON the CLI, the MCP server,
exports and stored conversations write are these dicts.

This module imports nothing from the package, so every other module can import it."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

TokenCallback = Callable[[str], None]


def display_path(path: str) -> str:
    """An index path as shown to the user: relative to the working directory when inside it."""
    if not path.startswith("/"):
        return path  # not a file path (an evaluation document id, say)
    try:
        return str(Path(path).relative_to(os.path.abspath(os.getcwd())))
    except ValueError:
        return path


# -- documents ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Page:
    """Physical page `number` (1-based) covers text[start:end]; `label` is its printed label
    ("iv", "12") when the file has one, else "". `lines` are the offsets in the text where the
    page's printed lines start (so a citation can say "line 12" of the page), when known."""

    start: int
    end: int
    number: int
    label: str = ""
    lines: tuple[int, ...] = ()


@dataclass(frozen=True)
class Section:
    """A heading: the section `title` (at heading `level`, 1 = top) starts at text[start]."""

    start: int
    title: str
    level: int = 1


@dataclass(frozen=True)
class FileState:
    """A file as it was read: size and modification time (cheap to compare with the disk),
    and the hash of its bytes (to tell a touched file from an edited one)."""

    size: int
    mtime_ns: int
    byte_hash: str


@dataclass(frozen=True)
class Document:
    """A readable text document. `path` is its key in the index (a display path or any id)."""

    path: str
    text: str
    content_hash: str
    title: str = ""
    format: str = "text"
    pages: list[Page] = field(default_factory=list, compare=False)
    sections: list[Section] = field(default_factory=list, compare=False)
    warnings: list[str] = field(default_factory=list, compare=False)
    file: FileState | None = field(default=None, compare=False)
    """What was on disk when it was read (None for documents that are not files)."""
    source_hash: str = field(default="", compare=False)
    """`documents.source_hash` of the file's bytes ("" for documents not read from a file)."""


# -- sentences ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Sentence:
    """One sentence of one document: the unit that is embedded, retrieved and cited."""

    id: str
    doc_id: str
    path: str
    index: int
    char_start: int
    char_end: int
    line: int
    text: str
    doc_hash: str
    title: str = ""
    page: int | None = None
    """Physical page (1-based) where the sentence starts, for formats with pages (PDF)."""
    page_end: int | None = None
    """The page where it ends, when it crosses a page break (else None)."""
    page_label: str = ""
    """The printed label of `page` ("iv", "12") when the file has labels."""
    section: str = ""
    """The heading in force where the sentence starts (DOCX, HTML, EPUB)."""

    @property
    def place(self) -> str:
        """Where the sentence is, without the path: `p. 3, line 12` (the line within the page),
        `pp. 3–4, line 40` across a page break, `line 12` without pages; `, § Methods` added
        where the format has headings."""
        if self.page is None:
            where = f"line {self.line}"
        else:
            pages = (f"pp. {self.page}–{self.page_end}" if self.page_end else f"p. {self.page}")
            label = (f" (printed {self.page_label})"
                     if self.page_label and self.page_label != str(self.page) else "")
            where = f"{pages}{label}, line {self.line}"
        return f"{where}, § {self.section}" if self.section else where

    @property
    def location(self) -> str:
        """`path:line` as shown to the user, or `path p. 3, line 12` for a paged format."""
        if self.page is None and not self.section:
            return f"{display_path(self.path)}:{self.line}"
        return f"{display_path(self.path)} {self.place}"

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_dict(cls, d: dict) -> Sentence:
        """From `to_dict`'s keys (extra keys are ignored; optional ones may be absent)."""
        page, page_end = d.get("page"), d.get("page_end")
        return cls(
            id=d["id"], doc_id=d["doc_id"], path=d["path"], index=int(d["index"]),
            char_start=int(d["char_start"]), char_end=int(d["char_end"]), line=int(d["line"]),
            text=d["text"], doc_hash=d["doc_hash"], title=d.get("title") or "",
            page=None if page is None else int(page),
            page_end=None if page_end is None else int(page_end),
            page_label=d.get("page_label") or "", section=d.get("section") or "")


# -- retrieval and answers ------------------------------------------------------------------

@dataclass
class Hit:
    """A retrieved sentence and why: its score (probability that it answers) and signals."""

    sentence: Sentence
    score: float
    vector: float = 0.0
    lexical: float = 0.0
    signals: dict[str, float] = field(default_factory=dict)
    """The retriever's raw per-sentence signals by name (its ranking features and the few the
    answerability model reads, `answerability.py`); empty for a hit made by hand."""


@dataclass
class Citation:
    """An evidence sentence shown to the user as [n]."""

    n: int
    sentence: Sentence
    score: float
    stale: bool = False
    """Its document changed on disk or vanished since it was indexed (the sentence is shown
    as it was indexed)."""
    stale_reason: str | None = None
    """"changed" or "missing" when stale."""

    def to_dict(self) -> dict:
        """The sentence's fields, flat, with the number, score and freshness."""
        return {"n": self.n, **self.sentence.to_dict(), "score": round(self.score, 4),
                "stale": self.stale, "stale_reason": self.stale_reason}

    @classmethod
    def from_dict(cls, d: dict) -> Citation:
        return cls(int(d["n"]), Sentence.from_dict(d), float(d["score"]),
                   bool(d.get("stale", False)), d.get("stale_reason"))


@dataclass
class CiteMatch:
    """A sentence found by a quote look-up (`assistant cite`, `/cite`): exact (normalised)
    matches first, then the nearest."""

    sentence: Sentence
    score: float
    exact: bool
    stale: bool = False
    stale_reason: str | None = None

    def to_dict(self) -> dict:
        return {"exact": self.exact, "score": round(self.score, 4), **self.sentence.to_dict(),
                "stale": self.stale, "stale_reason": self.stale_reason}

    @classmethod
    def from_dict(cls, d: dict) -> CiteMatch:
        return cls(Sentence.from_dict(d), float(d["score"]), bool(d["exact"]),
                   bool(d.get("stale", False)), d.get("stale_reason"))


@dataclass
class AnswerSentence:
    """A sentence of the answer text, the citations it carries, and its verification."""

    text: str
    citations: list[int]
    support: float | None = None
    supported: bool | None = None
    addresses: bool | None = None
    """Whether it addresses the question (an LLM's sentence, `assistant.relevance`); None when
    not judged (the offline answer's sentences, answers saved before the check)."""

    def to_dict(self) -> dict:
        return {"text": self.text, "citations": list(self.citations), "support": self.support,
                "supported": self.supported, "addresses": self.addresses}

    @classmethod
    def from_dict(cls, d: dict) -> AnswerSentence:
        return cls(d["text"], [int(n) for n in d.get("citations", [])], d.get("support"),
                   d.get("supported"), d.get("addresses"))


@dataclass
class Answer:
    question: str
    text: str
    found: bool
    citations: list[Citation]
    answerer: str
    sentences: list[AnswerSentence] = field(default_factory=list)
    nearest: list[Citation] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    partial: bool = False

    def to_dict(self) -> dict:
        return {
            "question": self.question, "answer": self.text, "found": self.found,
            "answerer": self.answerer,
            "citations": [c.to_dict() for c in self.citations],
            "nearest": [c.to_dict() for c in self.nearest],
            "sentences": [s.to_dict() for s in self.sentences],
            "notes": self.notes, "partial": self.partial,
            "timings": {k: round(v, 2) for k, v in self.timings.items()},
        }

    @classmethod
    def from_dict(cls, d: dict) -> Answer:
        return cls(
            question=d["question"], text=d["answer"], found=bool(d["found"]),
            citations=[Citation.from_dict(c) for c in d.get("citations", [])],
            answerer=d.get("answerer", ""),
            sentences=[AnswerSentence.from_dict(s) for s in d.get("sentences", [])],
            nearest=[Citation.from_dict(c) for c in d.get("nearest", [])],
            timings=dict(d.get("timings", {})), notes=list(d.get("notes", [])),
            partial=bool(d.get("partial", False)))


@dataclass
class Turn:
    """A question and the answer given, as a follow-up question sees them."""

    question: str
    answer: str
    citations: list[Citation] = field(default_factory=list)
    """The answer's citations, so that "explain [2]" can find the sentence shown as [2]."""
    standalone: str = ""
    """The question as it was understood (a rewritten follow-up), if it differs."""
