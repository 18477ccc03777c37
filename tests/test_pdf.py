"""PDF end to end on real files from real producers: every fixture indexed or reported with its
reason, text that reads as sentences (columns, hyphens, ligatures, no page numbers), pages and
labels in citations, and unchanged files not parsed again."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.readers import ReaderError, pdf
from assistant.service import Assistant

from .conftest import REPO, make_settings

SHARED = REPO.parent / "shared"
FIXTURES = SHARED / "fixtures" / "pdf"
EVAL_PDF = SHARED / "eval" / "pdf"
MB = 2**20
pytestmark = pytest.mark.skipif(not FIXTURES.is_dir() or not EVAL_PDF.is_dir(),
                                reason="needs /work/shared (fixtures/pdf and eval/pdf)")


def _read(name: str):
    return pdf.read((FIXTURES / name).read_bytes())


def test_every_fixture_is_indexed_or_reported(tmp_path, encoder):
    folder = tmp_path / "pdfs"
    folder.mkdir()
    for f in FIXTURES.glob("*.pdf"):
        if f.name != "GeoTopo-komprimiert.pdf":  # the book: read below, embedding it is slow
            shutil.copy(f, folder / f.name)
    assistant = Assistant(make_settings(tmp_path), encoder=encoder)
    with assistant.index.writing():
        report = assistant.ingestor().ingest_paths([folder], 10 * MB)
    by_name = {Path(f.path).name: f for f in report.files}
    assert set(by_name) == {f.name for f in folder.iterdir()}
    assert by_name["libreoffice-writer-password.pdf"].status == "skipped"
    assert "needs a password" in by_name["libreoffice-writer-password.pdf"].reason
    assert by_name["imagemagick-images.pdf"].status == "skipped"
    assert "no text layer" in by_name["imagemagick-images.pdf"].reason
    for name, f in by_name.items():
        if name not in ("libreoffice-writer-password.pdf", "imagemagick-images.pdf"):
            assert f.status == "indexed" and f.sentences > 0, (name, f)
    sentences = assistant.index.catalog.all_sentences()
    assert all(s.page is not None and s.page >= 1 for s in sentences)
    record = assistant.index.catalog.documents()[str(folder / "pdflatex-4-pages.pdf")]
    assert (record.format, record.pages) == ("pdf", 4)
    assistant.close()


def test_book_has_its_printed_page_labels_and_outline():
    book = _read("GeoTopo-komprimiert.pdf")
    assert len(book.pages) == 117
    assert [p.label for p in book.pages[:5]] == ["i", "ii", "iii", "1", "2"]
    assert any(s.title.startswith("1.1 Topologische") for s in book.sections)
    assert not any(c in book.text for c in "\ufffe\x1b\x1c\x1d\x1e\x1f")
    # TeX's "fi" slot (\x1c) at the start of a line, and "fl" inside a hyphenated word
    gw = pdf.read((EVAL_PDF / "George_Washington.pdf").read_bytes()).text
    assert "first in peace, and first in the hearts" in gw
    assert "influential" in gw


def test_two_columns_read_in_order_and_page_numbers_dropped():
    cols = _read("multicolumn.pdf")
    assert ("Ut purus elit, vestibulum ut, placerat ac, adipiscing vitae, felis. Curabitur "
            "dictum gravida mauris.") in cols.text
    four = _read("pdflatex-4-pages.pdf")
    for page in four.pages:  # pages end mid-sentence, without their printed number
        assert not four.text[page.start:page.end].rstrip().endswith(str(page.number))
    assert "you will get no information" in four.text  # joined across the page break
    assert four.page_at(four.text.index("you will get no information")).number == 1


def test_damaged_and_partly_scanned_files():
    data = (FIXTURES / "pdflatex-4-pages.pdf").read_bytes()
    with pytest.raises(ReaderError, match="damaged or truncated"):
        pdf.read(data[: len(data) // 2])
    import pypdfium2 as pdfium

    merged = pdfium.PdfDocument.new()  # 4 pages of text, then 6 pages of images
    for name in ("pdflatex-4-pages.pdf", "imagemagick-images.pdf"):
        merged.import_pages(pdfium.PdfDocument((FIXTURES / name).read_bytes()))
    buf = io.BytesIO()
    merged.save(buf)
    result = pdf.read(buf.getvalue())
    assert result.warnings == ["6 of 10 pages have no text layer"]
    assert len(result.pages) == 10


def test_hyphen_at_line_end_is_joined_in_the_cited_sentence(tmp_path):
    """George_Washington.pdf breaks "presi-" / "dency" at a line end (pdflatex hyphenation);
    `ask --json` cites the whole sentence, joined, with its page."""
    import pypdfium2 as pdfium

    book = pdfium.PdfDocument(EVAL_PDF / "George_Washington.pdf")
    raw = "".join(book[i].get_textpage().get_text_range() for i in range(len(book)))
    assert "He retired from the presi\ufffedency" in raw  # pdfium's mark of a line-end hyphen
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("George_Washington.pdf", "Warsaw.pdf"):
        shutil.copy(EVAL_PDF / name, folder / name)
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
           "ANONYMIZED_TELEMETRY": "False"}
    base = [sys.executable, "-m", "assistant"]
    index = ["--index", str(tmp_path / "index")]

    def run(*args: str) -> str:
        done = subprocess.run([*base, *args, *index], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=300)
        assert done.returncode == 0, done.stderr
        return done.stdout

    run("ingest", str(folder))
    question = "When did Washington retire from the presidency?"
    got = json.loads(run("ask", question, "--json"))
    first = got["citations"][0]
    assert first["text"].startswith("He retired from the presidency in 1797")
    assert first["text"].endswith("managed a variety of enterprises.")
    assert (first["page"], first["page_label"], first["section"]) == (1, "", "")
    text = run("ask", question)
    assert "George_Washington.pdf p. 1, line " in text


def test_unchanged_pdf_is_not_parsed_again(tmp_path, encoder, monkeypatch):
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(FIXTURES / "crazyones-pdfa.pdf", folder / "crazyones.pdf")
    assistant = Assistant(make_settings(tmp_path), encoder=encoder)
    with assistant.index.writing():
        first = assistant.ingestor().ingest_paths([folder], 10 * MB)
    assert first.files[0].status == "indexed"

    def must_not_parse(data: bytes, fmt: str = "pdf"):
        raise AssertionError("an unchanged PDF was parsed again")

    monkeypatch.setattr(pdf, "read", must_not_parse)
    with assistant.index.writing():
        again = assistant.ingestor().ingest_paths([folder], 10 * MB)
    assert [(f.status, f.sentences) for f in again.files] == [("unchanged",
                                                               first.files[0].sentences)]
    monkeypatch.undo()
    (folder / "crazyones.pdf").write_bytes((FIXTURES / "002-trivial-libre-office-writer.pdf")
                                           .read_bytes())
    with assistant.index.writing():
        changed = assistant.ingestor().ingest_paths([folder], 10 * MB)
    assert changed.files[0].status == "indexed"
    assistant.close()


def test_lookup_view_shows_the_sentence_in_its_page(tmp_path, encoder):
    from textual.widgets import Static

    from .test_tui import make_app, run, send, settle

    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(EVAL_PDF / "George_Washington.pdf", folder / "George_Washington.pdf")
    assistant = Assistant(make_settings(tmp_path), encoder=encoder)
    with assistant.index.writing():
        assistant.ingestor().ingest_paths([folder], 10 * MB)
    app = make_app(assistant, tmp_path)

    async def scenario():
        async with app.run_test(size=(100, 24)) as pilot:
            await settle(app, pilot)
            await send(app, pilot, "Who became an international icon for liberation and "
                                   "nationalism?")
            await send(app, pilot, "/open 1")
            screen = app.screen
            cited = screen.sentence
            assert cited.page == 2 and "international icon" in cited.text
            start, end = screen.span
            assert screen.text[start:end] == cited.text
            assert "He retired from the presidency" not in screen.text  # that is on page 1
            note = str(screen.query_one("#doc-note", Static).visual)
            assert "showing page 2" in note
            header = str(screen.query_one("#doc-header", Static).visual)
            assert "George_Washington.pdf p. 2, line " in header

    run(scenario())
    assistant.close()


def test_folded_matching_and_gold_pages():
    from assistant import eval_formats as ef

    assert ef.fold("Café “quoted” — 1,799!") == "cafequoted1799"
    assert ef.folded_match(ef.fold("He retired in 1797."), ef.fold("He retired in 1797 and left"))
    assert not ef.folded_match(ef.fold("He retired in 1797."), ef.fold("Nothing alike at all"))
    files = ef.rendered_files(SHARED / "eval" / "dev.jsonl", "pdf")
    assert len(files) == 141
    gw = EVAL_PDF / "George_Washington.pdf"
    golds = [ef.fold("He retired from the presidency in 1797 and returned to his home"),
             ef.fold("Washington became an international icon for liberation and nationalism")]
    assert ef.gold_pages(gw, golds) == [1, 2]


def test_cli_eval_format_pdf_reports_both_and_the_pages(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1",
           "ANONYMIZED_TELEMETRY": "False"}
    done = subprocess.run(
        [sys.executable, "-m", "assistant", "eval", str(SHARED / "eval" / "dev.jsonl"),
         "--format", "pdf", "--limit", "8", "--json"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["format"] == "pdf" and report["n"] == 8
    assert report["text"]["overall"]["n"] == report["pdf"]["overall"]["n"] == 8
    assert report["pdf"]["overall"]["p_at_1"] >= report["text"]["overall"]["p_at_1"] - 0.25
    assert report["pages"]["matched_citations"] > 0
    assert report["pages"]["page_right_rate"] >= 0.98
