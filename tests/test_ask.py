"""The acceptance questions of the offline spine, with the real model and a real Chroma store."""

from __future__ import annotations

import pytest

from assistant.errors import EmptyIndexError, EmptyQuestionError
from assistant.service import Assistant

from .conftest import SEED_ARTICLE, make_settings


def test_putin_question_cites_the_putin_sentence_first(seeded):
    answer = seeded.ask("What did Putin confirm?")
    assert answer.found
    first = answer.citations[0]
    assert first.sentence.text.startswith(
        "On Tuesday, however, President Vladimir Putin confirmed the presence of North Korean "
        "troops in Russia")
    assert first.sentence.path == str(SEED_ARTICLE) and first.sentence.line == 6
    text = SEED_ARTICLE.read_text(encoding="utf-8")
    assert text[first.sentence.char_start : first.sentence.char_end] == first.sentence.text
    assert "[1]" in answer.text


def test_how_many_soldiers_cites_the_pentagon_sentence_first(seeded):
    answer = seeded.ask("How many North Korean soldiers were sent to Russia?")
    assert answer.found
    assert answer.citations[0].sentence.text.startswith(
        "The Pentagon said an estimated 10,000 North Korean soldiers")


def test_off_topic_question_is_not_found_with_nearest_evidence(seeded):
    answer = seeded.ask("What is the capital of France?")
    assert not answer.found
    assert answer.citations == []
    assert answer.nearest and all(c.score < answer.nearest[0].score + 1e-9 for c in answer.nearest)
    data = answer.to_dict()
    assert data["found"] is False and "could not find" in data["answer"]


def test_answer_json_has_the_documented_fields(seeded):
    data = seeded.ask("Who characterized the deployment as a significant escalation?").to_dict()
    assert {"question", "answer", "found", "citations", "timings"} <= set(data)
    c = data["citations"][0]
    assert {"id", "doc_id", "path", "line", "char_start", "char_end", "text", "score"} <= set(c)
    assert "Rutte" in c["text"]


def test_neighbours_give_context(seeded):
    hit = seeded.ask("What did Putin confirm?").citations[0].sentence
    around = seeded.index.neighbours(hit, 1, 1)
    assert [s.index for s in around] == [hit.index - 1, hit.index, hit.index + 1]


def test_empty_question_and_empty_index_are_clear_errors(seeded, tmp_path, encoder):
    with pytest.raises(EmptyQuestionError):
        seeded.ask("   ")
    empty = Assistant(make_settings(tmp_path / "empty"), encoder=encoder)
    with pytest.raises(EmptyIndexError, match="assistant ingest"):
        empty.ask("What did Putin confirm?")
    empty.close()
