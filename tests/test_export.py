"""Export (Markdown footnotes, JSON spans) and saved conversations, on the real seed article's
sentences (split, not embedded: no ranking is tested here)."""

from __future__ import annotations

import json
import re

import pytest

from assistant.conversations import (
    ConversationStore,
    Entry,
    answer_segments,
    entry_from_record,
    entry_to_record,
)
from assistant.documents import read_document
from assistant.export import export, to_json, to_markdown
from assistant.types import Answer, AnswerSentence, Citation, CiteMatch
from tests.conftest import SEED_ARTICLE


@pytest.fixture(scope="module")
def article():
    from assistant.sentences import split_document

    doc = read_document(SEED_ARTICLE, 10 * 2**20)
    return doc, split_document(doc)


def _find(sentences, words):
    return next(s for s in sentences if words in s.text)


def _entries(article):
    doc, sentences = article
    putin = _find(sentences, "Putin confirmed")
    moscow = _find(sentences, "fake news")
    answer = Answer(
        "What did Putin confirm?", f"{putin.text} [1] He also toured Kursk. [2]", True,
        [Citation(1, putin, 0.81), Citation(2, moscow, 0.52)], "openai",
        sentences=[AnswerSentence(putin.text + " [1]", [1], 0.9, True),
                   AnswerSentence("He also toured Kursk.", [2], 0.1, False)],
        notes=["1 sentence is not supported by its sources"], timings={"total_ms": 12.5})
    missing = Answer("Who won the 1921 regatta?", "I could not find this in your documents.",
                     False, [], "offline", nearest=[Citation(1, moscow, 0.2)])
    cite = Entry("cite", "fake news", matches=[CiteMatch(moscow, 0.75, True),
                                               CiteMatch(putin, 0.16, False)])
    return [Entry("answer", answer.question, answer=answer), cite,
            Entry("answer", missing.question, answer=missing)], putin, moscow


def test_markdown_quotes_every_cited_sentence_in_a_footnote(article):
    entries, putin, moscow = _entries(article)
    md = to_markdown(entries, "Putin")
    body, notes = md.split("\n---\n")
    assert body.startswith("# Putin\n")
    assert "## What did Putin confirm?" in body
    # markers become footnote references; the old [n] markers are gone from the text
    assert f"{putin.text}[^1-1] He also toured Kursk." in body
    assert "[1]" not in body
    assert "He also toured Kursk. *(not supported by its sources)*[^1-2]" in body
    assert "> Note: 1 sentence is not supported by its sources" in body
    loc = f"seeds/{SEED_ARTICLE.name}:{putin.line}"
    assert (f"[^1-1]: “{putin.text}” — `{loc}`, characters "
            f"{putin.char_start}–{putin.char_end}") in notes
    assert f"[^1-2]: “{moscow.text}”" in notes
    assert "(exact match)[^2-1]" in body and "[^2-2]:" in notes
    assert "## Who won the 1921 regatta?" in body
    assert "Nearest sentences (not cited as an answer):" in body
    # every reference has its footnote and every footnote is referenced
    refs = set(re.findall(r"\[\^(\d+-\d+)\]", body))
    assert refs == set(re.findall(r"^\[\^(\d+-\d+)\]:", notes, re.M))
    assert len(refs) == 4


def test_json_keeps_the_character_spans(article):
    entries, putin, _ = _entries(article)
    doc, _ = article
    data = to_json(entries, "Putin")
    first = data["entries"][0]
    assert first["kind"] == "answer" and first["question"] == "What did Putin confirm?"
    c = first["citations"][0]
    assert doc.text[c["char_start"]:c["char_end"]] == c["text"] == putin.text
    assert first["sentences"][1]["supported"] is False
    match = data["entries"][1]["matches"][0]
    assert match["exact"] and doc.text[match["char_start"]:match["char_end"]] == match["text"]
    assert data["entries"][2]["found"] is False


def test_export_writes_both_files(article, tmp_path):
    entries, _, _ = _entries(article)
    md, js = export(entries, tmp_path / "sub" / "chat", "Putin")
    assert (md.name, js.name) == ("chat.md", "chat.json")
    assert md.read_text(encoding="utf-8") == to_markdown(entries, "Putin")
    assert json.loads(js.read_text(encoding="utf-8")) == to_json(entries, "Putin")


def test_answer_record_round_trip(article):
    entries, _, _ = _entries(article)
    for entry in entries:
        record = json.loads(json.dumps(entry_to_record(entry)))
        assert entry_from_record(entry.kind, entry.question, record) == entry


def test_records_saved_before_the_shared_serialisation_still_load(article):
    """Conversations saved by earlier versions nested each sentence under "sentence" and
    named the answer text "text"."""
    from dataclasses import asdict

    entries, _, _ = _entries(article)
    answer = next(e for e in entries if e.kind == "answer").answer
    cite = next(e for e in entries if e.kind == "cite")
    old_answer = {"question": answer.question, "text": answer.text, "found": answer.found,
                  "answerer": answer.answerer,
                  "citations": [{"n": c.n, "score": c.score, "sentence": asdict(c.sentence)}
                                for c in answer.citations],
                  "nearest": [], "sentences": [asdict(s) for s in answer.sentences],
                  "timings": answer.timings, "notes": answer.notes, "partial": answer.partial}
    again = entry_from_record("answer", answer.question, {"answer": old_answer}).answer
    assert again.text == answer.text and again.citations == answer.citations
    old_cite = {"matches": [{"score": m.score, "exact": m.exact, "sentence": asdict(m.sentence)}
                            for m in cite.matches]}
    assert entry_from_record("cite", cite.question, old_cite).matches == cite.matches


def test_segments_of_a_plain_text_answer(article):
    _, sentences = article
    s = sentences[0]
    answer = Answer("q", "First part [1][2] second part [3] tail", True,
                    [Citation(1, s, 1.0)], "x")
    segs = answer_segments(answer)
    assert [(g.text, g.citations) for g in segs] == [
        ("First part", [1, 2]), ("second part", [3]), ("tail", [])]


def test_conversations_are_saved_listed_and_loaded(article, tmp_path):
    entries, putin, _ = _entries(article)
    ticks = iter(range(100, 200))
    store = ConversationStore(tmp_path / "c.sqlite3", clock=lambda: float(next(ticks)))
    a = store.create("What did Putin confirm? " * 5)
    for e in entries:
        store.add(a, e)
    b = store.create("later")
    listed = store.list()
    assert [c.id for c in listed] == [b, a]
    assert listed[1].entries == 3 and listed[1].title.endswith("…")
    assert len(listed[1].title) == 60
    store.close()
    again = ConversationStore(tmp_path / "c.sqlite3")
    loaded = again.load(a)
    assert loaded == entries
    assert loaded[0].evidence()[0].sentence == putin
    assert [ev.verdict for ev in loaded[0].evidence()] == ["supported", "unsupported"]
    assert [ev.verdict for ev in loaded[1].evidence()] == ["exact", "similar"]
    assert [ev.verdict for ev in loaded[2].evidence()] == ["nearest"]
    again.delete(a)
    assert [c.id for c in again.list()] == [b]
    assert again.load(a) == []
