"""(claim, evidence) pairs made from the documents of an evaluation file, for the verifier's
benchmark (bench_verifier.py) and its fit (fit_verifier.py). No model writes them: every claim is
document text, cut, reordered or changed by a rule, so the label is known.

- true claims (the evidence supports them): the sentence itself; a clause of it; two coordinated
  parts swapped ("Paris and Lyon" -> "Lyon and Paris"); the question with its gold answer
  written as a statement, against the gold sentence(s);
- perturbed claims (they contradict the evidence): one of the above with a name swapped for
  another name of the same document (preferring one of as many words), a number changed, a
  negation inserted or removed, or a word replaced by its opposite (data/antonyms.json);
- other sentence: the statement against a random and against the closest non-gold sentence of
  its document (one that does not contain the answer).

Documents are split in two halves by a hash of their id: "tune" (fit and thresholds) and
"test" (the figures reported).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

from assistant.citations import STOPWORDS, content_terms
from assistant.documents import content_hash
from assistant.sentences import split_document
from assistant.support import antonyms
from assistant.types import Document

TRUE_KINDS = ("sentence", "clause", "reordered", "statement")
PERTURBED_KINDS = ("entity", "number", "negation", "antonym")
OTHER_KINDS = ("random", "closest")
AUX = r"(is|was|are|were|did|does|do|has|have|had|can|could|will|would|should)"
_RUN = re.compile(r"\b[A-Z][\w'’\-]*(?:\s+(?:of\s+|de\s+|the\s+)?[A-Z][\w'’\-]*)*")
_NUM = re.compile(r"\d+(?:[.,]\d+)*")
_AUX_NEG = re.compile(r"\b(is|was|are|were|has|have|had|will|would|could|should|does|did|do|"
                      r"must|may)\b")
_NUMBER_WORDS = "two three four five six seven eight nine ten eleven twelve".split()


@dataclass
class Pair:
    doc_id: str
    split: str
    kind: str
    claim: str
    evidence: str
    title: str
    question: str | None
    label: int  # 1: supported

    @property
    def group(self) -> str:
        if self.kind in TRUE_KINDS:
            return "true"
        return "perturbed" if self.kind in PERTURBED_KINDS else "other"


def split_of(doc_id: str) -> str:
    return "tune" if hashlib.sha1(doc_id.encode()).digest()[0] % 2 == 0 else "test"


def statement(question: str, answer: str) -> str:
    """The question with its answer, written as a statement (simple patterns, else a fallback)."""
    q = question.strip().rstrip("?").strip()
    a = answer.strip().rstrip(".")
    m = re.match(r"(?i)^(who|what|which)\s+" + AUX + r"\s+(.+)$", q)
    if m and m.group(2).lower() in ("is", "was", "are", "were"):
        return f"{m.group(3)} {m.group(2).lower()} {a}."
    if m:
        return f"{m.group(3)}: {a}."
    m = re.match(r"(?i)^(who|what)\s+(\w+)\s+(.+)$", q)
    if m:
        return f"{a} {m.group(2)} {m.group(3)}."
    m = re.match(r"(?i)^(?:which|what)\s+(.+)$", q)
    if m:
        return f"The {m.group(1)}: {a}."
    m = re.match(r"(?i)^(?:when|where|why|how|how many|how much)\s+(.+)$", q)
    if m:
        return f"{m.group(1)}: {a}."
    return f"{q}: {a}."


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    return inter >= 0.5 * min(a[1] - a[0], b[1] - b[0])


def _runs(text: str) -> list[str]:
    """Capitalised runs of `text` ("Sabrina Singh", "North Korea"), without a leading
    stopword ("The Pentagon" -> "Pentagon")."""
    out = []
    for m in _RUN.finditer(text):
        words = m.group(0).split()
        while words and words[0].lower() in STOPWORDS:
            words = words[1:]
        if words and len(" ".join(words)) > 2:
            out.append(" ".join(words))
    return out


def _sentence_case(text: str) -> str:
    text = text.strip().strip(",;:").strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


# --- true claims ------------------------------------------------------------------------------

def clause(sentence: str, rng: random.Random) -> str | None:
    """A clause or sub-span of the sentence with at least four content words."""
    body = sentence.strip().rstrip(".!?")
    parts = re.split(r",\s+|;\s+|\s+(?:and|but|while|whereas|although|because)\s+", body)
    good = [p for p in parts if p.strip() != body
            and sum(len(s) for s in content_terms(p)) >= 4]
    return _sentence_case(rng.choice(good)) if good else None


_COORD = re.compile(r"\b([A-Z][\w'’\-]*(?: [A-Z][\w'’\-]*)*|[a-z]{3,}) and "
                    r"([A-Z][\w'’\-]*(?: [A-Z][\w'’\-]*)*|[a-z]{3,})\b")


def reordered(sentence: str) -> str | None:
    """Two coordinated parts swapped: "the Patriots and the Cowboys" -> "the Cowboys and ..."."""
    for m in _COORD.finditer(sentence):
        a, b = m.group(1), m.group(2)
        if a.lower() in STOPWORDS or b.lower() in STOPWORDS or a == b:
            continue
        if a.islower() != b.islower():
            continue
        return sentence[: m.start()] + f"{b} and {a}" + sentence[m.end():]
    return None


# --- perturbations ----------------------------------------------------------------------------

def swap_entity(claim: str, evidence: str, doc_runs: list[str], rng: random.Random) -> str | None:
    """A name of the claim replaced by another name of the same document that the evidence
    does not hold (of as many words when there is one)."""
    mine = _runs(claim)
    if not mine:
        return None
    target = rng.choice(mine)
    low_ev = (evidence + " " + claim).lower()
    others = sorted({r for r in doc_runs if r.lower() not in low_ev
                     and not set(r.lower().split()) & set(target.lower().split())})
    if not others:
        return None
    same = [r for r in others if len(r.split()) == len(target.split())]
    new = rng.choice(same or others)
    return re.sub(r"\b" + re.escape(target) + r"\b", new, claim, count=1)


def change_number(claim: str, evidence: str, rng: random.Random) -> str | None:
    """One number of the claim changed (a year by a few years, a count by a factor or a step)."""
    found = list(_NUM.finditer(claim))
    words = [m for m in re.finditer(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", claim, re.I)]
    if not found and not words:
        return None
    if found and (not words or rng.random() < 0.8):
        m = rng.choice(found)
        tok = m.group(0)
        if "." in tok and "," not in tok:
            v = float(tok)
            digits = len(tok.split(".")[1])
            new = f"{v * rng.choice([1.5, 2, 0.5]) + rng.choice([0.1, 0.3]):.{digits}f}"
        else:
            v = int(tok.replace(",", "").replace(".", ""))
            if 1000 <= v <= 2100 and "," not in tok:
                n = v + rng.choice([-10, -5, -3, -2, -1, 1, 2, 3, 5, 10])
            elif v < 10:
                n = v + rng.choice([1, 2, 3])
            else:
                n = v * rng.choice([2, 3]) if rng.random() < 0.5 else v + rng.randint(1, 9)
            new = f"{n:,}" if "," in tok else str(n)
        if new == tok or new in evidence:
            return None
        return claim[: m.start()] + new + claim[m.end():]
    m = rng.choice(words)
    choices = [w for w in _NUMBER_WORDS if w != m.group(0).lower()]
    new = rng.choice(choices)
    if m.group(0)[0].isupper():
        new = new.capitalize()
    return claim[: m.start()] + new + claim[m.end():]


def flip_negation(claim: str) -> str | None:
    """A negation removed ("is not" -> "is", "never " -> "") or inserted after the first
    auxiliary ("is" -> "is not", "can" -> "cannot")."""
    m = re.search(r"\b(\w+) not\b|\b(\w+)n't\b", claim)
    if m and re.fullmatch(_AUX_NEG.pattern, (m.group(1) or m.group(2) or "").lower()):
        return claim[: m.start()] + (m.group(1) or m.group(2)) + claim[m.end():]
    m = re.search(r"\bnever ", claim)
    if m:
        return claim[: m.start()] + claim[m.end():]
    m = re.search(r"\bcan(?:not)?\b", claim)
    if m and m.group(0) == "cannot":
        return claim[: m.start()] + "can" + claim[m.end():]
    m = _AUX_NEG.search(claim)
    if m:
        return claim[: m.end()] + " not" + claim[m.end():]
    m = re.search(r"\bcan\b", claim)
    if m:
        return claim[: m.start()] + "cannot" + claim[m.end():]
    return None


def flip_antonym(claim: str, rng: random.Random) -> str | None:
    """A word replaced by its opposite (data/antonyms.json)."""
    table = antonyms()
    spots = [m for m in re.finditer(r"[A-Za-z]+", claim) if m.group(0).lower() in table]
    if not spots:
        return None
    m = rng.choice(spots)
    new = rng.choice(sorted(table[m.group(0).lower()]))
    if m.group(0)[0].isupper():
        new = new.capitalize()
    return claim[: m.start()] + new + claim[m.end():]


def perturb(kind: str, claim: str, evidence: str, doc_runs: list[str],
            rng: random.Random) -> str | None:
    if kind == "entity":
        return swap_entity(claim, evidence, doc_runs, rng)
    if kind == "number":
        return change_number(claim, evidence, rng)
    if kind == "negation":
        return flip_negation(claim)
    return flip_antonym(claim, rng)


# --- the pairs --------------------------------------------------------------------------------

def load_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def build_pairs(rows: list[dict], encoder=None, seed: int = 4, per_doc: int = 8,
                max_answer_words: int = 8) -> list[Pair]:
    """Every pair of every document (see the module docstring); `encoder` finds the closest
    other sentence (without one, only the random other sentence is used)."""
    rng = random.Random(seed)
    pairs: list[Pair] = []
    by_doc: dict[str, list[dict]] = {}
    for row in rows:
        by_doc.setdefault(row["doc_id"], []).append(row)
    for doc_id, doc_rows in by_doc.items():
        first = doc_rows[0]
        text, title = first["document"], first.get("title", "")
        split = split_of(doc_id)
        sents = split_document(Document(doc_id, text, content_hash(text), title))
        doc_runs = sorted({r for s in sents for r in _runs(s.text)})
        gold_question: dict[str, str] = {}
        for row in doc_rows:
            for g in row["gold_sentences"]:
                gold_question.setdefault(g.strip(), row["question"])
        chosen = [s for s in sents if s.text.strip() in gold_question]
        rest = [s for s in sents if s not in chosen]
        rng.shuffle(rest)
        chosen += rest[: max(per_doc - len(chosen), 0)]
        for s in chosen:
            sentence = s.text.strip()
            if len(sentence.split()) < 5:
                continue
            question = gold_question.get(sentence)
            trues = [("sentence", sentence), ("clause", clause(sentence, rng)),
                     ("reordered", reordered(sentence))]
            for kind, claim in trues:
                if claim:
                    pairs.append(Pair(doc_id, split, kind, claim, sentence, title, question, 1))
            base = [c for k, c in trues if c and k != "reordered"]
            for kind in PERTURBED_KINDS:
                options = base[:]
                rng.shuffle(options)
                for claim in options:
                    changed = perturb(kind, claim, sentence, doc_runs, rng)
                    if changed and changed != claim:
                        pairs.append(Pair(doc_id, split, kind, changed, sentence, title,
                                          question, 0))
                        break
        for row in doc_rows:
            pairs.extend(_statement_pairs(row, sents, doc_runs, encoder, rng, split,
                                          max_answer_words))
    return pairs


def _statement_pairs(row: dict, sents, doc_runs: list[str], encoder, rng: random.Random,
                     split: str, max_answer_words: int) -> list[Pair]:
    answers = [a for a in row["answers"] if a.strip() and len(a.split()) <= max_answer_words]
    spans = []
    for g in row["gold_sentences"]:
        at = row["document"].find(g)
        if at >= 0:
            spans.append((at, at + len(g)))
    if not answers or not spans:
        return []
    answer = answers[0]
    claim = statement(row["question"], answer)
    gold = " ".join(row["document"][a:b] for a, b in spans)
    title, question, doc_id = row.get("title", ""), row["question"], row["doc_id"]
    out = [Pair(doc_id, split, "statement", claim, gold, title, question, 1)]
    # the answer itself changed: "... is Madrid" against "... is Berlin"
    for kind in ("entity", "number"):
        changed = perturb(kind, answer, gold, doc_runs, rng)
        if changed and changed != answer:
            out.append(Pair(doc_id, split, kind, statement(question, changed), gold, title,
                            question, 0))
    negatives = [s for s in sents
                 if not any(_overlaps((s.char_start, s.char_end), g) for g in spans)
                 and answer.lower() not in s.text.lower()]
    if negatives:
        out.append(Pair(doc_id, split, "random", claim, rng.choice(negatives).text, title,
                        question, 0))
        if encoder is not None:
            vecs = encoder.encode([claim, *[s.text for s in negatives]])
            hard = negatives[int((vecs[1:] @ vecs[0]).argmax())]
            out.append(Pair(doc_id, split, "closest", claim, hard.text, title, question, 0))
    return out
