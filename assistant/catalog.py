"""The local sentence catalog: every committed sentence with its span and its vector, and a BM25
index over them (SQLite FTS5, porter stemming). One SQLite transaction per document keeps each
document whole, and SQLite's WAL survives a killed process at any moment.

With the embedded store the catalog is the commit point and the durable copy of the index:
Chroma's vector index is derived from it and rebuilt from it when a crash leaves it unreadable.
With a Chroma server the catalog is a local cache of the server's registry (see store/server.py)."""

from __future__ import annotations

import os
import sqlite3
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from assistant.errors import StoreError
from assistant.text import content_words
from assistant.types import Sentence

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    path TEXT PRIMARY KEY, doc_id TEXT NOT NULL, content_hash TEXT NOT NULL,
    title TEXT NOT NULL, text TEXT NOT NULL, n_sentences INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS sentences (
    rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, doc_id TEXT NOT NULL,
    path TEXT NOT NULL, idx INTEGER NOT NULL, char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL, line INTEGER NOT NULL, text TEXT NOT NULL,
    doc_hash TEXT NOT NULL, title TEXT NOT NULL, vector BLOB, tokens BLOB);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS sentences_path ON sentences(path);
CREATE INDEX IF NOT EXISTS sentences_doc ON sentences(doc_id, idx);
CREATE INDEX IF NOT EXISTS docs_content ON docs(content_hash);
CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(text, tokenize='porter unicode61');
"""
_FRESHNESS_COLUMNS = (("format", "TEXT"), ("size", "INTEGER"), ("mtime_ns", "INTEGER"),
                      ("byte_hash", "TEXT"), ("indexed_at", "TEXT"), ("pages", "INTEGER"),
                      ("source_hash", "TEXT"))
"""What a document's file was when it was indexed (NULL in catalogs from before)."""
_DOC_COLUMNS = ("path, doc_id, content_hash, title, text, n_sentences, "
                + ", ".join(c for c, _ in _FRESHNESS_COLUMNS))
_DOC_HEADS = _DOC_COLUMNS.replace(" text,", " '',")
"""The same columns with the text left out (it can be large)."""
_COLUMNS = ("id, doc_id, path, idx, char_start, char_end, line, text, doc_hash, title, "
            "page, page_end, page_label, section")
_N = len(_COLUMNS.split(","))
_PLACE_COLUMNS = {
    "sentences": {"page": "INTEGER", "page_end": "INTEGER",
                  "page_label": "TEXT NOT NULL DEFAULT ''",
                  "section": "TEXT NOT NULL DEFAULT ''"},
}
"""Where a sentence is (page, printed label, section): added to catalogs written before
readers had pages (issue 14). A document's format and page count are _FRESHNESS_COLUMNS."""
def damaged(path: Path, exc: Exception) -> StoreError:
    """The one message for a catalog SQLite cannot read: the file, and the way out."""
    index = path.parent
    return StoreError(
        f"the catalog {path} is damaged ({exc}); run `assistant repair --index {index}` to "
        "rebuild it from the Chroma store (the damaged file is kept beside it), or move the "
        "folder aside and ingest your files again")


def _writable(path: Path) -> bool:
    """Whether we may write `path`: by permission, and by its mode bits (a folder marked
    read-only with `chmod a-w` stays read-only even to root)."""
    try:
        return os.access(path, os.W_OK) and bool(path.stat().st_mode & 0o222)
    except OSError:
        return False


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A connection that never writes, nor creates the WAL's -wal and -shm files (`mode=ro`
    would create them where it can): `immutable=1`, right for a folder nobody may write."""
    uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?immutable=1"
    db = sqlite3.connect(uri, uri=True, check_same_thread=False)
    db.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return db


@dataclass(frozen=True)
class DocRecord:
    """A committed document: its key, content hash, and full text (for showing citations)."""

    path: str
    doc_id: str
    content_hash: str
    title: str
    text: str
    n_sentences: int
    format: str | None = None
    size: int | None = None
    """Bytes on disk when indexed (None: not a file, or indexed before this was recorded)."""
    mtime_ns: int | None = None
    byte_hash: str | None = None
    """sha256 of the file's bytes when indexed."""
    indexed_at: str | None = None
    """When it was committed (ISO 8601, UTC)."""
    pages: int | None = None
    """How many pages it has (None for formats without pages)."""
    source_hash: str | None = None
    """documents.source_hash of the bytes (with the readers' version): an unchanged file is
    not parsed again. None when unknown."""


def _row_to_sentence(row: tuple) -> Sentence:
    return Sentence(
        id=row[0], doc_id=row[1], path=row[2], index=row[3], char_start=row[4],
        char_end=row[5], line=row[6], text=row[7], doc_hash=row[8], title=row[9],
        page=row[10], page_end=row[11], page_label=row[12] or "", section=row[13] or "",
    )


def _add_place_columns(db: sqlite3.Connection) -> None:
    """ALTER TABLE ADD COLUMN for each place column a catalog lacks (new and old catalogs)."""
    for table, wanted in _PLACE_COLUMNS.items():
        have = {r[1] for r in db.execute(f"PRAGMA table_info({table})")}
        for column, decl in wanted.items():
            if column not in have:
                with db:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


class Catalog:
    """Sentences and documents that are committed, with lexical search."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._vocabulary = False
        self.read_only = path.exists() and not (_writable(path.parent) and _writable(path))
        """An index folder the user may only read: opened read-only (nothing is written, no
        lock or journal file is created), so it can still be asked."""
        try:
            if self.read_only:
                self._db = _open_read_only(path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(str(path), timeout=60, check_same_thread=False)
                self._prepare()
        except sqlite3.DatabaseError as exc:
            if "locked" in str(exc):
                raise
            raise damaged(path, exc) from None

    def _prepare(self) -> None:
        for attempt in range(50):  # a first open can race another process creating the file
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA synchronous=NORMAL")  # WAL: safe against SIGKILL
                self._db.executescript(_SCHEMA)
                columns = {r[1] for r in self._db.execute("PRAGMA table_info(sentences)")}
                # catalogs written before vectors / token states were kept here
                for column in ("vector", "tokens"):
                    if column not in columns:
                        with self._db:
                            self._db.execute(f"ALTER TABLE sentences ADD COLUMN {column} BLOB")
                self._migrate_freshness()
                _add_place_columns(self._db)
                break
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or attempt == 49:
                    raise
                time.sleep(0.1)

    def _migrate_freshness(self) -> None:
        """Catalogs written before documents recorded what was on disk when they were indexed
        (for stale citations and `assistant sources`): add those columns."""
        have = {r[1] for r in self._db.execute("PRAGMA table_info(docs)")}
        for column, kind in _FRESHNESS_COLUMNS:
            if column not in have:
                with self._db:
                    self._db.execute(f"ALTER TABLE docs ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self._db.close()

    # -- documents -----------------------------------------------------------------------
    def documents(self) -> dict[str, DocRecord]:
        """Every committed document (without its text), by path."""
        rows = self._db.execute(
            f"SELECT {_DOC_HEADS} FROM docs").fetchall()
        return {r[0]: DocRecord(*r) for r in rows}

    def document(self, path: str) -> DocRecord | None:
        row = self._db.execute(f"SELECT {_DOC_COLUMNS} FROM docs WHERE path=?",
                               (path,)).fetchone()
        return DocRecord(*row) if row else None

    def records(self, paths: Iterable[str]) -> dict[str, DocRecord]:
        """The committed documents among `paths` (without their text): one indexed lookup each,
        so its cost does not grow with the size of the index."""
        out: dict[str, DocRecord] = {}
        query = f"SELECT {_DOC_HEADS} FROM docs WHERE path=?"
        for path in dict.fromkeys(paths):
            row = self._db.execute(query, (path,)).fetchone()
            if row:
                out[path] = DocRecord(*row)
        return out

    def by_content(self, content_hash: str) -> DocRecord | None:
        """A committed document with this text (for reusing its vectors), if any."""
        row = self._db.execute(
            f"SELECT {_DOC_HEADS} FROM docs "
            "WHERE content_hash=? LIMIT 1", (content_hash,)).fetchone()
        return DocRecord(*row) if row else None

    def set_file_state(self, path: str, size: int | None, mtime_ns: int | None,
                       byte_hash: str | None) -> None:
        """Record what is on disk now for a document whose text did not change (a touched
        or re-saved file), so it is not reported as changed."""
        with self._db:
            self._db.execute("UPDATE docs SET size=?, mtime_ns=?, byte_hash=? WHERE path=?",
                             (size, mtime_ns, byte_hash, path))

    def generation(self) -> int:
        """A number that changes with every committed change (for caches in other processes)."""
        row = self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def embedding(self) -> str | None:
        """The identity of the encoder that made the stored vectors (`embedding.identity`);
        None for an index from before it was recorded."""
        row = self._db.execute("SELECT value FROM meta WHERE key='embedding'").fetchone()
        return row[0] if row else None

    def set_embedding(self, identity: str) -> None:
        with self._db:
            self._db.execute("INSERT INTO meta VALUES ('embedding', ?) ON CONFLICT(key) "
                             "DO UPDATE SET value = excluded.value", (identity,))

    def _bump(self) -> None:
        self._db.execute(
            "INSERT INTO meta VALUES ('generation', '1') ON CONFLICT(key) "
            "DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def replace_document(self, record: DocRecord, sentences: Iterable[Sentence],
                         vectors: np.ndarray | None = None,
                         tokens: dict[str, bytes] | None = None) -> None:
        """Put a document, its sentences and their vectors (and packed token states, by
        sentence id, where given) in place of any older version, all or nothing."""
        sentences = list(sentences)
        tokens = tokens or {}
        blobs: list[bytes | None] = [None] * len(sentences)
        if vectors is not None:
            vectors = np.asarray(vectors, dtype=np.float32)
            blobs = [v.tobytes() for v in vectors]
        with self._db:
            self._delete(record.path)
            indexed_at = record.indexed_at or datetime.now(UTC).isoformat(timespec="seconds")
            self._db.execute(
                f"INSERT INTO docs ({_DOC_COLUMNS}) VALUES ({','.join('?' * 13)})",
                (record.path, record.doc_id, record.content_hash, record.title, record.text,
                 record.n_sentences, record.format, record.size, record.mtime_ns,
                 record.byte_hash, indexed_at, record.pages, record.source_hash),
            )
            self._bump()
            for s, blob in zip(sentences, blobs, strict=True):
                cur = self._db.execute(
                    f"INSERT INTO sentences ({_COLUMNS}, vector, tokens) "
                    f"VALUES ({','.join('?' * (_N + 2))})",
                    (s.id, s.doc_id, s.path, s.index, s.char_start, s.char_end, s.line, s.text,
                     s.doc_hash, s.title, s.page, s.page_end, s.page_label, s.section, blob,
                     tokens.get(s.id)),
                )
                self._db.execute(
                    "INSERT INTO fts(rowid, text) VALUES (?, ?)", (cur.lastrowid, s.text)
                )

    def remove_document(self, path: str) -> None:
        with self._db:
            self._delete(path)
            self._bump()

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

    def ids(self) -> set[str]:
        return {r[0] for r in self._db.execute("SELECT id FROM sentences")}

    def vectors(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Stored vectors of the given sentences (those stored without one are left out)."""
        return {i: np.frombuffer(b, dtype=np.float32) for i, b in self._blobs("vector", ids)}

    def token_states(self, ids: list[str]) -> dict[str, bytes]:
        """Packed token states (`embedding.pack_tokens`) of the given sentences, where kept."""
        return dict(self._blobs("tokens", ids))

    def _blobs(self, column: str, ids: list[str]) -> Iterator[tuple[str, bytes]]:
        for b in range(0, len(ids), 500):
            chunk = ids[b : b + 500]
            marks = ",".join("?" * len(chunk))
            yield from self._db.execute(
                f"SELECT id, {column} FROM sentences WHERE id IN ({marks}) "
                f"AND {column} IS NOT NULL", chunk)

    def set_vectors(self, vectors: dict[str, np.ndarray],
                    tokens: dict[str, bytes | None] | None = None) -> None:
        """Replace stored vectors (and, where `tokens` is given, packed token states: None
        drops them) of committed sentences, all or nothing."""
        with self._db:
            self._db.executemany(
                "UPDATE sentences SET vector=? WHERE id=?",
                [(np.asarray(v, dtype=np.float32).tobytes(), i) for i, v in vectors.items()],
            )
            if tokens is not None:
                self._db.executemany("UPDATE sentences SET tokens=? WHERE id=?",
                                     [(t, i) for i, t in tokens.items()])
            self._bump()

    def missing_vectors(self) -> list[str]:
        """Ids of sentences stored without a vector (catalogs from before vectors were kept)."""
        return [r[0] for r in self._db.execute("SELECT id FROM sentences WHERE vector IS NULL")]

    def iter_with_vectors(self, batch: int = 2000) -> Iterator[tuple[list[Sentence], np.ndarray]]:
        """Every sentence that has a vector, in batches, with its vectors as one matrix."""
        last = -1
        while True:
            rows = self._db.execute(
                f"SELECT rowid, {_COLUMNS}, vector FROM sentences "
                "WHERE rowid > ? AND vector IS NOT NULL ORDER BY rowid LIMIT ?",
                (last, batch),
            ).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            matrix = np.frombuffer(b"".join(r[_N + 1] for r in rows), dtype=np.float32)
            yield [_row_to_sentence(r[1 : _N + 1]) for r in rows], matrix.reshape(len(rows), -1)

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
        """BM25 over sentence text: (sentence id, score), best first; higher is better. Stop
        words are left out (they match nearly every sentence, which makes BM25 slow on a big
        index, and add almost nothing to its scores) unless the query has nothing else."""
        terms = set(content_words(query))
        if not terms:
            return []
        match = " OR ".join(f'"{t}"' for t in sorted(terms))
        rows = self._db.execute(
            "SELECT s.id, -bm25(fts) AS score FROM fts JOIN sentences s ON s.rowid = fts.rowid "
            "WHERE fts MATCH ? ORDER BY bm25(fts) LIMIT ?",
            (match, k),
        ).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def term_counts(self, terms: list[str]) -> dict[str, int]:
        """How many committed sentences contain each term, a term as the index stores it
        (`text.stem` of a word), read from the index's own vocabulary."""
        if not self._vocabulary:  # in the temp schema: nothing is written to the catalog
            self._db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.fts_terms "
                             "USING fts5vocab(main, fts, row)")
            self._vocabulary = True
        out: dict[str, int] = {}
        for term in terms:
            row = self._db.execute("SELECT doc FROM temp.fts_terms WHERE term = ?",
                                   (term,)).fetchone()
            out[term] = int(row[0]) if row else 0
        return out
