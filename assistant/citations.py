"""Citations in an LLM's answer, and whether the cited sentences support what it says.

Pure functions over text: markers, answer sentences, and the words, names and numbers of a claim
that the verifier (`assistant.support.Verifier`) weighs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from assistant.text import ANSWER_WORDS, STOP_WORDS, stem

# [3]  [3, 5]  [3;5]  [S3]  [s3, S5]  [#3]  [3][5] (two markers)
_ID = r"(?:[Ss]|#)?\s*\d{1,4}"
MARKER = re.compile(r"\[\s*" + _ID + r"(?:\s*[,;]\s*" + _ID + r")*\s*\]")
_DIGITS = re.compile(r"\d+")
_SPACE = re.compile(r"\s+")
# A sentence ends at . ! ? (optionally followed by quotes/brackets and markers) before a space.
_BOUNDARY = re.compile(r"(?<=[.!?])([\"'”’)\]]*)\s+")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "inc", "ltd",
                  "co", "corp", "gen", "col", "lt", "sgt", "prof", "e.g", "i.e", "u.s", "u.k",
                  "fig", "approx", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
                  "sept", "oct", "nov", "dec"}


def marker_ids(marker: str) -> list[int]:
    """The ids inside one marker: `[S3, 5]` -> [3, 5]."""
    return [int(d) for d in _DIGITS.findall(marker)]


def parse_citations(text: str) -> list[int]:
    """Every cited id in `text`, in order of first appearance, without repeats."""
    seen: list[int] = []
    for m in MARKER.finditer(text):
        for i in marker_ids(m.group(0)):
            if i not in seen:
                seen.append(i)
    return seen


def strip_markers(text: str) -> str:
    """`text` without its citation markers, with spacing before punctuation tidied."""
    out = MARKER.sub("", text)
    out = re.sub(r"\s+([.,;:!?])", r"\1", out)
    return _SPACE.sub(" ", out).strip()


@dataclass
class ClaimSentence:
    """One sentence of an answer: its text without markers and the ids it cites."""

    text: str
    ids: list[int] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)


def _split_points(text: str) -> list[int]:
    points = []
    for m in _BOUNDARY.finditer(text):
        before = text[: m.start()].rstrip("\"'”’)]")
        word = re.search(r"(\S+)$", before[:-1] if before else "")
        token = word.group(1).lower().strip("([\"'“‘") if word else ""
        if token in _ABBREVIATIONS or re.fullmatch(r"[a-z]", token) \
                or re.fullmatch(r"(?:[a-z]\.)+[a-z]", token):
            continue
        points.append(m.end())
    return points


def split_answer(text: str) -> list[ClaimSentence]:
    """Split an answer into sentences; each keeps the ids cited in it. Markers that open a
    sentence ("... in 1932. [1] It ...") belong to the sentence before."""
    text = text.strip()
    if not text:
        return []
    cuts = [0, *_split_points(text), len(text)]
    pieces = [text[a:b] for a, b in zip(cuts, cuts[1:], strict=False) if text[a:b].strip()]
    out: list[ClaimSentence] = []
    for piece in pieces:
        piece = piece.strip()
        lead = re.match(r"^(?:" + MARKER.pattern + r"\s*)+", piece)
        if lead and out:
            for i in parse_citations(lead.group(0)):
                if i not in out[-1].ids:
                    out[-1].ids.append(i)
            piece = piece[lead.end():]
        clean = strip_markers(piece)
        ids = parse_citations(piece)
        if re.search(r"\w", clean):
            out.append(ClaimSentence(clean, ids))
        elif out:  # markers or punctuation alone: attach to the previous sentence
            out[-1].ids.extend(i for i in ids if i not in out[-1].ids)
    return out


def strip_unknown(sentences: Iterable[ClaimSentence], known: set[int]) -> int:
    """Remove ids that match no evidence sentence (kept in `.unknown`); returns how many."""
    removed = 0
    for s in sentences:
        bad = [i for i in s.ids if i not in known]
        if bad:
            s.unknown.extend(bad)
            s.ids = [i for i in s.ids if i in known]
            removed += len(bad)
    return removed


def format_sentence(text: str, ids: Sequence[int]) -> str:
    """`text` with its citations written back as `[1][3]` before the final punctuation."""
    if not ids:
        return text
    marks = "".join(f"[{i}]" for i in ids)
    m = re.search(r"([.!?][\"'”’)]*)$", text)
    if m:
        return f"{text[: m.start()]} {marks}{m.group(1)}"
    return f"{text} {marks}"


# --- verification -------------------------------------------------------------------------

STOPWORDS = STOP_WORDS | ANSWER_WORDS
"""Words a claim's content leaves out: function words and the words answers use to speak of
their sources (`text.py`)."""

_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*|\d+(?:[.,]\d+)*")
_NUMBER_WORDS = {w: str(i) for i, w in enumerate(
    "zero _one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
                      "seventy": "70", "eighty": "80", "ninety": "90", "hundred": "100",
                      "third": "3", "fourth": "4", "fifth": "5"})
_TENS = {"twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"}


def _stem(word: str) -> str:
    """A claim word's stem (`text.stem`, the index's), without a possessive 's."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    return stem(w.replace("'", ""))


def _number(token: str) -> str:
    return token.replace(",", "")


def content_terms(text: str) -> tuple[set[str], set[str]]:
    """(stemmed content words, numbers) of `text`; number words count as numbers."""
    words, numbers = set(), set()
    tokens = _WORD.findall(text)
    for i, tok in enumerate(tokens):
        low = tok.lower()
        if tok[0].isdigit():
            numbers.add(_number(tok))
        elif low in _NUMBER_WORDS:
            value = int(_NUMBER_WORDS[low])
            prev = tokens[i - 1].lower() if i else ""
            if prev in _TENS and value < 10:  # "forty five"
                numbers.discard(_NUMBER_WORDS[prev])
                value += int(_NUMBER_WORDS[prev])
            numbers.add(str(value))
        elif low not in STOPWORDS and len(tok) > 1:
            words.add(_stem(tok))
    return words, numbers


def _letters(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def _found(term: str, terms: set[str], letters: str) -> bool:
    """A claim word is in the evidence: the same stem, or (4+ letters) inside a longer word."""
    return term in terms or (len(term) >= 4 and term in letters)


def _key_terms(text: str) -> set[str]:
    """Names in `text`: capitalised words that do not open the sentence (stemmed)."""
    keys = set()
    for m in re.finditer(r"(?<![.!?]\s)(?<!^)\b([A-Z][A-Za-z'’]+)", text.strip()):
        word = m.group(1)
        if word.lower() not in STOPWORDS and word.lower() not in _NUMBER_WORDS:
            keys.add(_stem(word))
    return keys


def checkable(claim: str) -> bool:
    """A claim says something checkable: at least two content words or numbers. "Yes." or a
    lone word echoed from the evidence is never counted as supported."""
    words, numbers = content_terms(claim)
    return len(words) + len(numbers) >= 2


def number_conflict(claim: str, evidence: str) -> bool:
    """The claim states a large number (3+ digits: a year, a count) that the evidence does not,
    while the evidence gives other numbers: a changed figure, never supported."""
    _, numbers = content_terms(claim)
    _, ev_numbers = content_terms(evidence)
    missing = {n for n in numbers - ev_numbers if len(re.sub(r"\D", "", n)) >= 3}
    return bool(missing) and bool(ev_numbers - numbers)


def novel_coverage(claim: str, question: str, evidence: str) -> float | None:
    """Of the claim's words and numbers that the question does not already hold (what the claim
    adds: the answer), the share found in the evidence; None when it adds none."""
    words, numbers = content_terms(claim)
    q_words, q_numbers = content_terms(question)
    ev_words, ev_numbers = content_terms(evidence)
    letters = _letters(evidence)
    new_words = {w for w in words if w not in q_words}
    new_numbers = numbers - q_numbers
    total = len(new_words) + len(new_numbers)
    if total == 0:
        return None
    found = sum(_found(w, ev_words, letters) for w in new_words) + len(new_numbers & ev_numbers)
    return found / total


def coverage(claim: str, evidence: str, context: str = "") -> float:
    """The share of the claim's content words and numbers (numbers count double) found in the
    evidence and its `context` (a title), lowered for each name and for any number the
    evidence does not hold."""
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
