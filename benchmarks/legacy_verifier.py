"""The verifier as it was before issue 17 (cosine + word coverage blend), frozen here so that
benchmarks/bench_verifier.py can print its figures beside the current one's."""

from __future__ import annotations

from assistant.citations import (
    _found,
    _key_terms,
    _letters,
    checkable,
    content_terms,
    novel_coverage,
    number_conflict,
)
from assistant.support import Verdict


class LegacyVerifier:
    """Scores how well cited sentences support a claim, locally: cosine similarity of the MiniLM
    embeddings blended with coverage of the claim's content words, names and numbers by the cited
    text (and the titles of its documents)."""

    # Tuned on claims built from the evaluation questions (benchmarks/bench_verifier.py):
    # >= 90% of true claims supported, >= 95% of claims against another sentence rejected.
    def __init__(self, encoder, threshold: float = 0.45, weak: float = 0.3,
                 cosine_weight: float = 0.5, min_coverage: float = 0.25,
                 novel_min: float = 0.0) -> None:
        self.encoder = encoder
        self.threshold = threshold
        self.weak = weak
        self.cosine_weight = cosine_weight
        self.min_coverage = min_coverage
        self.novel_min = novel_min

    @classmethod
    def question_aware(cls, encoder) -> LegacyVerifier:
        """Stricter on what the claim adds to the question: rejects far more claims checked
        against a related sentence that lacks the answer, and marks more paraphrased true
        claims (see benchmarks/bench_verifier.py --question-aware)."""
        return cls(encoder, threshold=0.32, cosine_weight=0.3, min_coverage=0.2, novel_min=0.2)

    def coverage(self, claim: str, evidence: str, context: str = "") -> float:
        words, numbers = content_terms(claim)
        pool = evidence + " " + context
        ev_words, ev_numbers = content_terms(pool)
        letters = _letters(pool)
        total = len(words) + 2 * len(numbers)
        if total == 0:
            return 0.0
        found = sum(_found(w, ev_words, letters) for w in words) + 2 * len(numbers & ev_numbers)
        score = found / total
        keys = {k for k in _key_terms(claim) if not _found(k, ev_words, letters)}
        if keys:  # a name the sources never mention is a strong sign of invention
            score *= 0.75 ** len(keys)
        if numbers - ev_numbers:
            score *= 0.5
        return score

    def _blend(self, cosine: float, coverage: float) -> float:
        w = self.cosine_weight
        return w * max(cosine, 0.0) + (1 - w) * coverage

    def _judge(self, cosine: float, coverage: float, conflict: bool = False) -> tuple[float, bool]:
        score = self._blend(cosine, coverage)
        return score, score >= self.threshold and coverage >= self.min_coverage and not conflict

    def _check(self, claim: str, cosine: float, text: str, context: str,
               question: str | None) -> tuple[float, bool]:
        score, ok = self._judge(cosine, self.coverage(claim, text, context),
                                number_conflict(claim, text + " " + context))
        if ok and question and self.novel_min > 0:
            novel = novel_coverage(claim, question, text + " " + context)
            ok = novel is None or novel >= self.novel_min
        return score, ok

    def verify(self, claim: str, cited: dict[int, str], contexts: dict[int, str] | None = None,
               question: str | None = None) -> Verdict:
        """The claim's support by its cited sentences (each alone, and all together), and each
        citation's own score. `contexts` (e.g. document titles) count for word coverage; the
        `question` is used by a question-aware verifier."""
        if not cited or not claim.strip():
            return Verdict(0.0, False)
        if not checkable(claim):
            return Verdict(0.0, False, {i: 0.0 for i in cited})
        ids = list(cited)
        texts = [cited[i] for i in ids]
        ctx = [(contexts or {}).get(i, "") for i in ids]
        batch = [claim, *texts] + ([" ".join(texts)] if len(texts) > 1 else [])
        vectors = self.encoder.encode(batch)
        claim_vec = vectors[0]
        cos = vectors[1:] @ claim_vec
        judged = [self._check(claim, float(c), t, x, question)
                  for c, t, x in zip(cos, texts, ctx, strict=False)]
        if len(texts) > 1:
            judged.append(self._check(claim, float(cos[-1]), " ".join(texts), " ".join(ctx),
                                      question))
        each = {i: round(j[0], 4) for i, j in zip(ids, judged, strict=False)}
        passing = [score for score, ok in judged if ok]
        best = max(passing) if passing else max(score for score, _ in judged)
        return Verdict(round(best, 4), bool(passing), each)

    def attribute(self, claim: str, candidates: dict[int, str],
                  contexts: dict[int, str] | None = None,
                  question: str | None = None) -> tuple[int | None, float]:
        """The candidate that best supports an uncited claim, if any supports it: (id, score)."""
        if not candidates or not checkable(claim):
            return None, 0.0
        ids = list(candidates)
        vectors = self.encoder.encode([claim, *[candidates[i] for i in ids]])
        best: tuple[int | None, float] = (None, 0.0)
        for i, cos in zip(ids, vectors[1:] @ vectors[0], strict=True):
            text, ctx = candidates[i], (contexts or {}).get(i, "")
            score, ok = self._check(claim, float(cos), text, ctx, question)
            if ok and score > best[1]:
                best = (i, round(score, 4))
        return best
