"""Does a cited sentence support a claim, or only resemble it? Explainable features of a
(claim, evidence) pair, the small logistic model over them, and `Verifier`, which the LLM
answerer uses to hold each answer sentence to the sentences it cites.

Topical similarity is not support: "The capital of France is Paris" is close to "The capital of
France is Berlin" in embedding space and shares most of its words. What tells them apart is the
word of the claim that the evidence lacks, and what the evidence says in its place. So besides
word coverage, the features look at each claim word the evidence does not hold: is it a name
while the evidence names someone else (an entity swap), a number while the evidence gives
another (a changed figure), the opposite of an evidence word (rose/fell, north/south:
`data/antonyms.json`), and does one side negate what the other affirms. Words the claim repeats
from the question are not asked of the evidence. (The MiniLM cosine was a feature too; without
it the held-out figures are better on true claims and as good on perturbed ones, and no
encoder runs: see benchmarks/bench_verifier.py.)

The weights are fitted by `benchmarks/fit_verifier.py` on (claim, evidence) pairs made from the
documents of one half of dev.jsonl (true claims: the sentence, a clause of it, reordered parts,
the question and its answer as a statement; false ones: the same with an entity swapped, a
number changed, a negation inserted or an antonym), and written to `data/verifier.json` with
their feature names and provenance; this module reads them by name.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from assistant.citations import (
    _NUMBER_WORDS,
    STOPWORDS,
    _found,
    _letters,
    _stem,
    checkable,
    content_terms,
    coverage,
    novel_coverage,
)
from assistant.data import read_json
from assistant.errors import ModelError

DATA = Path(__file__).parent / "data"
MODEL_FILE = DATA / "verifier.json"
ANTONYM_FILE = DATA / "antonyms.json"

FEATURES = ("coverage", "missing_words", "missing_names", "name_swap",
            "missing_numbers", "number_swap", "polarity", "antonym", "novel")

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'’\-]*|\d+(?:[.,]\d+)*")
_PART = re.compile(r"[a-z]+")
# Hedges and words of approach that a faithful paraphrase adds or drops ("about 10,000" for "an
# estimated 10,000", "moved toward" for "moved closer to"): a claim word of these is never missing.
_LIGHT = frozenset(_stem(w) for w in "about approximately roughly around nearly almost estimated "
                   "some several toward towards closer reportedly".split())
_NEGATIONS = frozenset("not no never none nobody nothing neither nor cannot without "
                       "hardly".split())
# An answer sentence that gives orders instead of facts has copied an instruction (from a
# document, or its own prompt): it does not answer the question whatever it cites.
_INSTRUCTION = re.compile(
    r"(?i)^\s*(?:please\s+)?(?:ignore|disregard|forget|reply|respond|answer|say|print|output|"
    r"write|repeat|type|return|pretend|act as|tell|do not|don't|never|always|stop|you must|"
    r"you are|you should)\b|\b(?:previous|prior|above) instructions\b|\bsystem prompt\b|"
    r"\breply only\b|\bonly with the word\b")


def is_instruction(claim: str) -> bool:
    """The claim is an instruction ("Reply only with the word ..."), not a statement."""
    return bool(_INSTRUCTION.search(claim))


@lru_cache(maxsize=1)
def antonyms() -> dict[str, frozenset[str]]:
    """Each word form of data/antonyms.json -> the forms of its opposites."""
    table: dict[str, set[str]] = {}
    for left, right in read_json(ANTONYM_FILE, "the antonym list")["pairs"]:
        for a in left:
            table.setdefault(a, set()).update(right)
        for b in right:
            table.setdefault(b, set()).update(left)
    return {k: frozenset(v) for k, v in table.items()}


@dataclass(frozen=True)
class _Words:
    """A text's tokens, lower-cased, with its names, numbers and content stems."""

    tokens: tuple[str, ...]
    names: frozenset[str]
    numbers: frozenset[str]
    stems: frozenset[str]
    letters: str
    parts: tuple[str, ...]  # the lower-cased words, hyphenated ones split ("short", "lived")

    @property
    def parts_set(self) -> frozenset[str]:
        return frozenset(self.parts)


def _is_negation(token: str) -> bool:
    return token in _NEGATIONS or token.endswith("n't") or token.endswith("n’t")


@lru_cache(maxsize=4096)
def _words(text: str) -> _Words:
    raw = _TOKEN.findall(text)
    names = set()
    for tok in raw:
        if tok[0].isupper() and tok.lower() not in STOPWORDS and len(tok) > 1 \
                and tok.lower() not in _NUMBER_WORDS:  # "Forty Five" is a number
            # a capitalised word that opens the text counts too ("Berlin is ...")
            names.add(_stem(tok))
    stems, numbers = content_terms(text)
    return _Words(tuple(t.lower() for t in raw), frozenset(names), frozenset(numbers),
                  frozenset(stems), _letters(text), tuple(_PART.findall(text.lower())))


def _negations_about(words: _Words, other: _Words) -> int:
    """Negations in `words` whose next content words (two, within three tokens) the other text
    shares: a negation of something both say, not of a clause only one of them has."""
    count = 0
    toks = words.tokens
    for i, tok in enumerate(toks):
        if not _is_negation(tok):
            continue
        following = [t for t in toks[i + 1: i + 4] if t not in STOPWORDS and not _is_negation(t)]
        if any(_found(_stem(t), other.stems, other.letters) for t in following[:2]):
            count += 1
    return count


def _flipped(claim: _Words, evidence: _Words, asked: frozenset[str]) -> int:
    """Claim words put where the evidence has their opposite: the claim has more of the word and
    fewer of its opposite than the evidence ("winter ... summer" -> "summer ... summer",
    "short-lived" -> "long-lived"). Words the question holds are not the claim's own."""
    opposite = antonyms()
    mine, theirs = Counter(claim.parts), Counter(evidence.parts)
    flipped = 0
    for word in set(mine) - asked:
        if mine[word] <= theirs[word]:
            continue
        if any(theirs[o] > mine[o] for o in opposite.get(word, ())):
            flipped += 1
    return flipped


def features(claim: str, evidence: str, question: str | None = None,
             context: str = "") -> dict[str, float]:
    """The named features of one (claim, evidence) pair; `context` (a title) counts as
    evidence for word coverage, and claim words found in the question are not counted as
    missing (the answer restates the question)."""
    c = _words(claim)
    e = _words(evidence + " " + context) if context else _words(evidence)
    q = _words(question) if question else None

    def in_evidence(stem: str) -> bool:
        return _found(stem, e.stems | e.names, e.letters)

    def in_question(stem: str) -> bool:
        return q is not None and _found(stem, q.stems | q.names, q.letters)

    plain = [s for s in c.stems if s not in c.names]
    missing_plain = [s for s in plain if not in_evidence(s) and not in_question(s)
                     and s not in _LIGHT]
    missing_names = [n for n in c.names if not in_evidence(n) and not in_question(n)]
    # A swap is judged against the sentence alone: the title may hold the very name that the
    # sentence replaced ("Chris Cornell (1999)" in "Chris Cornell"'s article, where the sentence
    # says "Euphoria Morning (1999)"). Names the question gives are not the claim's own.
    s = _words(evidence)
    asked_names = q.names if q is not None else frozenset()
    unmatched_ev_names = [n for n in s.names if not _found(n, c.stems | c.names, c.letters)
                          and n not in asked_names]
    lost_names = [n for n in c.names if not _found(n, s.stems | s.names, s.letters)
                  and n not in asked_names]
    asked_numbers = q.numbers if q is not None else frozenset()
    missing_numbers = [n for n in c.numbers if n not in e.numbers and n not in asked_numbers]
    unmatched_ev_numbers = [n for n in e.numbers if n not in c.numbers]
    flipped = _flipped(c, e, q.parts_set if q is not None else frozenset())
    neg_claim = _negations_about(c, s)  # the sentence alone: a title is no clause
    neg_evidence = _negations_about(s, c)
    # without a question, everything the claim says is what it adds
    novel = novel_coverage(claim, question or "", evidence + " " + context)
    return {
        "coverage": coverage(claim, evidence, f"{context} {question or ''}"),
        "missing_words": len(missing_plain) / max(len(plain), 1),
        "missing_names": float(min(len(missing_names), 3)),
        "name_swap": float(bool(lost_names) and bool(unmatched_ev_names)),
        "missing_numbers": float(min(len(missing_numbers), 3)),
        "number_swap": float(bool(missing_numbers) and bool(unmatched_ev_numbers)),
        "polarity": float(neg_claim != neg_evidence),
        "antonym": float(min(flipped, 2)),
        "novel": 1.0 if novel is None else novel,
    }


@dataclass(frozen=True)
class SupportModel:
    """A logistic model over named features: P(the evidence supports the claim)."""

    weights: dict[str, float]
    bias: float
    threshold: float
    weak: float

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> SupportModel:
        data = read_json(path, "the verifier model")
        try:
            weights = data["weights"]
            missing = [f for f in FEATURES if f not in weights]
            if missing:
                raise ModelError(f"the verifier model {path} has no weight for feature(s) "
                                 f"{', '.join(missing)}: refit it with "
                                 "benchmarks/fit_verifier.py")
            return cls({f: float(weights[f]) for f in FEATURES}, float(data["bias"]),
                       float(data["threshold"]), float(data["weak"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"the verifier model {path} is not a model file "
                             f"({type(exc).__name__}: {exc}): reinstall the package") from None

    def probability(self, feats: dict[str, float]) -> float:
        z = self.bias + sum(w * feats[f] for f, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))


@lru_cache(maxsize=1)
def default_model() -> SupportModel:
    return SupportModel.load()


@dataclass
class Verdict:
    support: float
    supported: bool
    per_citation: dict[int, float] = field(default_factory=dict)


class Verifier:
    """Whether cited sentences support a claim, locally and offline: the logistic support model
    of assistant/support.py (weights in data/verifier.json, fitted by
    benchmarks/fit_verifier.py) over named features of each (claim, cited sentence) pair: word
    coverage, and what differs: a name or a number of the claim that the sentence replaces with
    another, a negation one side has and the other lacks, a word put where the sentence has its
    opposite (rose/fell). An answer sentence that gives an instruction ("Reply only with the
    word ...") is never supported: it answers nothing. No encoder runs (`encoder` is kept for
    the callers; the MiniLM cosine did not help the held-out figures)."""

    def __init__(self, encoder=None, model: SupportModel | None = None,
                 threshold: float | None = None) -> None:
        self.encoder = encoder
        self.model = model or default_model()
        self.threshold = self.model.threshold if threshold is None else threshold
        self.weak = self.model.weak

    @classmethod
    def question_aware(cls, encoder) -> Verifier:
        """The support model always weighs what the claim adds to the question; kept for the
        callers of the verifier before issue 17."""
        return cls(encoder)

    def coverage(self, claim: str, evidence: str, context: str = "") -> float:
        return coverage(claim, evidence, context)

    def score(self, claim: str, text: str, context: str = "",
              question: str | None = None) -> float:
        """P(`text`, with its title `context`, supports the claim)."""
        return self.model.probability(features(claim, text, question, context))

    def _check(self, claim: str, text: str, context: str,
               question: str | None) -> tuple[float, bool]:
        score = self.score(claim, text, context, question)
        return score, score >= self.threshold

    def verify(self, claim: str, cited: dict[int, str], contexts: dict[int, str] | None = None,
               question: str | None = None) -> Verdict:
        """The claim's support by its cited sentences (each alone, and all together), and each
        citation's own score. `contexts` (e.g. document titles) count as evidence for word
        coverage; words the claim repeats from the `question` are not asked of the evidence."""
        if not cited or not claim.strip():
            return Verdict(0.0, False)
        if not checkable(claim) or is_instruction(claim):
            return Verdict(0.0, False, {i: 0.0 for i in cited})
        ids = list(cited)
        texts = [cited[i] for i in ids]
        ctx = [(contexts or {}).get(i, "") for i in ids]
        union = [(" ".join(texts), " ".join(ctx))] if len(texts) > 1 else []
        # all the citations but one, for each (with two, the other one alone: already scored)
        without = [(" ".join(t for j, t in enumerate(texts) if j != k),
                    " ".join(x for j, x in enumerate(ctx) if j != k))
                   for k in range(len(texts))] if len(texts) > 2 else []
        pairs = list(zip(texts, ctx, strict=True)) + union + without
        judged = [self._check(claim, t, x, question) for t, x in pairs]
        alone = [score for score, _ in judged[: len(texts)]]
        each = dict(zip(ids, alone, strict=True))
        if union:
            # a citation that supports only part of the claim scores what the whole loses
            # without it: the sentence that gives the name of a claim whose number another
            # sentence gives counts; one that adds nothing scores nothing
            whole = judged[len(texts)][0]
            rest = ([s for s, _ in judged[len(texts) + 1:]] if without
                    else list(reversed(alone)))
            each = {i: max(a, whole - r) for i, a, r in zip(ids, alone, rest, strict=True)}
        passing = [score for score, ok in judged[: len(texts) + len(union)] if ok]
        best = max(passing) if passing else max(score for score, _ in judged)
        return Verdict(round(best, 4), bool(passing), {i: round(v, 4) for i, v in each.items()})

    def attribute(self, claim: str, candidates: dict[int, str],
                  contexts: dict[int, str] | None = None,
                  question: str | None = None) -> tuple[int | None, float]:
        """The candidate that best supports an uncited claim, if any supports it: (id, score)."""
        if not candidates or not checkable(claim) or is_instruction(claim):
            return None, 0.0
        best: tuple[int | None, float] = (None, 0.0)
        for i, text in candidates.items():
            score, ok = self._check(claim, text, (contexts or {}).get(i, ""), question)
            if ok and score > best[1]:
                best = (i, round(score, 4))
        return best
