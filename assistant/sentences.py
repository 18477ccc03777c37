"""Split a document into sentences, each with its exact character span and line number.

The span is the contract: `document.text[s.char_start:s.char_end] == s.text` always holds,
so a citation can be shown in its source and checked by anyone."""

from __future__ import annotations

import bisect
import hashlib
import re
from functools import lru_cache

from assistant.types import Document, Sentence

_BLANK_LINE = re.compile(r"\n[ \t]*\n")
_BLOCK_START = re.compile(r"^\s*(#{1,6}\s|[-*+]\s|\d+[.)]\s|>|\|)")
_ENDS_SENTENCE = re.compile(r"[.!?:;\"'”’)\]]\s*$")
_HAS_WORD = re.compile(r"\w")
_MAX_SEGMENT = 3000
"""Longest piece of a paragraph the segmenter sees at once: pysbd's time grows faster than the
length of what it is given, so an overlong paragraph (a 10 MB line without punctuation) is cut
into windows first, at a sentence end where there is one, else at a space."""
_STOPS = re.compile(r"[.!?\u2026\u3002\uff01\uff1f]")
_CUT_AFTER = re.compile(r"[.!?\u2026\u3002\uff01\uff1f][\"'\u201d\u2019)\]]*\s")


def doc_id_for(path: str) -> str:
    return hashlib.sha1(path.encode("utf-8")).hexdigest()[:12]


def sentence_id(doc_id: str, doc_hash: str, index: int) -> str:
    """Stable for the same file content; a changed file gets new ids (so old and new can coexist
    until the change is committed)."""
    return f"{doc_id}-{doc_hash[:10]}-{index}"


@lru_cache(maxsize=1)
def _segmenter():  # pysbd builds its rules once; reuse them.
    import pysbd

    # pysbd builds thousands of distinct regexes (one per abbreviation pattern); with the re
    # module's default cache of 512 they are recompiled for every paragraph (~30% of split time).
    re._MAXCACHE = max(re._MAXCACHE, 16384)  # type: ignore[attr-defined]

    return pysbd.Segmenter(language="en", clean=False)


def _is_hard_wrapped(lines: list[str]) -> bool:
    """True when a block's line breaks fall mid-sentence (text wrapped at a fixed width)."""
    body = [ln for ln in lines[:-1] if ln.strip()]
    if not body:
        return False
    open_ended = sum(1 for ln in body if len(ln) > 40 and not _ENDS_SENTENCE.search(ln))
    return open_ended * 2 >= len(body)


def _paragraphs(text: str) -> list[tuple[int, int]]:
    """(start, end) of each paragraph: blank-line blocks, split per line unless hard-wrapped."""
    out: list[tuple[int, int]] = []
    pos = 0
    for match in [*_BLANK_LINE.finditer(text), None]:
        end = match.start() if match else len(text)
        block = text[pos:end]
        lines = block.split("\n")
        if _is_hard_wrapped(lines):
            # Keep wrapped prose together, but list items and headings start a paragraph.
            start, offset = pos, pos
            for i, ln in enumerate(lines):
                if i and _BLOCK_START.match(ln):
                    out.append((start, offset - 1))
                    start = offset
                offset += len(ln) + 1
            out.append((start, end))
        else:
            offset = pos
            for ln in lines:
                out.append((offset, offset + len(ln)))
                offset += len(ln) + 1
        pos = match.end() if match else len(text)
    return out


def _windows(para: str) -> list[tuple[int, int]]:
    """Cut points of a paragraph into pieces of at most _MAX_SEGMENT characters (linear)."""
    out: list[tuple[int, int]] = []
    pos, n, half = 0, len(para), _MAX_SEGMENT // 2
    while n - pos > _MAX_SEGMENT:
        limit = pos + _MAX_SEGMENT
        cut = -1
        for m in _CUT_AFTER.finditer(para, pos + half, limit):
            cut = m.end()
        if cut < 0:
            cut = para.rfind(" ", pos + half, limit) + 1
        if cut <= pos:
            cut = limit
        out.append((pos, cut))
        pos = cut
    out.append((pos, n))
    return out


def _segment(para: str) -> list[tuple[int, int]]:
    """Sentence spans inside one paragraph, located exactly in the paragraph's own text."""
    # Line breaks inside a paragraph are wrapping, not boundaries; same length keeps offsets.
    para = para.replace("\r", " ").replace("\n", " ")
    spans: list[tuple[int, int]] = []
    for w_start, w_end in _windows(para):
        window = para[w_start:w_end]
        if _STOPS.search(window):
            pieces = _segment_window(window)
        else:  # no sentence punctuation: one sentence, without asking the segmenter
            lead = len(window) - len(window.lstrip())
            pieces = [(lead, len(window.rstrip()))] if window.strip() else []
        spans.extend((w_start + s, w_start + e) for s, e in pieces)
    return spans


def _segment_window(para: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = 0
    for piece in _segmenter().segment(para):
        piece = piece.strip()
        if not piece:
            continue
        found = para.find(piece, cursor)
        if found < 0:  # the segmenter changed the text: keep the rest as one sentence
            rest = para[cursor:]
            lead = len(rest) - len(rest.lstrip())
            spans.append((cursor + lead, cursor + len(rest.rstrip())))
            return spans
        spans.append((found, found + len(piece)))
        cursor = found + len(piece)
    return spans


def split_spans(text: str) -> list[tuple[int, int, int]]:
    """(char_start, char_end, line) of every sentence of `text`, in time linear in its length.

    CRLF and CR line endings count as LF: paragraphs and line numbers are found on a copy of
    the same length with each line ending as "\n" (a CRLF as " \n"), so spans stay exact."""
    plain = text.replace("\r\n", " \n").replace("\r", "\n") if "\r" in text else text
    out: list[tuple[int, int, int]] = []
    line, counted_to = 1, 0
    for p_start, p_end in _paragraphs(plain):
        para = plain[p_start:p_end]
        if not para.strip():
            continue
        for s, e in _segment(para):
            start, end = p_start + s, p_start + e
            if not _HAS_WORD.search(text, start, end):
                continue
            line += plain.count("\n", counted_to, start)
            counted_to = start
            out.append((start, end, line))
    return out


class _Places:
    """Page and section of character offsets of one document (bisect over their starts)."""

    def __init__(self, doc: Document) -> None:
        self.text = doc.text
        self.pages = doc.pages
        self.page_starts = [p.start for p in doc.pages]
        self.sections = doc.sections
        self.section_starts = [s.start for s in doc.sections]

    def page_index(self, offset: int) -> int:
        return max(bisect.bisect_right(self.page_starts, offset) - 1, 0)

    def fields(self, start: int, end: int, line: int) -> dict:
        out: dict = {"line": line}
        if self.pages:
            i = self.page_index(start)
            page = self.pages[i]
            last = self.pages[self.page_index(max(end - 1, start))]
            lines = page.lines
            # The line within the page: the printed line where the reader knows it, else the
            # lines of the canonical text since the page began.
            in_page = (bisect.bisect_right(lines, start) if lines
                       else self.text.count("\n", page.start, start) + 1)
            out.update(page=page.number, page_label=page.label, line=max(in_page, 1),
                       page_end=last.number if last.number != page.number else None)
        if self.sections:
            j = bisect.bisect_right(self.section_starts, start) - 1
            if j >= 0:
                out["section"] = self.sections[j].title
        return out


def split_document(doc: Document) -> list[Sentence]:
    """The document's sentences; for paged formats `line` is the line within the page."""
    doc_id = doc_id_for(doc.path)
    places = _Places(doc)
    return [
        Sentence(
            id=sentence_id(doc_id, doc.content_hash, i),
            doc_id=doc_id,
            path=doc.path,
            index=i,
            char_start=start,
            char_end=end,
            text=doc.text[start:end],
            doc_hash=doc.content_hash,
            title=doc.title,
            **places.fields(start, end, line),
        )
        for i, (start, end, line) in enumerate(_body_spans(doc))
    ]


def _body_spans(doc: Document) -> list[tuple[int, int, int]]:
    """The sentence spans, less the headings of a structured document: a heading is the
    `section` of the sentences under it, not an answer (as a sentence of its own, "Magic
    Kingdom" outranks the sentence that says what it is)."""
    spans = split_spans(doc.text)
    headings = [(h.start, h.start + len(h.title)) for h in doc.sections
                if doc.text.startswith(h.title, h.start)]
    if not headings:
        return spans
    return [(s, e, ln) for s, e, ln in spans
            if not any(hs <= s and e <= he for hs, he in headings)]
