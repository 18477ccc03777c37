"""The cross-encoder of the second stage (the real int8 model that ships in assistant/data)."""

from __future__ import annotations

import numpy as np
import pytest

from assistant import rerank
from assistant.errors import ModelError
from assistant.params import load_reranker
from assistant.rerank import CrossEncoder, passage


@pytest.fixture(scope="module")
def model() -> CrossEncoder:
    return rerank.shared()


def test_it_reads_what_the_question_asks(model):
    """Both sentences share the question's words; which one answers depends on what is asked."""
    title = "Genghis Khan"
    before = "He came to power by uniting many of the nomadic tribes of Northeast Asia."
    died = passage("He died in 1227 after defeating the Western Xia.", title, before)
    successor = passage("Before Genghis Khan died, he assigned Ögedei Khan as his successor.",
                        title, before)
    year = model.score("In what year did Genghis Khan die?", [successor, died])
    who = model.score("Who did Genghis Khan name as his successor?", [successor, died])
    assert year.shape == (2,) and year.dtype == np.float64
    assert year[1] > year[0] + 1.0
    assert who[0] > who[1] + 1.0


def test_the_context_says_who_he_is(model):
    """The same sentence reads as answering when its context names the question's subject."""
    sentence = "He was the second-oldest son of his father Yesügei, a Khamag Mongol chief."
    logits = model.score("Who was Genghis Khan's father?", [
        passage(sentence, "Genghis Khan", "Genghis Khan was the founder of the Mongol Empire."),
        passage(sentence, "Kublai Khan", "Kublai Khan was the fifth Khagan of the Mongols."),
    ])
    assert logits[0] > logits[1]


def test_a_long_context_is_cut_and_the_sentence_kept(model):
    question = "When was the treaty signed?"
    sentence = "The treaty was signed in Vienna on 3 May 1815 by the four powers."
    long = passage(sentence, "Congress of Vienna", "word " * 500)
    enc = model._tokenizer.encode(question, long)
    assert len(enc.ids) == load_reranker().max_tokens == 96
    kept = model._tokenizer.encode(sentence, add_special_tokens=False).ids
    first_sep = enc.ids.index(102)
    assert enc.ids[first_sep + 1:first_sep + 1 + len(kept)] == kept
    logits = model.score(question, [long, passage(sentence, "Congress of Vienna", "")])
    assert np.isfinite(logits).all()


def test_no_passages_no_work(model):
    assert model.score("anything?", []).shape == (0,)


def test_a_missing_model_file_is_named(tmp_path):
    missing = tmp_path / "nope.onnx"
    with pytest.raises(ModelError, match="nope.onnx"):
        CrossEncoder(missing)
