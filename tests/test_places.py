"""Where a sentence is: page, printed label and section from the reader's places, kept through
the catalog (including catalogs written before these columns existed) and Chroma metadata."""

from __future__ import annotations

import sqlite3

from assistant.catalog import Catalog
from assistant.documents import make_document
from assistant.sentences import split_document
from assistant.service import Assistant
from assistant.types import Citation, Page, Section

from .conftest import make_settings

P1 = "First page sentence one. It goes on here.\n\n"
P2 = "Second page starts here. A sentence that crosses"
P3 = " the break ends on page three.\n\nLast words of page three."
TEXT = P1 + P2 + P3


def _paged_doc(path: str = "/docs/report.pdf"):
    a, b = len(P1), len(P1) + len(P2)
    pages = [Page(0, a, 1, "i"), Page(a, b, 2, "1", lines=(a, a + 25)),
             Page(b, len(TEXT), 3, "2")]
    sections = [Section(0, "Preface"), Section(a, "Results", 2)]
    return make_document(path, TEXT, title="report", format="pdf", pages=pages,
                         sections=sections)


def test_split_fills_page_label_section_and_page_end():
    sents = split_document(_paged_doc())
    by_text = {s.text: s for s in sents}
    first = by_text["First page sentence one."]
    assert (first.page, first.page_end, first.page_label, first.section) == (1, None, "i",
                                                                             "Preface")
    crossing = by_text["A sentence that crosses the break ends on page three."]
    assert (crossing.page, crossing.page_end, crossing.page_label) == (2, 3, "1")
    assert crossing.section == "Results"
    assert crossing.line == 2  # the second printed line of page 2 (Page.lines)
    assert crossing.location == ("/docs/report.pdf pp. 2–3 (printed 1), line 2, § Results")
    last = by_text["Last words of page three."]
    assert last.page == 3 and last.page_end is None
    assert Citation(1, crossing, 0.5).to_dict()["page"] == 2
    d = Citation(1, crossing, 0.5).to_dict()
    assert (d["page_label"], d["section"], d["page_end"]) == ("1", "Results", 3)


def test_text_documents_keep_path_line():
    doc = make_document("/docs/a.txt", "One sentence.\nAnother one.\n")
    s = split_document(doc)[1]
    assert (s.page, s.page_label, s.section) == (None, "", "")
    assert s.location == "/docs/a.txt:2"
    d = Citation(1, s, 0.5).to_dict()
    assert d["page"] is None and d["page_label"] == "" and d["section"] == ""


def test_places_survive_catalog_and_chroma(tmp_path, encoder):
    assistant = Assistant(make_settings(tmp_path), encoder=encoder)
    doc = _paged_doc(str(tmp_path / "report.pdf"))
    with assistant.index.writing():
        assistant.ingestor().ingest_documents([doc, make_document("/docs/a.txt", "Plain. Text.")])
    want = [(s.page, s.page_end, s.page_label, s.section, s.line) for s in split_document(doc)]
    catalog = assistant.index.catalog
    got = [(s.page, s.page_end, s.page_label, s.section, s.line)
           for s in catalog.document_sentences(doc.path)]
    assert got == want
    fetched, _ = assistant.index.chroma.fetch(doc.path, doc.content_hash)
    assert [(s.page, s.page_end, s.page_label, s.section, s.line) for s in fetched] == want
    record = catalog.documents()[doc.path]
    assert (record.format, record.pages) == ("pdf", 3)
    plain = catalog.documents()["/docs/a.txt"]
    assert (plain.format, plain.pages) == ("text", None)  # a format without pages
    # a question finds the paged sentence with its page
    hit = assistant.index.lexical_search("crosses the break", 1)[0][0]
    assert hit.page == 2 and hit.page_end == 3
    assistant.close()


def test_old_catalog_gets_the_place_columns(tmp_path):
    path = tmp_path / "catalog.sqlite3"
    db = sqlite3.connect(path)
    db.executescript("""
        CREATE TABLE docs (path TEXT PRIMARY KEY, doc_id TEXT NOT NULL,
            content_hash TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
            n_sentences INTEGER NOT NULL);
        CREATE TABLE sentences (rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL,
            doc_id TEXT NOT NULL, path TEXT NOT NULL, idx INTEGER NOT NULL,
            char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, line INTEGER NOT NULL,
            text TEXT NOT NULL, doc_hash TEXT NOT NULL, title TEXT NOT NULL);
        INSERT INTO docs VALUES ('/a.txt', 'd1', 'h', 'a', 'Old sentence.', 1);
        INSERT INTO sentences VALUES (1, 's1', 'd1', '/a.txt', 0, 0, 13, 1, 'Old sentence.',
            'h', 'a');
    """)
    db.commit()
    db.close()
    catalog = Catalog(path)
    s = catalog.get(["s1"])["s1"]
    assert (s.text, s.page, s.page_label, s.section) == ("Old sentence.", None, "", "")
    record = catalog.document("/a.txt")
    # format and pages were not recorded then: unknown, not guessed
    assert (record.format, record.pages, record.text) == (None, None, "Old sentence.")
    catalog.close()


def test_export_footnotes_name_the_page():
    from assistant.conversations import Entry
    from assistant.export import to_json, to_markdown
    from assistant.types import Answer, AnswerSentence

    crossing = next(s for s in split_document(_paged_doc()) if s.page_end)
    answer = Answer("q?", f"{crossing.text} [1]", True, [Citation(1, crossing, 0.5)], "offline",
                    sentences=[AnswerSentence(crossing.text, [1], 1.0, True)])
    md = to_markdown([Entry("answer", "q?", answer=answer)])
    assert "`/docs/report.pdf pp. 2–3 (printed 1), line 2, § Results`" in md
    cited = to_json([Entry("answer", "q?", answer=answer)])["entries"][0]["citations"][0]
    assert (cited["page"], cited["page_end"], cited["page_label"]) == (2, 3, "1")
