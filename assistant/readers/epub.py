"""EPUB 2 and 3: the chapters in reading order (container.xml -> OPF -> spine), each read by the
HTML path, one canonical text with the headings of every chapter as sections.

A book with DRM (META-INF/encryption.xml encrypting its content documents, or an Adobe
rights.xml) is refused with that reason; font obfuscation alone is not DRM and is read."""

from __future__ import annotations

import posixpath

from assistant.readers import html
from assistant.readers.base import ReaderError, ReadResult
from assistant.readers.container import Container, attr, local, resolve
from assistant.readers.layout import compose
from assistant.types import Section

_FONT_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
_CHAPTER_TYPES = {"application/xhtml+xml", "text/html", "application/x-dtbook+xml"}


def _opf_path(box: Container) -> str:
    if not box.has("META-INF/container.xml"):
        raise ReaderError("corrupt EPUB: META-INF/container.xml is missing")
    for node in box.xml("META-INF/container.xml").iter():
        if local(node.tag) == "rootfile":
            path = (attr(node, "full-path") or "").lstrip("/")
            if box.has(path):
                return path
            raise ReaderError(f"corrupt EPUB: its package file {path or '(none)'} is missing")
    raise ReaderError("corrupt EPUB: META-INF/container.xml names no package file")


def _check_drm(box: Container) -> None:
    if box.has("META-INF/rights.xml"):
        raise ReaderError("encrypted EPUB (DRM-protected): cannot be read")
    if not box.has("META-INF/encryption.xml"):
        return
    for data in box.xml("META-INF/encryption.xml").iter():
        if local(data.tag) != "EncryptedData":
            continue
        method = next((attr(n, "Algorithm") for n in data.iter()
                       if local(n.tag) == "EncryptionMethod"), None)
        if method not in _FONT_OBFUSCATION:
            raise ReaderError("encrypted EPUB (DRM-protected): cannot be read")


def read(data: bytes, fmt: str) -> ReadResult:
    box = Container(data, "EPUB")
    _check_drm(box)
    opf_path = _opf_path(box)
    opf = box.xml(opf_path)
    title = ""
    items: dict[str, tuple[str, str]] = {}  # id -> (member, media type)
    spine: list[str] = []
    for node in opf.iter():
        name = local(node.tag)
        if name == "title" and not title:
            title = " ".join((node.text or "").split())
        elif name == "item":
            href = attr(node, "href")
            if href:
                items[attr(node, "id") or ""] = (resolve(opf_path, href),
                                                 attr(node, "media-type") or "")
        elif name == "itemref" and attr(node, "idref"):
            spine.append(attr(node, "idref") or "")
    chapters = [items[i] for i in spine if i in items and items[i][1] in _CHAPTER_TYPES]
    if not chapters:
        raise ReaderError("corrupt EPUB: its spine names no readable chapter")
    pieces: list[str] = []
    sections: list[Section] = []
    offset = 0
    for member, _ in chapters:
        if not box.has(member):
            raise ReaderError(f"corrupt EPUB: chapter {posixpath.basename(member)} is missing")
        blocks, _title = html.extract(html.decode_html(box.read(member)))
        offset = compose(blocks, pieces, sections, offset)
    if not offset:
        raise ReaderError("no text: the book's chapters are empty")
    return ReadResult(text="".join(pieces), format="epub", sections=sections,
                      title=title or next((s.title for s in sections if s.level == 1), ""))
