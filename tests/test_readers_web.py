"""DOCX, HTML and EPUB readers on files from a real producer (pandoc), and on broken ones."""

from __future__ import annotations

import io
import json
import re
import unicodedata
import zipfile
from pathlib import Path

import pytest

from assistant import readers
from assistant.readers import ReaderError, container

from .conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "web"
EVAL = REPO.parent / "shared" / "eval"


def read(path: Path, suffix: str | None = None):
    data = path.read_bytes()
    fmt = readers.sniff(data, suffix if suffix is not None else path.suffix)
    return readers.read(data, fmt)


def reason(data: bytes, suffix: str) -> str:
    fmt = readers.sniff(data, suffix)
    assert fmt is not None
    with pytest.raises(ReaderError) as info:
        readers.read(data, fmt)
    message = str(info.value)
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.mark.parametrize("name", ["handbook.docx", "handbook.html", "handbook.epub"])
def test_structure_paragraphs_headings_lists_tables(name):
    result = read(FIXTURES / name)
    assert result.format == Path(name).suffix[1:]
    assert result.title == "Field Station Handbook"
    text = result.text
    assert "<" not in text and "|---" not in text
    blocks = text.split("\n\n")
    # Each list item and each table row on its own; paragraphs whole, on one line.
    assert "Life jackets are stored in the blue shed beside the jetty" in blocks
    assert "Canoe | 40 euros | one day" in blocks
    assert ("The duty warden carries the only key to the chemical store. In an emergency, the "
            "alarm bell by the boathouse is rung three times.") in blocks
    titles = [(s.title, s.level) for s in result.sections]
    assert [t for t in titles if t[0] != "Field Station Handbook"] == [
        ("Arrival", 1), ("Equipment", 2), ("Safety", 1), ("Weather", 2)]
    # A sentence knows its section; each heading's start points at the heading itself.
    for section in result.sections:
        assert text.startswith(section.title, section.start)
    where = text.index("Storms on Lake Varna")
    assert result.section_at(where).title == "Weather"
    assert result.section_at(text.index("Canoes must be returned")).title == "Equipment"


def test_html_leaves_out_boilerplate_but_keeps_the_text():
    result = read(FIXTURES / "ferry.html")
    assert result.text.startswith("Timetable\n\nThe night ferry to Halvik leaves the south quay")
    for noise in ("All routes", "Tracking script", "Copyright", "Cookie", "dataLayer"):
        assert noise not in result.text
    assert "Bicycles travel free of charge on the car deck." in result.text
    assert result.title == "The Night Ferry to Halvik"


def test_html_main_element_charset_and_unclosed_tags():
    page = ("<html><head><meta charset='windows-1252'><title>T</title>"
            "<body><div class=menu>Menu entry</div><main><h2>Caf\xe9 hours</h2>"
            "<p>Open at eight.<p>Closed on Mondays.<br>Except in July.</main>"
            "<aside>Related links</aside>").encode("cp1252")
    result = readers.read(page, readers.sniff(page, ".htm"))
    assert result.text == "Caf\u00e9 hours\n\nOpen at eight.\n\nClosed on Mondays.\nExcept in July."
    assert [(s.title, s.level) for s in result.sections] == [("Caf\u00e9 hours", 2)]


def test_epub_reads_the_spine_in_order_with_chapter_sections():
    result = read(FIXTURES / "beekeeping.epub")
    assert result.title == "Notes on Beekeeping"
    assert result.text.index("willow flowers") < result.text.index("Mouse guards")
    at = result.text.index("Mouse guards")
    assert result.section_at(at).title == "Autumn"


def test_sniffing_reads_by_content_not_suffix():
    docx = (FIXTURES / "handbook.docx").read_bytes()
    epub = (FIXTURES / "beekeeping.epub").read_bytes()
    html = (FIXTURES / "ferry.html").read_bytes()
    assert readers.sniff(docx, ".html") == "docx"
    assert readers.sniff(docx, ".epub") == "docx"
    assert readers.sniff(epub, ".docx") == "epub"
    assert readers.sniff(epub, ".txt") == "epub"
    assert readers.sniff(html, ".txt") == "html"
    assert readers.sniff(html, ".docx") == "html"
    assert readers.sniff(b"<p>a fragment</p>", ".htm") == "html"
    assert readers.sniff(b"# Notes about <html> tags", ".md") == "markdown"
    assert readers.sniff(docx[: len(docx) // 2], ".bin") == "docx"  # truncated: local headers
    assert readers.sniff(epub[: len(epub) // 2], ".bin") == "epub"
    other_zip = io.BytesIO()
    with zipfile.ZipFile(other_zip, "w") as z:
        z.writestr("data.csv", "a,b\n")
    assert readers.sniff(other_zip.getvalue(), ".zip") is None
    assert "word/document.xml is missing" in reason(other_zip.getvalue(), ".docx")
    if "pdf" in readers.MODULES:
        assert readers.sniff(b"%PDF-1.7\n...", ".docx") == "pdf"


def test_empty_docx_and_script_only_page():
    assert reason((FIXTURES / "empty.docx").read_bytes(), ".docx") == (
        "no text: the document is empty")
    page = (b"<!DOCTYPE html><html><head><title>App</title><script src=app.js></script></head>"
            b"<body><div id=root></div><script>render(document.body)</script>"
            b"<noscript>You need to enable JavaScript to run this app.</noscript></body></html>")
    assert reason(page, ".html") == "no text: the page is only scripts/markup"


@pytest.mark.parametrize("name", ["handbook.docx", "beekeeping.epub"])
def test_truncated_and_corrupt_containers(name):
    data = (FIXTURES / name).read_bytes()
    kind = name.rsplit(".", 1)[1].upper()
    assert reason(data[: len(data) * 2 // 3], "." + kind.lower()) == (
        f"corrupt or truncated {kind} (not a readable zip archive)")
    # Flip bytes inside the compressed main part: its CRC (or inflate) fails.
    box = zipfile.ZipFile(io.BytesIO(data))
    part = "word/document.xml" if kind == "DOCX" else "EPUB/text/ch001.xhtml"
    info = box.getinfo(part)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra) + 20
    broken = bytearray(data)
    for i in range(start, start + 40):
        broken[i] ^= 0x5A
    message = reason(bytes(broken), "." + kind.lower())
    assert message.startswith(f"corrupt or truncated {kind}: {part} cannot be decompressed") \
        or message.startswith(f"corrupt {kind} {part}: not well-formed XML")


def _docx_with(document_xml: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(FIXTURES / "handbook.docx") as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            body = document_xml if item.filename == "word/document.xml" else src.read(item)
            dst.writestr(item.filename, body, compress_type=zipfile.ZIP_DEFLATED,
                         compresslevel=9)
    return out.getvalue()


def test_zip_bomb_docx_is_refused_before_inflating(monkeypatch):
    bomb = _docx_with(b"<w:document>" + b" " * (64 * 2**20) + b"</w:document>")
    assert len(bomb) < 2**20  # under a megabyte on disk, 64 MB inflated
    inflated: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self, name, *args, **kwargs):
        inflated.append(getattr(name, "filename", name))
        return real_open(self, name, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    message = reason(bomb, ".docx")
    assert message.startswith("zip bomb? word/document.xml inflates") and "not read" in message
    assert "word/document.xml" not in inflated  # refused from the central directory alone


def test_total_uncompressed_size_is_bounded(monkeypatch):
    monkeypatch.setattr(container, "MAX_TOTAL_BYTES", 4096)
    data = (FIXTURES / "handbook.docx").read_bytes()
    assert "over the 0.0 MB limit" in reason(data, ".docx")


def _epub_with(extra: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(FIXTURES / "beekeeping.epub") as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, src.read(item))
        for name, body in extra.items():
            dst.writestr(name, body)
    return out.getvalue()


ENCRYPTION = """<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
  xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
 <enc:EncryptedData><enc:EncryptionMethod Algorithm="{algorithm}"/>
  <enc:CipherData><enc:CipherReference URI="EPUB/text/ch001.xhtml"/></enc:CipherData>
 </enc:EncryptedData></encryption>"""


def test_drm_epub_is_refused_but_font_obfuscation_is_read():
    drm = _epub_with({"META-INF/encryption.xml": ENCRYPTION.format(
        algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc")})
    assert reason(drm, ".epub") == "encrypted EPUB (DRM-protected): cannot be read"
    fonts = _epub_with({"META-INF/encryption.xml": ENCRYPTION.format(
        algorithm="http://www.idpf.org/2008/embedding")})
    assert "Mouse guards" in readers.read(fonts, "epub").text


def test_xml_with_a_dtd_is_refused():
    laughs = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
              b"<w:document><w:body/></w:document>")
    assert "declares a DTD" in reason(_docx_with(laughs), ".docx")


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


@pytest.mark.skipif(not (EVAL / "docx-html.json").exists(), reason="needs ../shared/eval")
@pytest.mark.parametrize("fmt", ["docx", "html"])
def test_every_gold_sentence_of_the_rendered_eval_files_is_read(fmt):
    mapping = json.loads((EVAL / "docx-html.json").read_text())
    rows = [json.loads(line) for line in (EVAL / "dev.jsonl").open()]
    texts = {}
    for doc_id, name in mapping.items():
        path = EVAL / fmt / f"{name}.{fmt}"
        if path.exists():
            result = read(path, ".bin")  # by content alone
            assert result.format == fmt and result.sections[0].level == 1
            texts[doc_id] = _norm(result.text)
    assert len(texts) >= 70
    golds = [(r["doc_id"], g) for r in rows if r["doc_id"] in texts for g in r["gold_sentences"]]
    missing = [g for d, g in golds if _norm(g) not in texts[d]]
    assert not missing, missing[:3]


def test_prose_laid_out_in_a_table_keeps_its_paragraphs():
    prose = "The ferry leaves at noon from the north pier in every season of the year. " * 3
    page = (f"<html><body><table><tr><td><p>{prose}</p><p>Tickets are sold on board.</p></td>"
            "<td>Menu</td></tr><tr><td>Adult</td><td>45 kroner</td></tr></table>").encode()
    blocks = readers.read(page, "html").text.split("\n\n")
    assert blocks == [prose.strip(), "Tickets are sold on board.", "Menu", "Adult | 45 kroner"]


def test_text_named_docx_says_it_is_not_a_zip():
    assert reason(b"Just some notes, saved with the wrong name.\n", ".docx") == (
        "not a DOCX file: its content is not a zip archive (is the suffix wrong?)")


def test_headings_are_sections_not_sentences():
    from assistant.documents import read_document
    from assistant.sentences import split_document

    doc = read_document(FIXTURES / "handbook.docx", 10 * 2**20)
    sentences = split_document(doc)
    texts = [s.text for s in sentences]
    assert "Safety" not in texts and "Field Station Handbook" not in texts
    assert [s.index for s in sentences] == list(range(len(sentences)))
    warden = next(s for s in sentences if s.text.startswith("The duty warden"))
    assert warden.section == "Safety" and doc.text[warden.char_start:warden.char_end] == warden.text
