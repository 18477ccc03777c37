"""The local sentence catalog: every committed sentence with its span, and a BM25 index over
them (SQLite FTS5, porter stemming). Derived from the Chroma store and rebuilt from it when the
two disagree, so it can always be thrown away. Transactions keep each document whole."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from assistant.sentences import Sentence

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    path TEXT PRIMARY KEY, doc_id TEXT NOT NULL, content_hash TEXT NOT NULL,
    title TEXT NOT NULL, text TEXT NOT NULL, n_sentences INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sentences (
    rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL,
    path TEXT NOT NULL, idx INTEGER NOT NULL, char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL, line INTEGER NOT NULL, text TEXT NOT NULL,
    doc_hash TEXT NOT NULL, title TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sentences_doc ON sentences(doc_id, idx);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(text, tokenize='porter unicode61');
"""
_COLUMNS = "id, doc_id, path, idx, char_start, char_end, line, text, doc_hash, title"
_TOKEN = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class DocRecord:
    """A committed document: its key, content hash, and full text (for showing citations)."""

    path: str
    doc_id: str
    content_hash: str
    title: str
    text: str
    n_sentences: int


def _row_to_sentence(row: tuple) -> Sentence:
    return Sentence(
        id=row[0], doc_id=row[1], path=row[2], index=row[3], char_start=row[4],
        char_end=row[5], line=row[6], text=row[7], doc_hash=row[8], title=row[9],
    )


class Catalog:
    """Sentences and documents that are committed, with lexical search."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=30, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- documents -----------------------------------------------------------------------
    def documents(self) -> dict[str, DocRecord]:
        rows = self._db.execute(
            "SELECT path, doc_id, content_hash, title, '', n_sentences FROM docs"
        ).fetchall()
        return {r[0]: DocRecord(*r) for r in rows}

    def document(self, path: str) -> DocRecord | None:
        row = self._db.execute(
            "SELECT path, doc_id, content_hash, title, text, n_sentences FROM docs WHERE path=?",
            (path,),
        ).fetchone()
        return DocRecord(*row) if row else None

    def replace_document(self, record: DocRecord, sentences: Iterable[Sentence]) -> None:
        """Put a document and its sentences in place of any older version, all or nothing."""
        with self._db:
            self._delete(record.path)
            self._db.execute(
                "INSERT INTO docs VALUES (?, ?, ?, ?, ?, ?)",
                (record.path, record.doc_id, record.content_hash, record.title, record.text,
                 record.n_sentences),
            )
            for s in sentences:
                cur = self._db.execute(
                    f"INSERT INTO sentences ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (s.id, s.doc_id, s.path, s.index, s.char_start, s.char_end, s.line, s.text,
                     s.doc_hash, s.title),
                )
                self._db.execute(
                    "INSERT INTO fts(rowid, text) VALUES (?, ?)", (cur.lastrowid, s.text)
                )

    def remove_document(self, path: str) -> None:
        with self._db:
            self._delete(path)

    def _delete(self, path: str) -> None:
        self._db.execute(
            "DELETE FROM fts WHERE rowid IN (SELECT rowid FROM sentences WHERE path=?)", (path,)
        )
        self._db.execute("DELETE FROM sentences WHERE path=?", (path,))
        self._db.execute("DELETE FROM docs WHERE path=?", (path,))

    # -- sentences -----------------------------------------------------------------------
    def count(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM sentences").fetchone()[0]

    def get(self, ids: list[str]) -> dict[str, Sentence]:
        out: dict[str, Sentence] = {}
        for b in range(0, len(ids), 500):
            chunk = ids[b : b + 500]
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT {_COLUMNS} FROM sentences WHERE id IN ({marks})", chunk
            ):
                out[row[0]] = _row_to_sentence(row)
        return out

    def neighbours(self, sentence: Sentence, before: int = 2, after: int = 2) -> list[Sentence]:
        """The sentence with up to `before` and `after` sentences around it, in order."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM sentences WHERE doc_id=? AND idx BETWEEN ? AND ? ORDER BY idx",
            (sentence.doc_id, sentence.index - before, sentence.index + after),
        ).fetchall()
        return [_row_to_sentence(r) for r in rows]

    def document_sentences(self, path: str) -> list[Sentence]:
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM sentences WHERE path=? ORDER BY idx", (path,)
        ).fetchall()
        return [_row_to_sentence(r) for r in rows]

    def all_sentences(self) -> list[Sentence]:
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM sentences ORDER BY path, idx")
        return [_row_to_sentence(r) for r in rows]

    def lexical_search(self, query: str, k: int) -> list[tuple[str, float]]:
        """BM25 over sentence text: (sentence id, score), best first; higher is better."""
        terms = {t.lower() for t in _TOKEN.findall(query)}
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in sorted(terms))
        rows = self._db.execute(
            "SELECT s.id, -bm25(fts) AS score FROM fts JOIN sentences s ON s.rowid = fts.rowid "
            "WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?",
            (match, k),
        ).fetchall()
        return [(r[0], float(r[1])) for r in rows]
