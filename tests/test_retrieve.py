"""The hybrid retriever on a real store (real MiniLM vectors in Chroma, FTS5 BM25) holding
four documents of the dev set."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistant import evaluate as ev
from assistant import rerank
from assistant.answer import FOUND_THRESHOLD
from assistant.embedding import TOKEN_DIMS, unpack_tokens
from assistant.rerank import passage
from assistant.retrieve import FEATURES, HybridRetriever, ranker
from assistant.service import Assistant
from assistant.text import content_terms
from tests.conftest import EVAL_DEV, make_settings

N_DOCS = 4


@pytest.fixture(scope="module")
def small(tmp_path_factory, encoder):
    """An Assistant over the first four documents of dev.jsonl, and their questions."""
    if not EVAL_DEV.is_file():
        pytest.skip("no shared/eval/dev.jsonl")
    items, docs = [], []
    for line in EVAL_DEV.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["doc_id"] not in docs:
            if len(docs) == N_DOCS:
                break
            docs.append(row["doc_id"])
        items.append(row)
    path = tmp_path_factory.mktemp("retrieve") / "four.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in items), encoding="utf-8")
    loaded = ev.load_items(path)
    assistant = Assistant(make_settings(tmp_path_factory.mktemp("store")), encoder=encoder)
    ev.index_items(assistant, loaded)
    yield assistant, loaded
    assistant.close()


def test_hits_are_ranked_probabilities_with_their_signals(small):
    assistant, items = small
    retrieval = assistant.retriever.search(items[0].question, 8)
    hits = retrieval.hits
    assert len(hits) == 8
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 < s < 1.0 for s in scores)
    assert all(-1.0 <= h.vector <= 1.0 and 0.0 <= h.lexical <= 1.0 for h in hits)
    assert {"embed_ms", "vector_ms", "lexical_ms", "fuse_ms"} <= set(retrieval.timings)


def test_questions_find_their_own_document_first(small):
    assistant, items = small
    right = sum(assistant.retrieve(it.question, 1)[0].sentence.path == it.doc_id
                for it in items)
    assert right >= 0.8 * len(items)


def test_features_match_the_stored_vectors_and_the_document_maxima(small):
    assistant, items = small
    retriever = assistant.retriever
    question = items[1].question
    cands = retriever.candidates_for(question)
    x = cands.features
    assert x.shape == (len(cands.sentences), len(FEATURES))
    qvec = assistant.encoder.encode_one(question)
    stored = assistant.index.vectors([s.id for s in cands.sentences])
    cos = np.array([stored[s.id] @ qvec for s in cands.sentences])
    assert np.allclose(x[:, 0], cos, atol=1e-3)  # lexical-only candidates get a real cosine
    for path in {s.path for s in cands.sentences}:
        rows = [i for i, s in enumerate(cands.sentences) if s.path == path]
        assert np.isclose(x[rows, 2], x[rows, 0].max()).all()  # dmax
    assert x[:, 1].max() == pytest.approx(1.0)  # BM25 is normalised by the question's best
    assert x[np.argmax(x[:, 0]), 6] == pytest.approx(1.0)  # the best cosine has rank 1


def test_off_topic_question_scores_low(small):
    assistant, _ = small
    hits = assistant.retrieve("What is the boiling point of liquid nitrogen in kelvin?", 3)
    on_topic = assistant.retrieve("Who won Super Bowl 50?", 3)
    assert hits[0].score < FOUND_THRESHOLD <= on_topic[0].score


def test_content_terms_drop_stop_words_and_stem_as_the_index_does():
    assert content_terms("When were the Broncos playing games?") == {"bronco", "plai", "game"}
    assert content_terms("a game was played") == {"game", "plai"}
    assert content_terms("the countries") == content_terms("a country")


def test_token_states_come_from_the_same_pass_and_are_kept_at_ingest(small, encoder):
    assistant, _ = small
    sentences = assistant.index.catalog.all_sentences()[:5]
    texts = [s.text for s in sentences]
    vectors, packed = encoder.encode_with_tokens(texts)
    assert np.allclose(vectors, encoder.encode(texts), atol=1e-6)
    stored = assistant.index.token_states([s.id for s in sentences])
    assert set(stored) == {s.id for s in sentences}
    for s, blob in zip(sentences, packed, strict=True):
        states = unpack_tokens(blob)
        pieces = len(encoder._tokenizer.encode(s.text).ids) - 2  # without [CLS] and [SEP]
        assert states.shape == (pieces, TOKEN_DIMS)
        assert np.allclose(np.linalg.norm(states, axis=1), 1.0, atol=0.02)
        assert np.abs(unpack_tokens(stored[s.id]) - states).max() <= 1 / 127 + 1e-6


def test_alignment_rewards_the_sentence_that_holds_the_question_words(small, encoder):
    assistant, _ = small
    retriever = assistant.retriever
    question = "Who won Super Bowl 50?"
    cands = retriever.candidates_for(question)
    own = cands.features[:, FEATURES.index("align")]
    ctx = cands.features[:, FEATURES.index("align_ctx")]
    align = dict(zip((s.text for s in cands.sentences), own, strict=True))
    holder = max(align, key=align.get)
    assert "Super Bowl 50" in holder
    assert 0.0 < align[holder] <= 1.0
    assert (ctx >= own - 1e-9).all()  # neighbours can only add matches


def test_lead_favours_first_sentences_for_short_questions(small):
    assistant, _ = small
    retriever = assistant.retriever
    col = FEATURES.index("lead")
    short = retriever.candidates_for("Who won Super Bowl 50?")
    long = retriever.candidates_for(
        "Which team did the Carolina Panthers defeat in the NFC Championship Game that year?")
    for cands, value in ((short, 4 / 5), (long, 4 / 14)):
        lead = cands.features[:, col]
        first = np.array([s.index == 0 for s in cands.sentences])
        assert first.any()
        assert np.allclose(lead[first], value) and not lead[~first].any()


def test_missing_token_states_are_computed_and_rank_the_same(small, encoder):
    """An index written before token states were kept (or synced from a Chroma server by
    another machine) has none: the retriever computes them and ranks exactly the same."""
    assistant, items = small
    question = items[2].question
    before = {h.sentence.id: h.score for h in assistant.retrieve(question, 8)}
    other = Assistant(assistant.settings, encoder=encoder)
    with other.index.catalog._db:
        other.index.catalog._db.execute("UPDATE sentences SET tokens = NULL")
    try:
        assert other.index.token_states(list(before)) == {}
        after = {h.sentence.id: h.score for h in other.retrieve(question, 3)}
        # the same up to int8 rounding (the model's activations are quantized per batch)
        assert set(after) <= set(before)
        assert all(abs(after[i] - before[i]) < 0.02 for i in after)
        assert other.retriever._token_cache  # computed, and kept for the next question
    finally:
        other.close()
        # put them back for the other tests of this module
        sentences = assistant.index.catalog.all_sentences()
        _, packed = encoder.encode_with_tokens([s.text for s in sentences])
        with assistant.index.catalog._db:
            assistant.index.catalog._db.executemany(
                "UPDATE sentences SET tokens=? WHERE id=?",
                [(b, s.id) for s, b in zip(sentences, packed, strict=True)])


def test_a_catalog_without_the_tokens_column_is_upgraded(tmp_path):
    import sqlite3

    from assistant.catalog import Catalog

    path = tmp_path / "catalog.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE sentences (rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, "
               "doc_id TEXT NOT NULL, path TEXT NOT NULL, idx INTEGER NOT NULL, "
               "char_start INTEGER NOT NULL, char_end INTEGER NOT NULL, line INTEGER NOT NULL, "
               "text TEXT NOT NULL, doc_hash TEXT NOT NULL, title TEXT NOT NULL)")
    db.commit()
    db.close()
    catalog = Catalog(path)
    columns = {r[1] for r in catalog._db.execute("PRAGMA table_info(sentences)")}
    assert {"vector", "tokens"} <= columns
    assert catalog.token_states(["nothing"]) == {}
    catalog.close()


def test_token_state_cache_is_bounded(small, monkeypatch):
    assistant, items = small
    monkeypatch.setattr("assistant.retrieve.TOKEN_CACHE", 5)
    retriever = assistant.retriever
    assert retriever.search(items[0].question, 3).hits
    retriever._token_cache["sentinel"] = np.zeros((1, TOKEN_DIMS), np.float32)
    hits = retriever.search(items[1].question, 3).hits  # over the bound: cleared, refilled
    assert "sentinel" not in retriever._token_cache
    assert hits[0].sentence.id in retriever._token_cache


BASIL = "Basil grows well next to tomatoes. It likes warmth.\n"


def _store_of(tmp_path, encoder, files: dict[str, str]) -> Assistant:
    """An Assistant over a fresh store holding the given files (name: text)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    for name, text in files.items():
        (docs / name).write_text(text, encoding="utf-8")
    assistant = Assistant(make_settings(tmp_path / "store"), encoder=encoder)
    with assistant.index.writing():
        assistant.ingestor().ingest_paths([docs], max_bytes=2**20)
    return assistant


def test_opening_sentence_is_the_one_after_a_markdown_heading(tmp_path, encoder):
    assistant = _store_of(tmp_path, encoder, {
        "notes.md": "# Garden notes\n\nTomatoes need full sun and regular watering. They "
                    "ripen in late summer.\n",
        "plain.txt": BASIL})
    try:
        cands = assistant.retriever.candidates_for("What do tomatoes need?")
        by_text = {s.text: row for s, row in zip(cands.sentences, cands.features, strict=True)}
        first, lead = FEATURES.index("first"), FEATURES.index("lead")
        opening = {t for t, row in by_text.items() if row[first] == 1.0}
        assert "Tomatoes need full sun and regular watering." in opening
        assert "Basil grows well next to tomatoes." in opening
        assert not any(t.startswith("#") for t in opening)
        assert all(by_text[t][lead] == pytest.approx(1.0) for t in opening)  # 4 words
    finally:
        assistant.close()


def test_align_local_weighs_the_words_that_set_a_sentence_apart_in_its_document(tmp_path,
                                                                               encoder):
    """Every sentence of the article names its topic; only one says who won: within the
    document "won" weighs much more than the topic words, and that sentence aligns best."""
    assistant = _store_of(tmp_path, encoder, {
        "cup.txt": "The 1998 World Cup was held in France from June to July. "
                   "Thirty-two teams played at the 1998 World Cup. "
                   "The final of the 1998 World Cup took place in Saint-Denis. "
                   "France won the 1998 World Cup, beating Brazil 3-0 in the final.\n",
        "other.txt": BASIL})
    try:
        retriever = assistant.retriever
        question = "Who won the 1998 World Cup?"
        _, _, words = encoder.encode_question(question)
        cands = retriever.candidates_for(question)
        cup = [i for i, s in enumerate(cands.sentences) if s.path.endswith("cup.txt")]
        sentence = cands.sentences[cup[0]]
        weights = retriever._local_token_weights(words, np.ones(len(words)), sentence)
        by_word = {w.lower(): wt for w, wt in zip(words, weights, strict=True)}
        assert by_word["won"] > 10 * by_word["cup"] > 0  # "cup" is in all four sentences
        assert by_word["who"] == 0.0  # a stop word
        col = FEATURES.index("align_local")
        local = {cands.sentences[i].text: cands.features[i, col] for i in cup}
        assert max(local, key=local.get).startswith("France won the 1998 World Cup")
        assert all(0.0 < v <= 1.0 for v in local.values())
        other = [i for i, s in enumerate(cands.sentences) if s.path.endswith("other.txt")]
        assert all(cands.features[i, col] < min(local.values()) for i in other)
    finally:
        assistant.close()


def test_late_chunked_vectors_carry_their_neighbours(encoder):
    """Ingest's vectors: each sentence pooled from its document's chunk (so "they" knows who),
    token states from the sentence alone, and no chunk across two documents."""
    panthers = ["The Carolina Panthers finished the regular season with a 15–1 record.",
                "They defeated the Arizona Cardinals 49–15 in the NFC Championship Game."]
    basil = ["Basil grows well next to tomatoes.", "It likes warmth."]
    vectors, packed = encoder.encode_documents([panthers, basil])
    alone, alone_packed = encoder.encode_with_tokens(panthers + basil)
    assert vectors.shape == (4, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert packed == alone_packed
    q = encoder.encode_one("Who did the Carolina Panthers defeat in the NFC Championship Game?")
    assert vectors[1] @ q > alone[1] @ q + 0.1  # "they" = the Panthers
    assert vectors[1] @ q > vectors[0] @ q  # and it still says whom they defeated
    by_itself, _ = encoder.encode_documents([panthers])
    assert np.allclose(by_itself, vectors[:2], atol=1e-4)  # the other document changed nothing
    # a document of one sentence: its own tokens, without [CLS] and [SEP]
    one, _ = encoder.encode_documents([basil[:1]])
    assert one[0] @ alone[2] > 0.98


def test_chunks_hold_at_most_chunk_tokens(encoder, monkeypatch):
    """Sentences are chunked greedily up to CHUNK_TOKENS word pieces; a longer sentence is a
    chunk of its own."""
    seen: list[int] = []
    real = encoder._hidden

    def spy(inputs):
        seen.extend(len(i) for i in inputs)
        return real(inputs)

    monkeypatch.setattr(encoder, "_hidden", spy)
    monkeypatch.setattr("assistant.embedding.CHUNK_TOKENS", 12)
    doc = ["One two three.", "Four five six.", "Seven eight nine.",
           "A much longer sentence that has far more than twelve word pieces in it alone."]
    encoder.encode_documents([doc])
    pieces = [len(encoder._tokenizer.encode(t).ids) - 2 for t in doc]
    chunk_lengths = seen[len(doc):]  # after the pass over the sentences alone
    assert sum(chunk_lengths) == sum(pieces) + 2 * len(chunk_lengths)
    assert pieces[-1] > 12 and pieces[-1] + 2 in chunk_lengths
    assert all(n - 2 <= 12 for n in chunk_lengths if n != pieces[-1] + 2)
    assert len(chunk_lengths) < len(doc)  # short sentences were put together


class _Recording:
    """The real cross-encoder, recording the passages it is given."""

    def __init__(self) -> None:
        self.model = rerank.shared()
        self.passages: list[str] = []

    def score(self, question: str, passages: list[str]) -> np.ndarray:
        self.passages += passages
        return self.model.score(question, passages)


def test_the_cross_encoder_reads_the_first_stage_best_with_their_context(tmp_path, encoder):
    assistant = _store_of(tmp_path, encoder, {
        "khan.txt": "Genghis Khan was the founder of the Mongol Empire. He united the nomadic "
                    "tribes of Northeast Asia. Before Genghis Khan died, he assigned Ögedei Khan "
                    "as his successor. He died in 1227 after defeating the Western Xia.\n",
        "other.txt": BASIL})
    try:
        recording = _Recording()
        retriever = HybridRetriever(assistant.index, encoder, reranker=recording)
        cands = retriever.candidates_for("In what year did Genghis Khan die?")
        x = cands.features
        first = x[:, :FEATURES.index("ce")] @ ranker().first_stage
        top = np.argsort(-first, kind="stable")[:ranker().rerank_top]
        ce, gap = x[:, FEATURES.index("ce")], x[:, FEATURES.index("ce_gap")]
        assert len(recording.passages) == ranker().rerank_top == len(top)
        assert gap[top].max() == 0.0 and (gap[top] <= 0).all()
        rest = np.setdiff1d(np.arange(len(x)), top)
        assert (gap[rest] == 0).all() and np.allclose(ce[rest], ce[top].min())
        died = "He died in 1227 after defeating the Western Xia."
        title = cands.sentences[0].title
        succ = "Before Genghis Khan died, he assigned Ögedei Khan as his successor."
        assert passage(died, title, succ) in recording.passages  # read after its predecessor
        at = {s.text: i for i, s in enumerate(cands.sentences)}
        assert at[succ] in top and at[died] in top
        # both read: the one that says the year gets the higher logit, which narrows the
        # first stage's preference for the sentence that repeats the question's words
        assert ce[at[died]] > ce[at[succ]]
        final = x @ ranker().weights
        assert final[at[succ]] - final[at[died]] < first[at[succ]] - first[at[died]]
        opening = [p for p in recording.passages if p.startswith("Genghis Khan was")]
        assert all(p == passage("Genghis Khan was the founder of the Mongol Empire.", title, "")
                   for p in opening)  # the first sentence has no sentence before it
    finally:
        assistant.close()
