"""One text module: its stems are the terms the catalog's FTS5 index stores (checked against a
real catalog's vocabulary), so document frequencies and overlap features count the same words."""

from __future__ import annotations

import json

import pytest

from assistant.catalog import Catalog, DocRecord
from assistant.documents import make_document
from assistant.sentences import split_document
from assistant.text import (
    STOP_WORDS,
    TOKEN,
    content_terms,
    content_words,
    lexical_query,
    stem,
    tokens,
)
from tests.conftest import EVAL_DEV

WORDS = (
    "running runs ran stopped stopping stops making makes made games gaming studies studied "
    "studying agreed agreement generalizations relational conditional happiness hopeful "
    "electricity formality sensitivity probate rating controllable rolling filing feed "
    "plastered motoring sing united abilities caresses ponies ties caress cats possibly sky "
    "flying dying hopping tanned falling hissing fizzed failing conflated troubled sized "
    "Broncos Genghis Khan's U.S. 1998 3.5 co-operate e-mail IBRIX x² 2½ "
    "Café naïve Zürich Straße façade résumé Ørsted Łódź Ελληνικά Москва 東京 cafe\u0301s "
    "señores œuvre"
)


def _catalog_of(tmp_path, texts: list[str]) -> Catalog:
    """A real catalog holding `texts`, one document each, written the way ingest writes."""
    catalog = Catalog(tmp_path / "catalog.sqlite3")
    for n, text in enumerate(texts):
        doc = make_document(path=f"doc{n}.txt", text=text, title=f"doc {n}")
        sentences = split_document(doc)
        catalog.replace_document(DocRecord(
            path=doc.path, doc_id=sentences[0].doc_id, content_hash=doc.content_hash,
            title=doc.title, text=doc.text, n_sentences=len(sentences)), sentences)
    return catalog


def _stored_terms(catalog: Catalog) -> set[str]:
    db = catalog._db  # the index's own vocabulary, as FTS5 wrote it
    db.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.v USING fts5vocab(main, fts, row)")
    return {row[0] for row in db.execute("SELECT term FROM temp.v")}


def test_stems_are_what_fts5_stores(tmp_path):
    catalog = _catalog_of(tmp_path, [WORDS + "."])
    try:
        stored = _stored_terms(catalog)
        mine = {stem(t) for t in TOKEN.findall(WORDS)}
        assert mine == stored, (sorted(mine - stored), sorted(stored - mine))
    finally:
        catalog.close()
    # the examples of issue 13: the light stemmer made "runn", "stopp", "mak" (df 0)
    assert [stem(w) for w in "running stopped making games studies".split()] == [
        "run", "stop", "make", "game", "studi"]


def test_stems_agree_with_fts5_over_the_dev_vocabulary(tmp_path):
    if not EVAL_DEV.is_file():
        pytest.skip("no shared/eval/dev.jsonl")
    texts = {json.loads(line)["document"] for line in EVAL_DEV.read_text("utf-8").splitlines()
             if line.strip()}
    words = sorted({w for text in texts for w in TOKEN.findall(text)})
    catalog = _catalog_of(tmp_path, [" ".join(words) + "."])
    try:
        stored = _stored_terms(catalog)
    finally:
        catalog.close()
    mine = {stem(w) for w in words}
    assert len(mine) > 5000
    assert mine == stored, (sorted(mine - stored)[:20], sorted(stored - mine)[:20])


def test_document_frequencies_count_every_form_of_a_word(tmp_path):
    catalog = _catalog_of(tmp_path, [
        "The runners were running late. She runs every day. Nobody ran.",
        "The bus stopped. Stopping is hard. He agreed to the terms.",
    ])
    try:
        counts = catalog.term_counts(sorted(content_terms("running stopped agreed nothing")))
        # stems as the retriever makes them find the sentences FTS5 indexed them under
        assert counts == {"run": 2, "stop": 2, "agre": 1, "noth": 0}
        assert catalog.term_counts(["runner"]) == {"runner": 1}  # no second stemming
    finally:
        catalog.close()


def test_content_terms_and_the_lexical_query_leave_out_stop_words():
    assert content_terms("When were the Broncos playing games?") == {"bronco", "plai", "game"}
    assert content_terms("the countries") == content_terms("a country")
    assert content_words("What is the capital of France?") == ["capital", "france"]
    assert content_words("what is it") == ["what", "is", "it"]  # nothing but stop words
    assert lexical_query("Who won the 1998 World Cup?") == "won 1998 world cup"
    assert tokens("Foo_bar Café") == ["foo", "bar", "cafe"]
    assert {"the", "of", "which", "many"} <= STOP_WORDS


def test_a_read_only_catalog_counts_terms_and_writes_nothing(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    _catalog_of(folder, ["The runners were running late."]).close()
    before = sorted(p.name for p in folder.iterdir())
    path = folder / "catalog.sqlite3"
    path.chmod(0o444)
    folder.chmod(0o555)
    try:
        catalog = Catalog(path)
        assert catalog.read_only
        assert catalog.term_counts(["run", "late", "early"]) == {"run": 1, "late": 1, "early": 0}
        catalog.close()
        assert sorted(p.name for p in folder.iterdir()) == before
    finally:
        folder.chmod(0o755)
        path.chmod(0o644)
