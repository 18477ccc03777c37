"""Sentence splitting: exact spans, line numbers, stable ids."""

from assistant.documents import make_document
from assistant.sentences import split_document, split_spans

from .conftest import SEED_ARTICLE


def test_every_span_slices_back_to_its_sentence():
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    doc = make_document(str(SEED_ARTICLE), text)
    sentences = split_document(doc)
    assert len(sentences) == 16
    for s in sentences:
        assert text[s.char_start : s.char_end] == s.text
        assert s.text == s.text.strip()
        assert text.count("\n", 0, s.char_start) + 1 == s.line


def test_putin_sentence_is_one_sentence_on_line_6():
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    sentences = split_document(make_document("a.txt", text))
    putin = [s for s in sentences if "Putin confirmed" in s.text]
    assert len(putin) == 1
    assert putin[0].text.startswith("On Tuesday, however, President Vladimir Putin confirmed")
    assert putin[0].text.endswith("partnership treaty with Pyongyang.")
    assert putin[0].line == 6


def test_ids_are_stable_for_same_content_and_change_with_content():
    a = split_document(make_document("doc.txt", "First one. Second one."))
    b = split_document(make_document("doc.txt", "First one. Second one."))
    c = split_document(make_document("doc.txt", "First one. Second two."))
    assert [s.id for s in a] == [s.id for s in b]
    assert a[0].id != c[0].id
    assert len({s.id for s in a}) == 2


def test_hard_wrapped_prose_is_joined_and_headings_split():
    text = (
        "# Title line\n\n"
        "This sentence is wrapped across two lines because the text was\n"
        "formatted at a fixed width by an editor. A second sentence follows here.\n"
    )
    spans = split_spans(text)
    got = [text[s:e] for s, e, _ in spans]
    assert got[0] == "# Title line"
    assert got[1].startswith("This sentence is wrapped") and got[1].endswith("by an editor.")
    assert "\n" in got[1]
    assert got[2] == "A second sentence follows here."
    assert [line for _, _, line in spans] == [1, 3, 4]


def test_unicode_and_crlf_spans_are_exact():
    text = "Zoë met Søren. They went to Kraków!\r\nIt rained — a lot?\r\n"
    for s, e, _ in split_spans(text):
        piece = text[s:e]
        assert piece == piece.strip() and piece
    assert [text[s:e] for s, e, _ in split_spans(text)][-1] == "It rained — a lot?"


def test_punctuation_only_lines_are_not_sentences():
    assert split_spans("---\n\n***\n") == []
