"""Ingest against a real on-disk Chroma store: reports, idempotence, changes, bad input."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from assistant.service import Assistant

from .conftest import SEED_ARTICLE, make_settings

MB = 2**20


def _ingest(assistant: Assistant, paths, max_bytes=10 * MB):
    with assistant.index.writing():
        return assistant.ingestor().ingest_paths(paths, max_bytes)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("Alpha is the first letter. It starts the alphabet.\n")
    (root / "sub" / "b.md").write_text("# Bravo\n\nBravo is the second letter.\n")
    return root


def test_second_ingest_reports_unchanged_and_embeds_nothing(seeded_dir, tmp_path):
    def no_model():
        raise AssertionError("the model must not be loaded when nothing changed")

    from assistant.ingest import Ingestor

    assistant = Assistant(make_settings(seeded_dir))
    report = Ingestor(assistant.index, no_model).ingest_paths([SEED_ARTICLE.parent], 10 * MB)
    assert report.files and all(f.status == "unchanged" for f in report.files)
    assert report.sentences_embedded == 0
    assistant.close()


def test_changed_file_replaces_its_sentences_and_gone_file_is_removed(corpus, tmp_path, encoder):
    assistant = Assistant(make_settings(tmp_path), encoder=encoder)
    first = _ingest(assistant, [corpus])
    assert sorted(f.status for f in first.files) == ["indexed", "indexed"]
    assert assistant.index.count() == 4  # 2 + heading and 1

    (corpus / "a.txt").write_text("Alpha changed. Now it has three sentences. Really three.\n")
    (corpus / "sub" / "b.md").unlink()
    second = _ingest(assistant, [corpus])
    status = {Path(f.path).name: f.status for f in second.files}
    assert status == {"a.txt": "indexed", "b.md": "removed"}
    assert assistant.index.count() == 3
    texts = {s.text for s in assistant.index.catalog.all_sentences()}
    assert "Alpha changed." in texts and "Alpha is the first letter." not in texts
    # Chroma holds exactly the committed sentences: no stale vectors left behind.
    assert assistant.index.chroma.count() == 3
    assistant.close()


def test_metadata_in_chroma_carries_spans_and_hash(corpus, tmp_path, encoder):
    assistant = Assistant(make_settings(tmp_path), encoder=encoder)
    _ingest(assistant, [corpus / "a.txt"])
    got = assistant.index.chroma.sentences.get(include=["metadatas", "documents"])
    text = (corpus / "a.txt").read_text()
    for doc, meta in zip(got["documents"], got["metadatas"], strict=True):
        assert text[meta["char_start"] : meta["char_end"]] == doc
        for key in ("path", "doc_hash", "sentence_index", "line"):
            assert key in meta
    assistant.close()


def _unreadable(path: Path) -> None:
    if os.geteuid() == 0:  # root reads anything chmod forbids; a file that fails on read
        path.symlink_to("/proc/self/mem")
    else:
        path.write_text("secret sentence.")
        path.chmod(0)


def test_bad_inputs_are_skipped_with_reasons_and_the_rest_is_indexed(tmp_path, encoder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.txt").write_text("The good file is indexed. It has two sentences.\n")
    (docs / "empty.txt").write_text("   \n")
    (docs / "binary.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    (docs / "latin1.txt").write_bytes("caf\xe9 au lait".encode("latin-1"))
    (docs / "big.md").write_text("word " * 300_000)
    (docs / "image.png").write_bytes(b"\x89PNG")
    _unreadable(docs / "locked.txt")
    assistant = Assistant(make_settings(tmp_path), encoder=encoder)
    before = _ingest(assistant, [docs / "good.txt"])
    assert before.count("indexed") == 1

    report = _ingest(assistant, [docs, tmp_path / "missing.txt"], max_bytes=1 * MB)
    reasons = {Path(f.path).name: (f.status, f.reason) for f in report.files}
    assert reasons["good.txt"][0] == "unchanged"
    assert reasons["empty.txt"] == ("skipped", "empty file")
    assert reasons["binary.txt"][0] == "skipped" and "binary" in reasons["binary.txt"][1]
    assert "not valid UTF-8" in reasons["latin1.txt"][1] and "0xe9" in reasons["latin1.txt"][1]
    assert "too large" in reasons["big.md"][1] and "1.0 MB limit" in reasons["big.md"][1]
    assert "unsupported file type" in reasons["image.png"][1]
    assert "cannot read" in reasons["locked.txt"][1]
    assert reasons["missing.txt"] == ("skipped", "no such file or directory")
    # What was indexed before is intact and still answers.
    assert assistant.index.count() == 2
    answer = assistant.ask("Which file is indexed?")
    assert answer.found and "good file" in answer.citations[0].sentence.text
    assistant.close()


def test_report_json_shape(corpus, tmp_path, encoder):
    assistant = Assistant(make_settings(tmp_path), encoder=encoder)
    data = _ingest(assistant, [corpus]).to_dict()
    assert data["indexed"] == 2 and data["sentences_embedded"] == 4
    assert {"path", "status", "reason", "sentences"} <= set(data["files"][0])
    assistant.close()


def test_a_document_indexed_by_an_earlier_version_is_embedded_anew(corpus, tmp_path, encoder):
    """Documents indexed before sentence vectors were late-chunked carry a content hash of
    their text alone: the next ingest of their files embeds them again (and only once)."""
    import hashlib

    from assistant.documents import key_path
    from assistant.types import Document

    assistant = Assistant(make_settings(tmp_path), encoder=encoder)
    path = corpus / "a.txt"
    text = path.read_text()
    old = Document(key_path(path), text, hashlib.sha256(text.encode()).hexdigest(), "a")
    with assistant.index.writing():
        assistant.ingestor().ingest_documents([old])
    assert assistant.index.document(key_path(path)).content_hash == old.content_hash
    again = _ingest(assistant, [path])
    assert [(f.status, f.sentences) for f in again.files] == [("indexed", 2)]
    assert assistant.index.document(key_path(path)).content_hash != old.content_hash
    assert assistant.index.count() == 2  # the old version's sentences are gone
    assert [f.status for f in _ingest(assistant, [path]).files] == ["unchanged"]
    assistant.close()
