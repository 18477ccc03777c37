"""Hybrid retrieval: Chroma's vector search and BM25 over the same sentences, fused."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from assistant.sentences import Sentence
from assistant.store import SentenceIndex

CANDIDATES = 50


@dataclass
class Hit:
    """A retrieved sentence and why: its fused score and the two signals behind it."""

    sentence: Sentence
    score: float
    vector: float = 0.0
    lexical: float = 0.0


@dataclass
class Retrieval:
    hits: list[Hit]
    timings: dict[str, float] = field(default_factory=dict)


class HybridRetriever:
    """Ranks sentences for a question. `encoder` turns text into a unit vector."""

    def __init__(self, index: SentenceIndex, encoder, lexical_weight: float = 0.25) -> None:
        self.index = index
        self.encoder = encoder
        self.lexical_weight = lexical_weight

    def search(self, question: str, k: int) -> Retrieval:
        t0 = time.perf_counter()
        vector = self.encoder.encode_one(question)
        t1 = time.perf_counter()
        dense = self.index.vector_search(vector, max(k, CANDIDATES))
        t2 = time.perf_counter()
        sparse = self.index.lexical_search(question, max(k, CANDIDATES))
        t3 = time.perf_counter()
        hits: dict[str, Hit] = {}
        for sentence, sim in dense:
            hits[sentence.id] = Hit(sentence, 0.0, vector=sim)
        top_lex = max((s for _, s in sparse), default=0.0) or 1.0
        for sentence, score in sparse:
            hit = hits.setdefault(sentence.id, Hit(sentence, 0.0))
            hit.lexical = score / top_lex
        missing = [h for h in hits.values() if h.vector == 0.0]
        if missing:  # lexical-only candidates still need a cosine for a fair fusion
            stored = self.index.vectors([h.sentence.id for h in missing])
            for h in missing:
                if h.sentence.id in stored:
                    h.vector = float(stored[h.sentence.id] @ vector)
        for h in hits.values():
            h.score = h.vector + self.lexical_weight * h.lexical
        ranked = sorted(hits.values(), key=lambda h: h.score, reverse=True)[:k]
        t4 = time.perf_counter()
        return Retrieval(ranked, {
            "embed_ms": (t1 - t0) * 1000, "vector_ms": (t2 - t1) * 1000,
            "lexical_ms": (t3 - t2) * 1000, "fuse_ms": (t4 - t3) * 1000,
        })
