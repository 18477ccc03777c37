"""`assistant eval` on a small slice of the real dev set: the report's shape, sane figures, the
unanswerable run, the scoring rules, and that a broken ranker falls below the floors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant import evaluate as ev
from assistant.cli import main
from assistant.retrieve import ranker
from assistant.service import Assistant
from assistant.types import Sentence
from tests.conftest import EVAL_DEV, make_settings

pytestmark = pytest.mark.skipif(not EVAL_DEV.is_file(), reason="no shared/eval/dev.jsonl")

PER_SOURCE = 5
KEYS = {"n", "p_at_1", "r_at_5", "mrr", "citation_precision", "citation_recall",
        "not_found_rate", "latency_ms_p50", "latency_ms_p95"}


@pytest.fixture(scope="module")
def slice_file(tmp_path_factory) -> Path:
    """The first five questions of each source (15 questions over 10 documents)."""
    rows, seen = [], {}
    for line in EVAL_DEV.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        src = row["id"].split(":")[0]
        if seen.get(src, 0) < PER_SOURCE:
            rows.append(line)
            seen[src] = seen.get(src, 0) + 1
    path = tmp_path_factory.mktemp("eval") / "slice.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def slice_assistant(slice_file, tmp_path_factory, encoder):
    root = tmp_path_factory.mktemp("eval-store")
    assistant = Assistant(make_settings(root, collection=ev.collection_for(slice_file)),
                          encoder=encoder)
    ev.index_items(assistant, ev.load_items(slice_file))
    yield assistant
    assistant.close()


def test_cli_eval_json_shape_and_floors(slice_file, tmp_path, capsys):
    assert main(["eval", str(slice_file), "--json", "--index", str(tmp_path / "idx")]) == 0
    report = json.loads(capsys.readouterr().out)
    overall = report["overall"]
    assert set(overall) == KEYS
    assert set(report["by_source"]) == {"squad11", "multirc", "wikiqa"}
    assert all(set(r) == KEYS and r["n"] == PER_SOURCE for r in report["by_source"].values())
    assert overall["n"] == 3 * PER_SOURCE
    for key in KEYS - {"n", "latency_ms_p50", "latency_ms_p95"}:
        assert 0.0 <= overall[key] <= 1.0
    assert 0 < overall["latency_ms_p50"] <= overall["latency_ms_p95"]
    # The real system reaches P@1 0.6 / R@5 1.0 here; a random ranker over ~130 sentences
    # would be near 0.01 / 0.05.
    assert overall["p_at_1"] >= 0.4
    assert overall["r_at_5"] >= 0.8
    assert overall["mrr"] >= 0.5
    assert overall["citation_recall"] >= 0.3


def test_cli_eval_table_and_limit(slice_file, tmp_path, capsys):
    assert main(["eval", str(slice_file), "--limit", "3", "--index", str(tmp_path / "i")]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:5] == ["source", "n", "P@1", "R@5", "MRR"]
    assert lines[2].split()[:2] == ["overall", "3"]


def test_unanswerable_mostly_refuses(slice_assistant, slice_file):
    report = ev.evaluate_unanswerable(slice_assistant, ev.load_items(slice_file))
    assert report["mode"] == "unanswerable"
    assert report["overall"]["n"] == 3 * PER_SOURCE
    assert report["overall"]["false_answer_rate"] <= 0.34
    # The filter is undone afterwards: the same question finds its own document again.
    assert slice_assistant.retriever.exclude_paths == frozenset()


def test_withheld_document_is_never_cited(slice_assistant, slice_file):
    item = ev.load_items(slice_file)[0]
    slice_assistant.retriever.exclude_paths = frozenset({item.doc_id})
    try:
        hits = slice_assistant.retrieve(item.question, 50)
    finally:
        slice_assistant.retriever.exclude_paths = frozenset()
    assert hits and all(h.sentence.path != item.doc_id for h in hits)
    assert slice_assistant.retrieve(item.question, 1)[0].sentence.path == item.doc_id


def test_broken_ranker_falls_below_the_floor(slice_assistant, slice_file):
    items = ev.load_items(slice_file)
    good = ev.evaluate(slice_assistant, items)["overall"]
    slice_assistant.retriever.weights = -ranker().weights
    try:
        bad = ev.evaluate(slice_assistant, items)["overall"]
    finally:
        slice_assistant.retriever.weights = ranker().weights
    assert good["p_at_1"] >= 0.4
    assert bad["p_at_1"] < 0.2 and bad["r_at_5"] < good["r_at_5"]


def _sentence(path: str, start: int, end: int) -> Sentence:
    return Sentence("x", "d", path, 0, start, end, 1, "t" * (end - start), "h")


def test_match_needs_half_of_the_shorter_span_in_the_same_document():
    gold = [(100, 200)]
    assert ev.sentence_matches(_sentence("doc", 100, 200), "doc", gold)
    assert ev.sentence_matches(_sentence("doc", 150, 260), "doc", gold)  # 50 of 100
    assert not ev.sentence_matches(_sentence("doc", 151, 260), "doc", gold)  # 49 of 100
    assert ev.sentence_matches(_sentence("doc", 190, 200), "doc", gold)  # shorter inside
    assert not ev.sentence_matches(_sentence("other", 100, 200), "doc", gold)
    assert not ev.sentence_matches(_sentence("doc", 200, 300), "doc", gold)


def test_bad_file_is_a_user_error(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "x"}\n', encoding="utf-8")
    assert main(["eval", str(bad)]) == 2
    assert "not an evaluation record" in capsys.readouterr().err


def test_per_document_mode_asks_each_question_against_its_document_alone(
        slice_assistant, slice_file, tmp_path):
    items = ev.load_items(slice_file)[:6]
    solo = Assistant(make_settings(tmp_path, collection="solo"),
                     encoder=slice_assistant.encoder)
    try:
        for doc, doc_items, one in ev.per_document(slice_assistant, items, solo):
            assert set(one.index.documents()) == {doc}
            assert one.index.count() == slice_assistant.index.document(doc).n_sentences
            assert all(h.sentence.path == doc
                       for h in one.retrieve(doc_items[0].question, 50))
        found: dict[str, bool] = {}
        report = ev.evaluate_per_document(slice_assistant, items, solo, found=found)
    finally:
        solo.close()
    assert report["mode"] == "per-document" and report["overall"]["n"] == len(items)
    assert report["documents"] == len({it.doc_id for it in items})
    assert set(found) == {it.id for it in items}
    # with only its own document in the index, the ranking can only get easier
    assert report["overall"]["r_at_5"] >= 0.8
    assert ev.agreement(found, found) == 1.0
    # the collection's index is untouched
    assert slice_assistant.index.documents().keys() >= {it.doc_id for it in items}


def test_holds_answer_matches_whole_words_case_and_spacing_ignored():
    assert ev.holds_answer("It was built by Robert  Stevenson in 1810.", ("robert stevenson",))
    assert ev.holds_answer("The score was 24–10.", ("24–10", "x"))
    assert not ev.holds_answer("It took 15 years.", ("5",))  # a digit inside a number
    assert not ev.holds_answer("Stevensons built it.", ("Stevenson",))
    assert not ev.holds_answer("Anything at all.", ())
    assert ev._answers("Robert Stevenson") == ("Robert Stevenson",)  # one string, not letters
    assert ev._answers(["five", " ", 5]) == ("five", "5") and ev._answers(None) == ()


def test_a_false_answer_citing_the_gold_answer_elsewhere_is_counted_apart(tmp_path, encoder):
    """Two documents state the same fact: with the question's own document withheld, the other
    one answers it, a false answer by the rule, reported as citing a gold answer."""
    rows = [
        {"id": "t:1", "doc_id": "a.txt", "title": "Bell Rock", "question":
         "Who built the Bell Rock Lighthouse?", "answers": ["Robert Stevenson"],
         "document": "The Bell Rock Lighthouse was built by Robert Stevenson. It stands on a "
                     "reef off the coast of Angus.",
         "gold_sentences": ["The Bell Rock Lighthouse was built by Robert Stevenson."]},
        {"id": "t:2", "doc_id": "b.txt", "title": "Scottish lighthouses", "question":
         "How many hearts does an octopus have?", "answers": ["three"],
         "document": "Robert Stevenson built the Bell Rock Lighthouse between 1807 and 1810. "
                     "He designed many other Scottish lighthouses.",
         "gold_sentences": ["He designed many other Scottish lighthouses."]},
    ]
    path = tmp_path / "two.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    items = ev.load_items(path)
    assert items[0].answers == ("Robert Stevenson",)
    assistant = Assistant(make_settings(tmp_path, collection=ev.collection_for(path)),
                          encoder=encoder)
    try:
        ev.index_items(assistant, items)
        report = ev.evaluate_unanswerable(assistant, items)
    finally:
        assistant.close()
    overall = report["overall"]
    assert overall["false_answer_rate"] == 0.5  # the lighthouse question, from b.txt
    assert overall["holding_gold_answer_rate"] == 0.5
    table = ev.format_table(report)
    assert "citing a gold answer" in table.splitlines()[0]
