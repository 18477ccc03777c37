"""HTML (and the XHTML chapters of an EPUB): the page's main text, block by block, with headings.

The stdlib parser (html.parser) was chosen by measurement over selectolax
(benchmarks/experiments/compare_web_readers.py): both find every gold sentence of the eval
pages; selectolax parses ten times faster, but at ~2,500 pages/s parsing is already well under
1% of ingest time (embedding dominates), and the stdlib costs no dependency. trafilatura was
not adopted: its tree adds lxml, dateparser, courlan and tld (tld is MPL/GPL/LGPL), for a
main-text heuristic that can drop sentences the eval needs.

Left out: script, style and other non-text elements, navigation, page-level header and footer,
hidden elements; when the page marks its main content (<main> or role="main") only that is
kept."""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser

from assistant.readers.base import ReaderError, ReadResult
from assistant.readers.layout import Block, clean_lines, compose, table_row
from assistant.types import Section

_SKIP = {"script", "style", "noscript", "template", "svg", "math", "iframe", "object",
         "canvas", "button", "select", "textarea", "nav", "head", "dialog"}
_CHROME = {"header", "footer"}  # boilerplate at page level, a title inside an article
_CONTENT = {"article", "main", "section"}
_SKIP_ROLES = {"navigation", "banner", "contentinfo", "search", "menu", "menubar"}
_BLOCKS = {"p", "div", "section", "article", "main", "aside", "blockquote", "pre", "figure",
           "figcaption", "address", "dl", "dt", "dd", "ul", "ol", "li", "table", "caption",
           "thead", "tbody", "tfoot", "tr", "center", "details", "summary", "fieldset",
           "legend", "form", "body", "html", "hr", "h1", "h2", "h3", "h4", "h5", "h6",
           "header", "footer"}
_HEADINGS = {f"h{n}": n for n in range(1, 7)}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param",
         "source", "track", "wbr"}
_BR = "\x00"  # a <br> inside a block, until the block's whitespace is collapsed
_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)


class _Extractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        # (tag, skipped: its text is left out, main: it is the page's main content)
        self.stack: list[tuple[str, bool, bool]] = []
        self.skipping = 0  # how many skipped elements are open
        self.main_depth = 0
        self.blocks: list[tuple[Block, bool]] = []  # (block, inside <main>)
        self.buf: list[str] = []
        self.cells: list[str] | None = None  # the cells of the open table row
        self.title: list[str] = []
        self.in_title = False
        self.pre = 0

    # -- the open-element stack (tolerant of unclosed tags, as browsers are)
    def _in(self, tags: set[str]) -> bool:
        return any(tag in tags for tag, _, _ in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = not self._in({"body", "svg"})
            return
        if tag == "br":
            self.buf.append(_BR)
            return
        if (tag in _BLOCKS or tag == "body") and tag != "html" and self._in({"head"}):
            while self._pop() != "head":  # body content closes an unclosed <head>
                pass
        if tag in _BLOCKS or tag in ("td", "th"):
            self._flush()
        if tag in ("td", "th") and self.cells is None:
            self.cells = []
        if tag == "tr":
            self._end_row()
            self.cells = []
        if tag in _VOID:
            return
        a = dict(attrs)
        skipped = (tag in _SKIP or (tag in _CHROME and not self._in(_CONTENT))
                   or (a.get("role") or "").lower() in _SKIP_ROLES
                   or "hidden" in a or (a.get("aria-hidden") or "").lower() == "true")
        if tag in ("p", "li", "dt", "dd") and self.stack and self.stack[-1][0] == tag:
            self._pop()  # <p>one<p>two: the second closes the first
        main = tag == "main" or (a.get("role") or "").lower() == "main"
        self.stack.append((tag, skipped, main))
        self.skipping += skipped
        self.main_depth += main
        self.pre += tag == "pre"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
            return
        if tag == "br":
            self.buf.append(_BR)
            return
        if tag in _BLOCKS or tag in ("td", "th"):
            self._flush()
        if tag in ("tr", "table"):
            self._end_row()
        if not self._in({tag}):
            return  # a stray end tag
        while self.stack:
            if self._pop() == tag:
                break

    def _pop(self) -> str:
        tag, skipped, main = self.stack.pop()
        self.skipping -= skipped
        self.main_depth -= main
        self.pre -= tag == "pre"
        return tag

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
        elif not self.skipping:
            self.buf.append(data.replace("\n", _BR) if self.pre else data)

    # -- blocks
    def _flush(self) -> None:
        raw = "".join(self.buf)
        self.buf = []
        text = clean_lines(raw.replace("\n", " ").replace(_BR, "\n"))
        if not text:
            return
        if self.cells is not None and self._in({"td", "th"}):
            self.cells.append(" ".join(text.split()))
            return
        level = next((_HEADINGS[t] for t, _, _ in reversed(self.stack) if t in _HEADINGS), 0)
        self.blocks.append((Block(text, level), self.main_depth > 0))

    def _end_row(self) -> None:
        if self.cells:
            self.blocks.extend((b, self.main_depth > 0) for b in table_row(self.cells))
        self.cells = None

    def finish(self) -> tuple[list[Block], str]:
        self.close()
        self._flush()
        self._end_row()
        blocks = self.blocks
        if any(in_main for _, in_main in blocks):
            blocks = [b for b in blocks if b[1]]
        return [b for b, _ in blocks], " ".join("".join(self.title).split())


def decode_html(data: bytes) -> str:
    """The page's text: by its BOM, else its <meta charset>, else UTF-8, else windows-1252
    (what browsers assume for a page that declares nothing)."""
    if b"\x00" in data[:8192] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ReaderError("binary file (contains NUL bytes), not HTML")
    for bom, codec in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                       (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(codec, errors="replace")
    declared = _CHARSET.search(data[:4096])
    if declared:
        try:
            return data.decode(codecs.lookup(declared.group(1).decode("ascii")).name,
                               errors="replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def extract(markup: str) -> tuple[list[Block], str]:
    """The blocks of an HTML page and its <title>."""
    parser = _Extractor()
    try:
        parser.feed(markup)
        return parser.finish()
    except (AssertionError, ValueError) as exc:  # html.parser's own complaints
        raise ReaderError(f"HTML cannot be parsed: {exc}") from None


def read(data: bytes, fmt: str) -> ReadResult:
    blocks, title = extract(decode_html(data))
    if not blocks:
        raise ReaderError("no text: the page is only scripts/markup")
    pieces: list[str] = []
    sections: list[Section] = []
    compose(blocks, pieces, sections, 0)
    if not title:
        title = next((s.title for s in sections if s.level == 1), "")
    return ReadResult(text="".join(pieces), format="html", sections=sections, title=title)
