"""The found/not-found decision (answerability.py): right on a document alone in its index and
the same among others; its model file read by name."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.answer import ExtractiveAnswerer, is_relevant
from assistant.answerability import MODEL_FILE, Answerability
from assistant.documents import make_document
from assistant.errors import ModelError
from assistant.service import Assistant
from assistant.types import Hit
from tests.conftest import SEED_ARTICLE, make_settings

# Real text on unrelated subjects (written for these tests, in no evaluation file).
DOCUMENTS = {
    "lighthouse.txt": (
        "The Bell Rock Lighthouse stands on a reef eleven miles off the coast of Angus, "
        "Scotland. It was built between 1807 and 1810 by Robert Stevenson, with John Rennie "
        "as chief engineer. The tower is 35 metres tall and made of interlocking granite "
        "blocks dovetailed into one another. Its light was first lit on 1 February 1811. "
        "It is the oldest surviving sea-washed lighthouse in the world. The keepers were "
        "withdrawn in 1988, when the light was automated."),
    "sourdough.txt": (
        "Sourdough bread is leavened by a culture of wild yeasts and lactic acid bacteria "
        "rather than by baker's yeast. The bacteria produce lactic and acetic acids, which give "
        "the bread its sour taste and help it keep longer. A starter is fed with flour and "
        "water every day to keep the culture active. Most recipes rest the dough overnight in "
        "a cool place so that the flavour develops slowly. The loaf is usually baked in a "
        "covered pot at about 250 degrees Celsius for the first twenty minutes."),
    "octopus.txt": (
        "The common octopus lives in the temperate waters of the Atlantic Ocean and the "
        "Mediterranean Sea. It has three hearts: two pump blood through the gills and one "
        "through the rest of the body. Its blood is blue because it carries oxygen with a "
        "copper-based protein called hemocyanin. An octopus can change the colour and texture "
        "of its skin in a fraction of a second using cells called chromatophores. Females lay "
        "tens of thousands of eggs and guard them until they hatch, eating nothing."),
    "marathon.txt": (
        "The marathon is a long-distance foot race over 42.195 kilometres. The distance was "
        "fixed in 1921 by the International Amateur Athletic Federation. It recalls the legend "
        "of Pheidippides, a messenger who ran from the battlefield of Marathon to Athens. The "
        "first modern marathon was run at the 1896 Olympic Games in Athens and won by Spyridon "
        "Louis. Today more than a thousand marathons are held around the world every year."),
}
QUESTIONS = [  # (question, its document, the words its answer sentence holds)
    ("Who built the Bell Rock Lighthouse?", "lighthouse.txt", "Robert Stevenson"),
    ("Which acids give sourdough bread its sour taste?", "sourdough.txt", "acetic"),
    ("How many hearts does an octopus have?", "octopus.txt", "three hearts"),
    ("Who won the first modern marathon?", "marathon.txt", "Spyridon"),
]
UNANSWERABLE = "What is the boiling point of liquid nitrogen in kelvin?"


def test_spokesperson_answered_from_the_seed_article_alone(seeded):
    """The issue's case: in an index of the seed article alone (16 sentences) the question
    was refused although its best sentence names the spokesperson."""
    assert [Path(p).name for p in seeded.index.documents()] == [SEED_ARTICLE.name]
    answer = seeded.ask("Who is the Pentagon spokesperson?")
    assert answer.found, answer.nearest
    assert answer.citations[0].sentence.text.startswith(
        "Pentagon spokesperson Sabrina Singh said")


def _index(root: Path, encoder, names: list[str]) -> Assistant:
    assistant = Assistant(make_settings(root), encoder=encoder)
    docs = [make_document(path=n, text=DOCUMENTS[n], title=n.removesuffix(".txt"))
            for n in names]
    with assistant.index.writing():
        assistant.ingestor().ingest_documents(docs)
    return assistant


@pytest.fixture(scope="module")
def together(tmp_path_factory, encoder):
    assistant = _index(tmp_path_factory.mktemp("together"), encoder, list(DOCUMENTS))
    with assistant.index.writing():
        assistant.ingestor().ingest_paths([SEED_ARTICLE], max_bytes=2**20)
    yield assistant
    assistant.close()


def test_same_decision_alone_and_among_others(together, tmp_path, encoder):
    for question, doc, words in QUESTIONS:
        alone = _index(tmp_path / doc, encoder, [doc])
        try:
            for assistant in (alone, together):
                answer = assistant.ask(question)
                assert answer.found, (question, assistant.index.documents().keys())
                assert any(words in c.sentence.text for c in answer.citations)
            # asked of another document alone, and of the others without its own: not found
            assert not alone.ask(UNANSWERABLE).found
            other = next(q for q, d, _ in QUESTIONS if d != doc)
            assert not alone.ask(other).found, (other, doc)
        finally:
            alone.close()
    assert not together.ask(UNANSWERABLE).found
    # the seed article's question, found alone (above), is found among the others too
    answer = together.ask("Who is the Pentagon spokesperson?")
    assert answer.found and "Sabrina Singh" in answer.citations[0].sentence.text


def test_best_hit_is_read_by_the_answer_check_model(together, tmp_path, encoder):
    """`ce_answer`: the answer-check cross-encoder's logit for the best hit alone (trained with
    a "no answer" option at 0), above 0 for a sentence that answers, below 0 for the nearest
    sentence of a document that cannot."""
    hits = together.retrieve("How many hearts does an octopus have?", 3)
    assert "three hearts" in hits[0].sentence.text
    assert hits[0].signals["ce_answer"] > 0
    assert all("ce_answer" not in h.signals for h in hits[1:])  # read for the best hit only
    alone = _index(tmp_path / "lighthouse", encoder, ["lighthouse.txt"])
    try:
        (hit,) = alone.retrieve("How many hearts does an octopus have?", 1)
        assert hit.signals["ce_answer"] < 0 and not is_relevant([hit])
    finally:
        alone.close()


def test_decision_reads_the_best_hit_with_signals(together):
    hits = together.retrieve("How many hearts does an octopus have?", 3)
    assert hits[0].signals and is_relevant(hits)
    model = Answerability()
    assert all(name in hits[0].signals for name in model.weights)  # names, not positions
    # a sentence put first by hand (a follow-up's quoted sentence) has no signals: the
    # retrieved best hit still decides
    assert is_relevant([Hit(hits[1].sentence, 0.0), *hits])
    # hits made by hand only: the score decides
    assert not is_relevant([Hit(hits[0].sentence, 0.01)])
    assert is_relevant([Hit(hits[0].sentence, 0.9)])


@pytest.mark.parametrize("content", [None, "{not json", '{"kind": "other"}',
                                     '{"kind": "answerability-logistic-v1", "weights": {}}',
                                     '[1, 2]'])
def test_missing_or_garbled_model_file_is_one_line_error(tmp_path, content):
    path = tmp_path / "answerability.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ModelError) as err:
        Answerability(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message


def test_model_naming_a_signal_the_retriever_lacks_is_an_error(tmp_path, together):
    data = json.loads(MODEL_FILE.read_text())
    data["weights"]["no_such_signal"] = 1.0
    path = tmp_path / "answerability.json"
    path.write_text(json.dumps(data))
    hits = together.retrieve("Who built the Bell Rock Lighthouse?", 3)
    with pytest.raises(ModelError, match="no_such_signal"):
        ExtractiveAnswerer(model=Answerability(path)).answer("q", hits)


def test_shipped_model_has_its_provenance():
    data = json.loads(MODEL_FILE.read_text())
    prov = data["provenance"]
    assert len(prov["sha256"]) == 64 and prov["command"].startswith(
        "python benchmarks/fit_answerability.py")
    assert set(data["weights"]) == set(data["features"])
    assert {"not_found_collection", "not_found_solo", "false_answers_withheld"} <= set(
        prov["held_out"])
