"""DOCX, HTML and EPUB end to end through the real CLI: ingest a folder with good and bad files,
ask, and get the sentence with its section; bad files reported, the others still indexed."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from .test_cli import run
from .test_readers_web import FIXTURES, _docx_with


def _folder(root: Path) -> Path:
    docs = root / "docs"
    docs.mkdir()
    shutil.copy(FIXTURES / "handbook.docx", docs / "handbook.docx")
    shutil.copy(FIXTURES / "ferry.html", docs / "ferry.html")
    shutil.copy(FIXTURES / "beekeeping.epub", docs / "beekeeping.html")  # the suffix lies
    shutil.copy(FIXTURES / "empty.docx", docs / "empty.docx")
    (docs / "app.html").write_text(
        "<!DOCTYPE html><html><head><script src=app.js></script></head>"
        "<body><div id=root></div><script>render()</script></body></html>")
    data = (FIXTURES / "handbook.docx").read_bytes()
    (docs / "truncated.docx").write_bytes(data[: len(data) // 2])
    (docs / "bomb.docx").write_bytes(_docx_with(b"<w:document>" + b" " * (48 * 2**20)
                                                + b"</w:document>"))
    return docs


def _ask(index: str, question: str) -> dict:
    out = run("ask", "--index", index, question, "--json")
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_web_formats_ingested_asked_and_cited_with_their_section(tmp_path):
    docs = _folder(tmp_path)
    index = str(tmp_path / "ix")
    out = run("ingest", "--index", index, str(docs), "--json")
    assert out.returncode == 0, out.stderr
    report = {Path(f["path"]).name: f for f in json.loads(out.stdout)["files"]}
    assert {n for n, f in report.items() if f["status"] == "indexed"} == {
        "handbook.docx", "ferry.html", "beekeeping.html"}
    assert report["empty.docx"]["reason"] == "no text: the document is empty"
    assert report["app.html"]["reason"] == "no text: the page is only scripts/markup"
    assert report["truncated.docx"]["reason"] == (
        "corrupt or truncated DOCX (not a readable zip archive)")
    assert report["bomb.docx"]["reason"].startswith("zip bomb? word/document.xml inflates")

    for question, name, sentence, section in [
        ("Who carries the key to the chemical store?", "handbook.docx",
         "The duty warden carries the only key to the chemical store.", "Safety"),
        ("What time does the night ferry to Halvik leave?", "ferry.html",
         "The night ferry to Halvik leaves the south quay at 23:40 every day except Sunday.",
         "Timetable"),
        ("When do the mouse guards go on the hive entrances?", "beekeeping.html",
         "Mouse guards go on the entrances in the first week of October.", "Autumn"),
    ]:
        data = _ask(index, question)
        first = data["citations"][0]
        assert data["found"] and Path(first["path"]).name == name, (question, first)
        assert first["text"] == sentence and first["section"] == section
        assert first["page"] is None

    # The text output names the section; a file that breaks later keeps what was indexed.
    (docs / "handbook.docx").write_bytes((FIXTURES / "handbook.docx").read_bytes()[:999])
    again = run("ingest", "--index", index, str(docs / "handbook.docx"))
    assert "corrupt or truncated DOCX" in again.stdout and "Traceback" not in again.stderr
    text = run("ask", "--index", index, "Who carries the key to the chemical store?")
    assert text.returncode == 0, text.stderr
    assert "docs/handbook.docx" in text.stdout and "§ Safety" in text.stdout
