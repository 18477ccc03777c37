"""Hybrid retrieval: Chroma's vector search and BM25 over the same sentences, ranked by a small
linear model over per-sentence and per-document features (the `FEATURES`, described where they
are defined), in two stages: the first chooses which candidates the cross-encoder reads.

Both stages' weights are data, by feature name, with their provenance: `assistant/data/
ranker.json` (`assistant/params.py`), written by `benchmarks/fit_ranker.py` (a listwise softmax
fit, cross-validated by document). `Hit.score` is the model's calibrated probability that the
sentence answers the question (a logistic fit of the linear score), so thresholds downstream
are probabilities. What each feature and each fit measured: docs/ranking-experiments.md.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from assistant.embedding import unpack_tokens
from assistant.params import RankerParams, first_stage_features, load_ranker
from assistant.rerank import ANSWER_CHECK_FILE, CrossEncoder, passage, shared
from assistant.sentences import sentence_id
from assistant.store import SentenceIndex
from assistant.text import content_terms, lexical_query, tokens
from assistant.types import Hit, Sentence

CANDIDATES = 50

LOCAL_DOCS = 10
SIGNAL_HITS = 3
"""How many of the best hits carry the answerability signals (`HybridRetriever._signals`)."""

# Candidates are the union of the nearest sentences by cosine and the best by BM25. Each gets
# features that are all computable from the question and the candidate set:
#
#   cos     cosine of question and sentence (MiniLM unit vectors)
#   lex     the sentence's BM25 score divided by the best BM25 score for this question
#   dmax    the best cosine among the candidates from the same document (document evidence)
#   dlex    the best `lex` among the candidates from the same document
#   overlap IDF-weighted share of the question's content words that the sentence contains
#   first   1 for the opening sentence of a document (its first; its second after a Markdown
#           heading): definitions, WikiQA-style answers
#   rcos    1/log2(rank by cosine + 2)
#   rlex    1/log2(rank by BM25 + 2), 0 when the sentence has no BM25 match
#   local   overlap weighted by IDF *within the sentence's document*: words the whole document
#           repeats (its topic) count little, words few of its sentences use count much
#   rare    share of the question's words found in only one or two sentences of the document
#           that this sentence contains (0/0 = 0); both computed for the LOCAL_DOCS best documents
#   align   token alignment (late interaction, as BERTScore's recall): for each token of the
#           question's content words, its best cosine with any token of the sentence (MiniLM's
#           token states, see embedding.py), averaged with the words' IDF as weights. It credits
#           a sentence for paraphrases and related words that exact-word features miss, and for
#           answering each part of the question rather than its gist
#   align_ctx  the same, where a question token may also be matched in the sentence before or
#           after at CONTEXT_DISCOUNT of its cosine
#   align_local  `align` with each question word weighted by its IDF *within the sentence's
#           document* (as `local`): matching the words that set one sentence of a document apart
#           from its others (the "won" of "who won the 1998 World Cup" in the article about it)
#           counts more than matching the document's topic, which its every sentence shares
#   lead    for a document's opening sentence, min(1, LEAD_WORDS / words in the question): a short
#           question ("what is IBRIX") names a topic rather than a detail, and documents state
#           their topic first
#   ce      the cross-encoder's logit (`rerank.py`: question and sentence read together, with the
#           sentence's title and the sentence before it) for the first stage's `rerank_top` best
#           candidates, the least of those for the rest; the first stage is a linear score of
#           the features above with weights of its own
#   ce_gap  the logit minus the best of those logits (0 for the rest)
FEATURES = ("cos", "lex", "dmax", "dlex", "overlap", "first", "rcos", "rlex", "local", "rare",
            "align", "align_ctx", "lead", "align_local", "ce", "ce_gap")
CONTEXT_DISCOUNT = 0.7
LEAD_WORDS = 4
TOKEN_CACHE = 10_000
"""align_ctx: a neighbour's token matches count at this fraction (a "he" that names the
question's subject in the sentence before; the answer half of a two-sentence statement).
TOKEN_CACHE: how many sentences' token states the retriever keeps in memory (a question needs
those of ~200: its candidates and their neighbours)."""
_NO_TOKENS = np.zeros((0, 1), dtype=np.float32)


@dataclass
class Retrieval:
    hits: list[Hit]
    timings: dict[str, float] = field(default_factory=dict)


@dataclass
class Candidates:
    """The candidate sentences of one question and their feature matrix (rows = sentences)."""

    sentences: list[Sentence]
    features: np.ndarray
    timings: dict[str, float] = field(default_factory=dict)


def _is_heading(text: str) -> bool:
    return text.lstrip().startswith("#")


def _rank_feature(values: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    out = 1.0 / np.log2(ranks + 2.0)
    if present is not None:
        out = np.where(present, out, 0.0)
    return out


def ranker() -> RankerParams:
    """The shipped ranker's weights for FEATURES (`assistant/data/ranker.json`, by name)."""
    return load_ranker(FEATURES)


def rerank_top(first: np.ndarray, params: RankerParams | None = None) -> np.ndarray:
    """Rows of the first stage's best `rerank_top` candidates, best first (`first`: the
    features before "ce")."""
    params = params or ranker()
    return np.argsort(-(first @ params.first_stage), kind="stable")[:params.rerank_top]


def ce_columns(n: int, top: np.ndarray, logits: np.ndarray) -> np.ndarray:
    """The "ce" and "ce_gap" columns of `n` candidates, given the logits of rows `top`."""
    out = np.zeros((n, 2))
    out[:, 0] = logits.min()
    out[top, 0] = logits
    out[top, 1] = logits - logits.max()
    return out


class HybridRetriever:
    """Ranks sentences for a question. `encoder` turns text into a unit vector.

    `exclude_paths` leaves whole documents out of every search (the evaluator uses it to ask
    each question with its own document withheld, without re-indexing)."""

    def __init__(self, index: SentenceIndex, encoder, weights: np.ndarray | None = None,
                 calibration: tuple[float, float] | None = None,
                 candidates: int = CANDIDATES, reranker: CrossEncoder | None = None,
                 params: RankerParams | None = None) -> None:
        self.index = index
        self.encoder = encoder
        self._reranker = reranker
        self._answer_check: CrossEncoder | None = None
        self.params = params or ranker()
        self.weights = (self.params.weights if weights is None
                        else np.asarray(weights, dtype=np.float64))
        self.calibration = self.params.calibration if calibration is None else calibration
        self.candidates = candidates
        self.exclude_paths: frozenset[str] = frozenset()
        self._df_cache: dict[str, int] = {}
        self._df_count: tuple[int, int] = (-1, -1)
        self._doc_terms: dict[tuple[str, str], tuple[int, Counter]] = {}
        self._token_cache: dict[str, np.ndarray] = {}

    @property
    def reranker(self) -> CrossEncoder:
        """The cross-encoder (the process's shared one unless given), loaded on first use."""
        if self._reranker is None:
            self._reranker = shared()
        return self._reranker

    @property
    def answer_check(self) -> CrossEncoder:
        """The cross-encoder that reads the best hit for `answerability.py` (`rerank.py`)."""
        if self._answer_check is None:
            self._answer_check = shared(ANSWER_CHECK_FILE)
        return self._answer_check

    # -- features --------------------------------------------------------------------------
    def _idf(self, terms: set[str]) -> dict[str, float]:
        total = self.index.count()
        # a re-indexed document can change the counts and keep the total
        state = (total, self.index.generation())
        if state != self._df_count:
            self._df_cache.clear()
            self._df_count = state
        missing = [t for t in terms if t not in self._df_cache]
        if missing:
            self._df_cache.update(self.index.term_counts(missing))
        return {t: math.log((total + 1) / (self._df_cache.get(t, 0) + 0.5)) for t in terms}

    def _document_df(self, path: str, doc_hash: str) -> tuple[int, Counter]:
        """(sentences, in how many of them each content word occurs) for one document."""
        key = (path, doc_hash)
        if key not in self._doc_terms:
            if len(self._doc_terms) > 4096:
                self._doc_terms.clear()
            sents = self.index.document_sentences(path)
            df: Counter = Counter()
            for sent in sents:
                df.update(content_terms(sent.text))
            self._doc_terms[key] = (len(sents), df)
        return self._doc_terms[key]

    def _local_features(self, qterms: set[str], order: list[Sentence],
                        terms: list[set[str]], dmax: dict[str, float]) -> np.ndarray:
        out = np.zeros((len(order), 2))
        if not qterms:
            return out
        top = set(sorted(dmax, key=dmax.get, reverse=True)[:LOCAL_DOCS])
        weights: dict[str, tuple[dict[str, float], float, set[str]]] = {}
        for i, (sent, st) in enumerate(zip(order, terms, strict=True)):
            if sent.path not in top:
                continue
            if sent.path not in weights:
                w = self._local_idf(sent, qterms)
                _, df = self._document_df(sent.path, sent.doc_hash)
                rare = {t for t in qterms if 0 < df.get(t, 0) <= 2}
                weights[sent.path] = (w, sum(w.values()) or 1.0, rare)
            w, total, rare = weights[sent.path]
            found = qterms & st
            out[i, 0] = sum(w[t] for t in found) / total
            out[i, 1] = len(rare & st) / len(rare) if rare else 0.0
        return out

    def _token_states(self, ids: list[str]) -> dict[str, np.ndarray]:
        """Projected token states of the given sentences (empty for ids that name no sentence):
        kept ones from the store, the others (an index written before they were kept,
        or by another machine to a Chroma server) computed now and remembered."""
        if len(self._token_cache) > TOKEN_CACHE:  # ~7 KB each: ~70 MB at most
            self._token_cache.clear()
        need = [i for i in dict.fromkeys(ids) if i not in self._token_cache]
        if need:
            for i, blob in self.index.token_states(need).items():
                self._token_cache[i] = unpack_tokens(blob)
            missing = self.index.sentences([i for i in need if i not in self._token_cache])
            if missing:
                _, packed = self.encoder.encode_with_tokens([s.text for s in missing.values()])
                for i, blob in zip(missing, packed, strict=True):
                    self._token_cache[i] = unpack_tokens(blob)
            for i in need:  # no such sentence (before the first, after the last)
                self._token_cache.setdefault(i, _NO_TOKENS)
        return {i: self._token_cache[i] for i in ids}

    def _alignment(self, qstates: np.ndarray, qweights: np.ndarray, qwords: list[str],
                   sentences: list[Sentence]) -> np.ndarray:
        """(align, align_ctx, align_local) for each sentence; see FEATURES."""
        out = np.zeros((len(sentences), 3))
        total = qweights.sum()
        if not len(qstates) or total <= 0:
            return out
        near = {s.id: [sentence_id(s.doc_id, s.doc_hash, s.index + d) for d in (-1, 1)]
                for s in sentences}
        states = self._token_states([s.id for s in sentences]
                                    + [n for pair in near.values() for n in pair])

        # each question token's best match in each sentence, once per sentence (a candidate
        # is often its neighbour's neighbour)
        best = {sid: (qstates @ st.T).max(axis=1) for sid, st in states.items() if len(st)}
        local: dict[str, tuple[np.ndarray, float]] = {}
        for row, s in enumerate(sentences):
            own = best.get(s.id)
            if own is None:
                continue
            ctx = own
            for n in near[s.id]:
                other = best.get(n)
                if other is not None:
                    ctx = np.maximum(ctx, CONTEXT_DISCOUNT * other)
            if s.path not in local:
                w = self._local_token_weights(qwords, qweights, s)
                local[s.path] = (w, w.sum())
            lw, ltotal = local[s.path]
            out[row] = (own @ qweights / total, ctx @ qweights / total,
                        own @ lw / ltotal if ltotal > 0 else 0.0)
        return out

    def _local_token_weights(self, qwords: list[str], qweights: np.ndarray,
                             sentence: Sentence) -> np.ndarray:
        """Each question token's weight within `sentence`'s document: the IDF of its content
        word among the document's sentences (0 where `qweights` is 0: stop words)."""
        weights = np.zeros(len(qwords))
        for i, word in enumerate(qwords):
            if qweights[i] > 0:
                weights[i] = max(self._local_idf(sentence, content_terms(word)).values(),
                                 default=0.0)
        return weights

    def _local_idf(self, sentence: Sentence, terms: set[str]) -> dict[str, float]:
        """IDF of each term among the sentences of `sentence`'s document."""
        n, df = self._document_df(sentence.path, sentence.doc_hash)
        return {t: math.log((n + 1) / (df.get(t, 0) + 0.5)) for t in terms}

    def _question_weights(self, words: list[str], idf: dict[str, float]) -> np.ndarray:
        """IDF of the content word each question token belongs to; 0 for stop words and
        punctuation (all tokens weigh the same when the question has no content word)."""
        weights = np.zeros(len(words))
        for i, word in enumerate(words):
            terms = content_terms(word)
            weights[i] = max((idf.get(t, 0.0) for t in terms), default=0.0)
        if not weights.any():
            weights[:] = 1.0
        return weights

    def _opening(self, sentences: list[Sentence]) -> np.ndarray:
        """1 for a document's opening sentence: its first, or its second when the first is a
        Markdown heading (a title states no topic sentence of its own)."""
        firsts = {sentence_id(s.doc_id, s.doc_hash, 0) for s in sentences if s.index == 1}
        headed = {i for i, s in self.index.sentences(sorted(firsts)).items()
                  if _is_heading(s.text)} if firsts else set()
        return np.array([
            1.0 if (s.index == 0 and not _is_heading(s.text))
            or (s.index == 1 and sentence_id(s.doc_id, s.doc_hash, 0) in headed) else 0.0
            for s in sentences])

    def candidates_for(self, question: str, k: int = 0) -> Candidates:
        """Candidate sentences for `question` with their features (see FEATURES)."""
        t0 = time.perf_counter()
        qvec, qstates, qwords = self.encoder.encode_question(question)
        t1 = time.perf_counter()
        n = max(k, self.candidates)
        spare = 0
        if self.exclude_paths:
            spare = sum(self.index.document(p).n_sentences if self.index.document(p) else 0
                        for p in self.exclude_paths)
        dense = self.index.vector_search(qvec, n + spare)
        t2 = time.perf_counter()
        sparse = self.index.lexical_search(lexical_query(question), n + spare)
        t3 = time.perf_counter()
        cos: dict[str, float] = {}
        lex: dict[str, float] = {}
        sents: dict[str, Sentence] = {}
        for s, sim in dense:
            if s.path not in self.exclude_paths:
                sents[s.id] = s
                cos[s.id] = sim
        sparse = [(s, sc) for s, sc in sparse if s.path not in self.exclude_paths]
        top_lex = max((sc for _, sc in sparse), default=0.0) or 1.0
        for s, sc in sparse:
            sents.setdefault(s.id, s)
            lex[s.id] = sc / top_lex
        missing = [i for i in sents if i not in cos]
        if missing:  # lexical-only candidates still need a cosine for a fair fusion
            stored = self.index.vectors(missing)
            for i in missing:
                cos[i] = float(stored[i] @ qvec) if i in stored else 0.0
        ids = list(sents)
        order = [sents[i] for i in ids]
        c = np.array([cos[i] for i in ids], dtype=np.float64)
        lx = np.array([lex.get(i, 0.0) for i in ids], dtype=np.float64)
        dmax: dict[str, float] = {}
        dlex: dict[str, float] = {}
        for s, cv, lv in zip(order, c, lx, strict=True):
            dmax[s.path] = max(dmax.get(s.path, -1.0), cv)
            dlex[s.path] = max(dlex.get(s.path, 0.0), lv)
        qterms = content_terms(question)
        idf = self._idf(qterms) if qterms else {}
        qweight = sum(idf.values()) or 1.0
        terms = [content_terms(s.text) for s in order]
        overlap = np.array([sum(idf[t] for t in qterms & st) / qweight for st in terms],
                           dtype=np.float64)
        local = self._local_features(qterms, order, terms, dmax)
        brevity = min(1.0, LEAD_WORDS / max(len(tokens(question)), 1))
        opening = self._opening(order)
        align = self._alignment(qstates, self._question_weights(qwords, idf), qwords, order)
        features = np.column_stack([
            c, lx,
            np.array([dmax[s.path] for s in order]), np.array([dlex[s.path] for s in order]),
            overlap,
            opening,
            _rank_feature(c), _rank_feature(lx, lx > 0), local, align[:, :2],
            brevity * opening, align[:, 2],
        ]) if order else np.zeros((0, len(first_stage_features(FEATURES))))
        t4 = time.perf_counter()
        features = np.column_stack([features, self._rerank(question, order, features)])
        t5 = time.perf_counter()
        return Candidates(order, features, {
            "embed_ms": (t1 - t0) * 1000, "vector_ms": (t2 - t1) * 1000,
            "lexical_ms": (t3 - t2) * 1000, "features_ms": (t4 - t3) * 1000,
            "rerank_ms": (t5 - t4) * 1000,
        })

    def _rerank(self, question: str, order: list[Sentence], first: np.ndarray) -> np.ndarray:
        """The "ce" and "ce_gap" columns: the cross-encoder over the first stage's best
        `rerank_top` candidates, each read with its title and the sentence before it."""
        if not order:
            return np.zeros((0, 2))
        top = rerank_top(first, self.params)
        logits = self.reranker.score(question, self._passages([order[i] for i in top]))
        return ce_columns(len(order), top, logits)

    def _passages(self, chosen: list[Sentence]) -> list[str]:
        """Each sentence as the cross-encoders read it: with its title and the sentence before
        it."""
        before = {sentence_id(s.doc_id, s.doc_hash, s.index - 1): s.id for s in chosen
                  if s.index > 0}
        previous = {before[i]: p.text for i, p in self.index.sentences(sorted(before)).items()}
        return [passage(s.text, s.title or "", previous.get(s.id, "")) for s in chosen]

    def _signals(self, qterms: set[str], ce_best: float, cands: Candidates, row: int,
                 rank: int) -> dict[str, float]:
        """A hit's features by name; the first SIGNAL_HITS also get the signals that involve
        no other document (for `answerability.py`): the best cross-encoder logit of the
        question (`ce_best`), and the share of the question's content words (`qterms`) in the
        sentence and in its document. `search` adds the best hit's `ce_answer`."""
        out = dict(zip(FEATURES, cands.features[row].tolist(), strict=True))
        if rank >= SIGNAL_HITS:
            return out
        sent = cands.sentences[row]
        _, df = self._document_df(sent.path, sent.doc_hash)
        n = len(qterms) or 1
        out["ce_best"] = ce_best
        out["cover"] = len(qterms & content_terms(sent.text)) / n
        out["doc_cover"] = sum(1 for t in qterms if df.get(t, 0)) / n
        return out

    # -- ranking ---------------------------------------------------------------------------
    def score(self, features: np.ndarray) -> np.ndarray:
        """Calibrated probability for each row of `features`."""
        a, b = self.calibration
        return 1.0 / (1.0 + np.exp(-(a * (features @ self.weights) + b)))

    def search(self, question: str, k: int) -> Retrieval:
        cands = self.candidates_for(question, k)
        t0 = time.perf_counter()
        probs = self.score(cands.features)
        order = np.argsort(-probs, kind="stable")[:k]
        qterms = content_terms(question)
        ce_best = float(cands.features[:, FEATURES.index("ce")].max()) if len(order) else 0.0
        hits = [Hit(cands.sentences[i], float(probs[i]), vector=float(cands.features[i, 0]),
                    lexical=float(cands.features[i, 1]),
                    signals=self._signals(qterms, ce_best, cands, i, rank))
                for rank, i in enumerate(order)]
        timings = dict(cands.timings)
        timings["fuse_ms"] = (time.perf_counter() - t0) * 1000 + timings.pop("features_ms")
        if hits:
            t1 = time.perf_counter()
            hits[0].signals["ce_answer"] = self._answer_logit(question, hits[0].sentence)
            timings["answer_check_ms"] = (time.perf_counter() - t1) * 1000
        return Retrieval(hits, timings)

    def _answer_logit(self, question: str, sent: Sentence) -> float:
        """The answer-check model's logit for the best hit alone (`ce_answer`)."""
        return float(self.answer_check.score(question, self._passages([sent]))[0])
