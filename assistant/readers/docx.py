"""DOCX (Word, LibreOffice, Google Docs, pandoc): the body's paragraphs, headings, lists and
tables, read from word/document.xml with the stdlib.

Chosen by measurement over python-docx (benchmarks/experiments/compare_web_readers.py): the
same text on the eval files, faster, no dependency, and the zip is ours to bound (python-docx
inflates members itself). Headings are known by their style: a style named "heading N" or
"Title", or one with an outline level, following `basedOn` (so localised and custom heading
styles count). Left out: deleted revisions, field codes, headers and footers, comments."""

from __future__ import annotations

import re
from xml.etree import ElementTree

from assistant.readers.base import ReaderError, ReadResult
from assistant.readers.container import Container, attr, local
from assistant.readers.layout import LAYOUT_CELL, Block, clean_lines, compose, table_row
from assistant.types import Section

_HEADING_NAME = re.compile(r"^heading\s*([1-9])$", re.I)
_OFFICE_DOCUMENT = "/officeDocument"


def _main_part(box: Container) -> str:
    """The main document part named by _rels/.rels (word/document.xml for every producer)."""
    if box.has("_rels/.rels"):
        for rel in box.xml("_rels/.rels"):
            target = attr(rel, "Target") or ""
            if (attr(rel, "Type") or "").endswith(_OFFICE_DOCUMENT) and box.has(target.lstrip("/")):
                return target.lstrip("/")
    if not box.has("word/document.xml"):
        raise ReaderError("not a Word document: word/document.xml is missing")
    return "word/document.xml"


def _heading_styles(box: Container) -> dict[str, int]:
    """styleId -> heading level (0 for the Title style's level-1 use is folded into 1)."""
    if not box.has("word/styles.xml"):
        return {}
    own: dict[str, int] = {}
    based: dict[str, str] = {}
    for style in box.xml("word/styles.xml"):
        if local(style.tag) != "style" or attr(style, "type") not in (None, "paragraph"):
            continue
        sid = attr(style, "styleId") or ""
        for child in style:
            name = local(child.tag)
            if name == "name":
                value = (attr(child, "val") or "").strip()
                if m := _HEADING_NAME.match(value):
                    own[sid] = int(m.group(1))
                elif value.lower() == "title":
                    own[sid] = 1
            elif name == "basedOn":
                based[sid] = attr(child, "val") or ""
            elif name == "pPr" and sid not in own:
                for p in child:
                    if local(p.tag) == "outlineLvl" and (attr(p, "val") or "9").isdigit():
                        level = int(attr(p, "val") or "9")
                        if level < 9:
                            own[sid] = level + 1
    levels: dict[str, int] = {}
    for sid in set(own) | set(based):
        cursor, seen = sid, 0
        while cursor and cursor not in own and seen < 20:
            cursor, seen = based.get(cursor, ""), seen + 1
        if cursor in own:
            levels[sid] = own[cursor]
    return levels


def _text(element: ElementTree.Element) -> str:
    """The text of a paragraph (or cell): runs, tabs and breaks; not deleted text, field codes
    or the fallback copy of alternate content."""
    out: list[str] = []

    def walk(node: ElementTree.Element) -> None:
        for child in node:
            name = local(child.tag)
            if name == "t":
                out.append(child.text or "")
            elif name == "tab":
                out.append(" ")
            elif name in ("br", "cr"):
                out.append("\n")
            elif name == "noBreakHyphen":
                out.append("-")
            elif name in ("del", "delText", "instrText", "Fallback", "rPr", "pPr",
                          "footnoteReference", "commentReference"):
                continue
            elif name == "p" and out:
                out.append("\n")  # a paragraph inside a cell or a text box
                walk(child)
            else:
                walk(child)

    walk(element)
    return clean_lines("".join(out))


def _paragraph_level(p: ElementTree.Element, styles: dict[str, int]) -> int:
    for child in p:
        if local(child.tag) == "pPr":
            for prop in child:
                name = local(prop.tag)
                if name == "pStyle":
                    level = styles.get(attr(prop, "val") or "", 0)
                    if level:
                        return level
                elif name == "outlineLvl" and (attr(prop, "val") or "9").isdigit():
                    if int(attr(prop, "val") or "9") < 9:
                        return int(attr(prop, "val") or "9") + 1
    return 0


def _blocks(body: ElementTree.Element, styles: dict[str, int], out: list[Block]) -> None:
    for child in body:
        name = local(child.tag)
        if name == "p":
            text = _text(child)
            if text:
                out.append(Block(text, _paragraph_level(child, styles)))
        elif name == "tbl":
            for row in child.iter():
                if local(row.tag) != "tr":
                    continue
                cells = [_text(cell) for cell in row if local(cell.tag) == "tc"]
                if any(len(c) > LAYOUT_CELL for c in cells):  # prose laid out in a table
                    out.extend(Block(line) for c in cells for line in c.split("\n") if line)
                else:
                    out.extend(table_row([" ".join(c.split()) for c in cells]))
        elif name in ("sdt", "sdtContent", "customXml", "ins", "smartTag"):
            _blocks(child, styles, out)


def _core_title(box: Container) -> str:
    if not box.has("docProps/core.xml"):
        return ""
    try:
        core = box.xml("docProps/core.xml")
    except ReaderError:
        return ""  # metadata only: the body is what counts
    for child in core:
        if local(child.tag) == "title":
            return " ".join((child.text or "").split())
    return ""


def read(data: bytes, fmt: str) -> ReadResult:
    box = Container(data, "DOCX")
    part = _main_part(box)
    root = box.xml(part)
    body = next((c for c in root if local(c.tag) == "body"), None)
    if local(root.tag) != "document" or body is None:
        raise ReaderError(f"not a Word document: {part} has no document body")
    blocks: list[Block] = []
    _blocks(body, _heading_styles(box), blocks)
    if not blocks:
        raise ReaderError("no text: the document is empty")
    pieces: list[str] = []
    sections: list[Section] = []
    compose(blocks, pieces, sections, 0)
    title = _core_title(box) or next((s.title for s in sections if s.level == 1), "")
    return ReadResult(text="".join(pieces), format="docx", sections=sections, title=title)
