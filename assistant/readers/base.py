"""The reader interface: bytes of one file in, the document's canonical text and its places out.

A reader never touches the disk (the caller reads the bytes, bounded by the size limit) and
never raises anything but `ReaderError`, whose message is the one-line reason shown in the
ingest report ("needs a password", "no text layer (scanned? OCR is not supported)", ...).

The canonical text is what sentence spans index and what the lookup view shows: for plain text
it is the file's text; for PDF, DOCX, HTML and EPUB it is the text the reader extracted
(paragraphs separated by a blank line). `pages` and `sections` locate character offsets of that
text in the original: a PDF's physical pages with their printed labels, the headings of a
DOCX, HTML or EPUB document."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from assistant.errors import InputError
from assistant.types import Page, Section


class ReaderError(InputError):
    """A file that this reader cannot turn into text; the message is the reason, one line."""


@dataclass
class ReadResult:
    text: str
    format: str  # "text" | "markdown" | "pdf" | "docx" | "html" | "epub"
    pages: list[Page] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    title: str = ""
    warnings: list[str] = field(default_factory=list)  # e.g. "12 of 40 pages have no text layer"

    def page_at(self, offset: int) -> Page | None:
        """The page that holds character `offset` of the text (None for formats without pages)."""
        if not self.pages:
            return None
        starts = [p.start for p in self.pages]
        i = bisect.bisect_right(starts, offset) - 1
        return self.pages[max(i, 0)]

    def section_at(self, offset: int) -> Section | None:
        """The innermost heading in force at character `offset` (None before the first)."""
        starts = [s.start for s in self.sections]
        i = bisect.bisect_right(starts, offset) - 1
        return self.sections[i] if i >= 0 else None
