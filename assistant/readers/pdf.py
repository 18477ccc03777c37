"""PDF: the text of every page through pdfium (pypdfium2), rebuilt so that it reads as sentences.

pypdfium2 was chosen over pypdf by measurement (README, "Reading PDF"): on the 141 rendered dev
PDFs and the 117-page book it is about ten times faster and finds the same share of sentences,
and pdfium already marks hyphens at line ends (U+FFFE) and orders two-column text by column.

From pdfium's lines this module makes paragraphs: lines joined, a break where the vertical gap,
an indent, a change of font size or a short last line ending a sentence says so; a word split
at a line end joined back unless the document writes it with a hyphen elsewhere; TeX's and
Unicode's ligatures spelled out; running headers, footers and bare page numbers dropped. Pages
are `Page(start, end, number, label, lines)` over that text, `lines` being where each printed
line of the page starts, so a citation can say "p. 3, line 12"."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from assistant.readers.base import ReaderError, ReadResult
from assistant.types import Page, Section

SOFT_HYPHEN = "\ufffe"  # pdfium's mark for a hyphen at a line end that it joined
# Unicode ligatures (NFKC for these only) and the T1-encoded TeX fonts' ligature and punctuation
# slots, which pdfium returns as control characters when the font has no Unicode map.
_CHARS = {
    "\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi", "\ufb04": "ffl",
    "\ufb05": "st", "\ufb06": "st",
    "\x1b": "ff", "\x1c": "fi", "\x1d": "fl", "\x1e": "ffi", "\x1f": "ffl",
    "\x10": "\u201c", "\x11": "\u201d", "\x12": "\u201e", "\x13": "\u00ab", "\x14": "\u00bb",
    "\x15": "\u2013", "\x16": "\u2014", "\x17": "", "\x19": "i", "\x1a": "j",
    "\x00": "", "\x02": "-", "\t": " ", "\xad": "",
}
_TRANSLATE = str.maketrans(_CHARS)
_SPACE = " \t\xa0\u2002\u2003\u2009"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_BARE_NUMBER = re.compile(
    r"[\W_]*(?:page\s*|seite\s*|p\.\s*)?(?:\d{1,4}|[ivxlcdm]{1,7})"
    r"(?:\s*(?:/|of|von)\s*\d{1,4})?[\W_]*", re.IGNORECASE)
_ENDS_SENTENCE = re.compile(r"[.!?:;\"'\u201d\u2019)\]]\s*$")
_FRAGMENT = re.compile(r"([^\W_]*)" + SOFT_HYPHEN + r"([^\W_]*)")
PREFIXES = frozenset("all anti half non quasi self semi well".split())
"""Fragments before a line-end hyphen that are kept hyphenated when the document does not say
otherwise ("self-" + "evident"). Not "pro", "sub", "ex", "multi", "super": on the dev PDFs TeX
breaks words after those far more often than the text has a hyphen there."""


@dataclass
class _Line:
    """A line as pdfium gives it (one that pdfium joined at a hyphen spans two printed lines:
    `top` is its first character's, `bottom` its last one's), and its font `height`."""

    text: str
    left: float
    right: float
    top: float
    bottom: float
    height: float


def _open(data: bytes):
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as exc:
        message = str(exc)
        if "password" in message.lower():
            raise ReaderError("encrypted PDF: needs a password") from None
        reason = message.split("(PDFium: ")[-1].rstrip(").") if "PDFium" in message else message
        raise ReaderError(f"damaged or truncated PDF ({reason.lower()})") from None


def _page_lines(page) -> list[_Line]:
    """The page's lines in pdfium's reading order, with their boxes."""
    textpage = page.get_textpage()
    try:
        raw = textpage.get_text_range()
        lines: list[_Line] = []
        for match in re.finditer(r"[^\r\n]+", raw):
            text = match.group()
            # not str.strip(): it takes TeX's ligature slots \x1c-\x1f for white space
            stripped = text.strip(_SPACE)
            if not stripped:
                continue
            first = match.start() + (len(text) - len(text.lstrip(_SPACE)))
            last = match.start() + len(text.rstrip(_SPACE)) - 1
            try:
                l0, b0, _, t0 = textpage.get_charbox(first, loose=True)
                _, b1, r1, _ = textpage.get_charbox(last, loose=True)
            except Exception:  # a character without a box: keep the text, place it nowhere
                l0 = b0 = r1 = t0 = b1 = 0.0
            lines.append(_Line(stripped, l0, r1, t0, b1, t0 - b0))
        return lines
    finally:
        textpage.close()


def _clean(text: str) -> str:
    return _CONTROL.sub("", text.translate(_TRANSLATE))


def _key(line: _Line) -> str:
    return re.sub(r"\d+", "#", line.text.lower())


def _ends(lines: list[_Line]) -> list[tuple[int, bool]]:
    """(index, outermost) of the lines at the top and the bottom of a page, by position: the
    outermost one at each end, and the next one in."""
    by_top = sorted(range(len(lines)), key=lambda i: -lines[i].top)
    out: dict[int, bool] = {}
    for order in (by_top, by_top[::-1]):
        for rank, i in enumerate(order[:2]):
            out[i] = out.get(i, False) or rank == 0
    return list(out.items())


def _drop_running(pages: list[list[_Line]], labels: list[str]) -> list[list[_Line]]:
    """Pages without their running headers, footers and bare page numbers: lines at the top
    or bottom of a page that repeat on several pages (digits aside), that are only a number,
    or that start or end with the page's own number or label."""
    counts: Counter[str] = Counter()
    for lines in pages:
        counts.update({_key(lines[i]) for i, _ in _ends(lines)})
    repeated = 3 if len(pages) > 3 else max(len(pages), 2)
    out = []
    for p, lines in enumerate(pages):
        numbers = {str(p + 1), labels[p].lower()} - {""}
        drop = set()
        for i, outermost in _ends(lines):
            ln = lines[i]
            words = ln.text.lower().split()
            if counts[_key(ln)] >= repeated or (outermost and (
                    _BARE_NUMBER.fullmatch(ln.text) or words[0] in numbers
                    or words[-1] in numbers)):
                drop.add(i)
        out.append([ln for i, ln in enumerate(lines) if i not in drop])
    return out


def _vocabulary(pages: list[list[_Line]]) -> tuple[set[str], set[str]]:
    """Words the document writes whole, and compounds it writes with a hyphen (lower case)."""
    words: set[str] = set()
    compounds: set[str] = set()
    for lines in pages:
        for ln in lines:
            for w in _WORD.findall(_FRAGMENT.sub(" ", ln.text)):
                w = w.lower()
                if "-" in w:
                    compounds.add(w)
                    words.update(w.split("-"))
                else:
                    words.add(w)
    return words, compounds


def _rejoin(text: str, words: set[str], compounds: set[str]) -> str:
    """Resolve each line-end hyphen: "capabili-"+"ties" -> "capabilities"; "well-known" stays."""

    def fix(m: re.Match) -> str:
        left, right = m.group(1), m.group(2)
        if not left or not right or not (left[-1].isalpha() and right[0].isalpha()):
            return f"{left}-{right}"
        joined, hyphened = (left + right).lower(), f"{left}-{right}".lower()
        if hyphened in compounds and joined not in words:
            return f"{left}-{right}"
        if joined in words:
            return left + right
        if left.lower() in PREFIXES or right[0].isupper():
            return f"{left}-{right}"
        if len(left) > 2 and len(right) > 2 and left.lower() in words and right.lower() in words:
            return f"{left}-{right}"  # two words the document uses on their own: "large-scale"
        return left + right

    return _FRAGMENT.sub(fix, text)


def _breaks(prev: _Line, line: _Line, col_right: float, same_page: bool) -> bool:
    """Whether `line` starts a new paragraph after `prev`."""
    ends = bool(_ENDS_SENTENCE.search(prev.text))
    short = prev.right < col_right - 0.08 * max(col_right - prev.left, 1.0)
    size = max(prev.height, line.height, 1.0)
    if abs(prev.height - line.height) > 0.2 * size:
        return True  # a heading, a caption, a footnote
    if not same_page or line.top > prev.top:  # next page or next column
        return ends and short
    if prev.bottom - line.top > 0.6 * size:
        return True  # a blank line's worth of space
    if line.left > prev.left + 0.6 * size and abs(line.left - prev.left) < 6 * size:
        return ends or short  # an indented first line
    return ends and short


def _toc(pdf) -> list[tuple[int, str, int]]:
    """(page index, title, level) of the outline's entries."""
    out = []
    try:
        for item in pdf.get_toc():
            dest = item.get_dest()
            index = dest.get_index() if dest is not None else None
            if index is not None:
                out.append((index, " ".join(item.get_title().split()), item.level + 1))
    except Exception:  # a damaged outline costs the sections only
        return []
    return out


def read(data: bytes, fmt: str = "pdf") -> ReadResult:
    pdf = _open(data)
    try:
        n = len(pdf)
        if n == 0:
            raise ReaderError("damaged PDF: it has no pages")
        pages, labels = [], []
        for i in range(n):
            page = pdf[i]
            try:
                pages.append([_Line(_clean(ln.text), ln.left, ln.right, ln.top, ln.bottom,
                                    ln.height) for ln in _page_lines(page)])
            finally:
                page.close()
            labels.append(pdf.get_page_label(i) or "")
        toc = _toc(pdf)
        title = (pdf.get_metadata_value("Title") or "").strip()
    except ReaderError:
        raise
    except Exception as exc:  # pdfium failing half-way through a damaged file
        raise ReaderError(f"damaged PDF: {exc}") from None
    finally:
        pdf.close()

    textless = sum(1 for lines in pages if not _has_text(lines))
    if textless == n:
        raise ReaderError("no text layer (scanned? OCR is not supported)")
    pages = _drop_running(pages, labels)
    words, compounds = _vocabulary(pages)
    text, places = _assemble(pages, words, compounds)
    result = ReadResult(text=text, format="pdf", title=title)
    for i, (start, end, lines) in enumerate(places):
        result.pages.append(Page(start, end, i + 1, labels[i], tuple(lines)))
    result.sections = _sections(toc, result.pages, text)
    if textless:
        result.warnings.append(f"{textless} of {n} pages have no text layer")
    return result


def _has_text(lines: list[_Line]) -> bool:
    """A page has a text layer when it holds a few words (not only "Background" or a number)."""
    letters = sum(sum(c.isalpha() for c in ln.text) for ln in lines)
    words = sum(len(_WORD.findall(ln.text)) for ln in lines)
    return letters >= 20 or words >= 3


def _assemble(pages: list[list[_Line]], words: set[str],
              compounds: set[str]) -> tuple[str, list[tuple[int, int, list[int]]]]:
    """The canonical text and, per page, (start, end, start of each line)."""
    parts: list[str] = []
    size = 0
    places: list[tuple[int, int, list[int]]] = []
    prev: _Line | None = None
    prev_page = -1
    for p, lines in enumerate(pages):
        starts: list[int] = []
        page_start = size
        for line in lines:
            text = _rejoin(line.text, words, compounds)
            if prev is not None:
                col = [ln.right for ln in lines if abs(ln.left - line.left) < 30] or [line.right]
                if _breaks(prev, line, max(col), same_page=p == prev_page):
                    sep = "\n\n"
                elif prev.text.endswith("-") and len(prev.text) > 1 and prev.text[-2].isalnum():
                    sep = ""  # a real hyphen at the line end: "twenty-" + "one"
                else:
                    sep = " "
                parts.append(sep)
                size += len(sep)
            if not starts:
                page_start = size
            starts.append(size)
            parts.append(text)
            size += len(text)
            prev, prev_page = line, p
        places.append((page_start if starts else size, size, starts))
    # a page ends where the next one starts (its text then runs to the end of the document)
    fixed = []
    for i, (start, _end, starts) in enumerate(places):
        end = places[i + 1][0] if i + 1 < len(places) else size
        fixed.append((start, max(end, start), starts))
    return "".join(parts), fixed


def _sections(toc: list[tuple[int, str, int]], pages: list[Page], text: str) -> list[Section]:
    """The outline's headings, each placed where its title appears on its page (else the page's
    start)."""
    out: list[Section] = []
    for index, title, level in toc:
        if not title or not 0 <= index < len(pages):
            continue
        page = pages[index]
        found = text.find(title, page.start, page.end)
        out.append(Section(found if found >= 0 else page.start, title, level))
    out.sort(key=lambda s: s.start)
    return out


def page_texts(data: bytes) -> list[str]:
    """pdfium's raw text of each page, ligatures spelled out (for checking pages, benchmarks)."""
    pdf = _open(data)
    try:
        out = []
        for i in range(len(pdf)):
            page = pdf[i]
            textpage = page.get_textpage()
            out.append(_clean(textpage.get_text_range().replace(SOFT_HYPHEN, "")))
            textpage.close()
            page.close()
        return out
    finally:
        pdf.close()
