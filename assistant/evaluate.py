"""`assistant eval`: measured answer quality on a question file (the format of dev.jsonl).

Every document of the file is indexed into one collection, every question is asked through
`Assistant.ask` (the code path of `assistant ask`), and the answers are scored:

- a returned sentence *matches* a gold sentence when both come from the same document and their
  character spans overlap by at least half of the shorter one (gold sentences are located in
  the document text with `str.find`);
- P@1: the first cited sentence matches (when the answer says "not found", the first retrieved
  sentence is used instead, so P@1 measures ranking and the refusal is counted separately);
- R@5 / MRR: over the retriever's ranking (the same retriever `ask` uses), first 5 / first 100;
- citation precision: of the cited sentences, the share that match, averaged over the answers
  that cite something; citation recall: of the gold sentences, the share cited, averaged over
  all questions (a "not found" answer has recall 0);
- not-found rate: the share of questions answered "not found";
- with the LLM answerer, whose answer sentences are each verified against what they cite: the
  share of questions the model's own answer was kept for (not "not found", not replaced by the
  offline answer because nothing it said was both supported and on the question), the share of
  its sentences verified and the share marked off-question (supported by what they cite, but
  not addressing the question).

`unanswerable=True` asks each question with its own document withheld from retrieval (a filter
on the retriever, so the same index and the same answering code serve all questions); any
answer that is not "not found" is then a false answer. Of those, the share whose citations hold
one of the question's short gold answers (`answers`, whole words, case ignored) is reported
beside: the answer may be right from another document (SQuAD's documents are paragraphs of a
longer article, whose other paragraphs may state the same fact; on dev few do).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from assistant.answer import ExtractiveAnswerer
from assistant.errors import InputError

Progress = Callable[[int, int, str], None]
RANK_DEPTH = 100
OFFLINE = ExtractiveAnswerer.name
SOURCES_ORDER = ("overall",)


@dataclass(frozen=True)
class EvalItem:
    id: str
    doc_id: str
    title: str
    document: str
    question: str
    gold_sentences: tuple[str, ...]
    answers: tuple[str, ...] = ()
    """Short gold answers, where the file has them (SQuAD's spans, MultiRC's free text)."""

    @property
    def source(self) -> str:
        return self.id.split(":", 1)[0] if ":" in self.id else "other"

    def gold_spans(self) -> list[tuple[int, int]]:
        spans = []
        for g in self.gold_sentences:
            at = self.document.find(g)
            if at >= 0:
                spans.append((at, at + len(g)))
        return spans


def load_items(path: Path, limit: int | None = None) -> list[EvalItem]:
    """Questions of a JSONL evaluation file; raises InputError on a malformed file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    items: list[EvalItem] = []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            items.append(EvalItem(
                id=str(row["id"]), doc_id=str(row["doc_id"]), title=str(row.get("title", "")),
                document=str(row["document"]), question=str(row["question"]),
                gold_sentences=tuple(row.get("gold_sentences") or ()),
                answers=_answers(row.get("answers")),
            ))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{n}: not an evaluation record ({exc})") from None
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise InputError(f"{path}: no questions in the file")
    return items


def _answers(value) -> tuple[str, ...]:
    """The record's short answers: a list of strings, or one string."""
    if isinstance(value, str):
        value = [value]
    return tuple(str(a) for a in value or () if str(a).strip())


def sentence_matches(sentence, doc_path: str, spans: list[tuple[int, int]]) -> bool:
    """Same document, and the spans overlap by at least half of the shorter one."""
    if sentence.path != doc_path:
        return False
    for start, end in spans:
        overlap = min(end, sentence.char_end) - max(start, sentence.char_start)
        if overlap > 0 and overlap >= 0.5 * min(end - start,
                                                 sentence.char_end - sentence.char_start):
            return True
    return False


class Matcher(Protocol):
    """How a returned sentence is compared with a question's gold sentences."""

    def golds(self, item: EvalItem) -> list: ...

    def matches(self, sentence, item: EvalItem, golds: list) -> bool: ...


class SpanMatcher:
    """Plain text: gold sentences located in the document, matched by span overlap."""

    def golds(self, item: EvalItem) -> list:
        return item.gold_spans()

    def matches(self, sentence, item: EvalItem, golds: list) -> bool:
        return sentence_matches(sentence, item.doc_id, golds)


def collection_for(path: Path) -> str:
    """A collection named after the file's content: reruns on the same file reuse it."""
    return "eval-" + hashlib.sha1(path.read_bytes()).hexdigest()[:12]


def index_items(assistant, items: list[EvalItem], progress: Progress | None = None):
    """Ingest every distinct document of `items` as an in-memory document."""
    from assistant.documents import make_document

    docs = {}
    for it in items:
        docs.setdefault(it.doc_id, make_document(path=it.doc_id, text=it.document,
                                                 title=it.title))
    with assistant.index.writing():
        return assistant.ingestor().ingest_documents(list(docs.values()), progress=progress)


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else 0.0


@dataclass
class _Score:
    source: str
    p1: float
    r5: float
    rr: float
    precision: float | None
    recall: float
    not_found: bool
    latency_ms: float
    checked: int = 0  # answer sentences the verifier judged (an LLM's answer)
    verified: int = 0  # of those, the ones judged supported by their citations
    off_question: int = 0  # of the verified ones, those that do not address the question
    by_model: bool = False  # the answer is the LLM's own (not "not found", not the fallback)
    llm: bool = False  # asked of an LLM answerer


def _summary(scores: list[_Score]) -> dict:
    prec = [s.precision for s in scores if s.precision is not None]
    lat = [s.latency_ms for s in scores]
    return {
        "n": len(scores),
        "p_at_1": round(float(np.mean([s.p1 for s in scores])), 4),
        "r_at_5": round(float(np.mean([s.r5 for s in scores])), 4),
        "mrr": round(float(np.mean([s.rr for s in scores])), 4),
        "citation_precision": round(float(np.mean(prec)), 4) if prec else 0.0,
        "citation_recall": round(float(np.mean([s.recall for s in scores])), 4),
        "not_found_rate": round(float(np.mean([s.not_found for s in scores])), 4),
        "latency_ms_p50": round(_percentile(lat, 50), 1),
        "latency_ms_p95": round(_percentile(lat, 95), 1),
        **_verification(scores),
    }


def _verification(scores: list[_Score]) -> dict:
    """For answers whose sentences were verified (the LLM answerer's): the share of questions
    the model's own answer was kept for, the share of its sentences judged supported, and the
    share supported but marked off-question (both of all its checked sentences)."""
    if not any(s.llm for s in scores):
        return {}
    checked = sum(s.checked for s in scores)
    return {"model_answer_rate": round(float(np.mean([s.by_model for s in scores])), 4),
            "sentences_verified": round(sum(s.verified for s in scores) / max(checked, 1), 4),
            "sentences_off_question": round(sum(s.off_question for s in scores)
                                            / max(checked, 1), 4),
            "sentences_checked": checked}


def _by_source(scores: list, summarise: Callable[[list], dict]) -> dict:
    out: dict[str, dict] = {}
    for src in sorted({s.source for s in scores}):
        out[src] = summarise([s for s in scores if s.source == src])
    return out


def _score(assistant, it: EvalItem, matcher: Matcher,
           observe: Callable[[EvalItem, object], None] | None = None) -> _Score:
    """Ask one question and score its answer and its ranking."""
    spans = matcher.golds(it)
    ranked = assistant.retrieve(it.question, RANK_DEPTH)
    started = time.perf_counter()
    answer = assistant.ask(it.question)
    latency = (time.perf_counter() - started) * 1000
    if observe:
        observe(it, answer)
    hits = [matcher.matches(h.sentence, it, spans) for h in ranked]
    first = next((i for i, ok in enumerate(hits) if ok), None)
    cited = [matcher.matches(c.sentence, it, spans) for c in answer.citations]
    top = cited[0] if cited else (hits[0] if hits else False)
    gold_cited = sum(
        1 for g in spans if any(matcher.matches(c.sentence, it, [g]) for c in answer.citations)
    )
    verified_answer = answer.found and answer.answerer != OFFLINE and bool(answer.sentences)
    llm = getattr(getattr(assistant, "settings", None), "llm", OFFLINE) != OFFLINE
    return _Score(
        source=it.source, p1=float(top), r5=float(first is not None and first < 5),
        rr=1.0 / (first + 1) if first is not None else 0.0,
        precision=(sum(cited) / len(cited)) if cited else None,
        recall=gold_cited / len(spans) if spans else 0.0,
        not_found=not answer.found, latency_ms=latency,
        # the offline answer's sentences are source sentences, supported by construction
        checked=len(answer.sentences) if verified_answer else 0,
        verified=sum(bool(s.supported) for s in answer.sentences) if verified_answer else 0,
        off_question=sum(bool(s.supported) and s.addresses is False for s in answer.sentences)
        if verified_answer else 0,
        by_model=verified_answer, llm=llm,
    )


def _report(scores: list[_Score], **extra) -> dict:
    return {**extra, "overall": _summary(scores), "by_source": _by_source(scores, _summary)}


def evaluate(assistant, items: list[EvalItem], progress: Progress | None = None,
             matcher: Matcher | None = None,
             observe: Callable[[EvalItem, object], None] | None = None,
             found: dict[str, bool] | None = None) -> dict:
    """Ask every question of `items` (already indexed) and score the answers (`observe` sees
    each item with its answer; `found`, when given, is filled with each item's decision)."""
    matcher = matcher or SpanMatcher()
    scores: list[_Score] = []
    for n, it in enumerate(items, 1):
        scores.append(_score(assistant, it, matcher, observe))
        if found is not None:
            found[it.id] = not scores[-1].not_found
        if progress:
            progress(n, len(items), it.id)
    return _report(scores)


def copy_document(source, target, path: str) -> int:
    """Put `source`'s committed document `path` into `target` (SentenceIndex both) with its
    stored vectors and token states: nothing is encoded again. Returns its sentence count."""
    record = source.document(path)
    sentences = source.document_sentences(path)
    ids = [s.id for s in sentences]
    vectors = source.vectors(ids)
    tokens = source.token_states(ids)
    matrix = np.stack([vectors[i] for i in ids])
    target.replace(record, sentences, matrix, tokens or None)
    return len(sentences)


def per_document(assistant, items: list[EvalItem], solo):
    """For each document of `items` (already indexed in `assistant`'s index), in turn: `solo`
    (an Assistant over an empty scratch index) made to hold that document alone, copied from
    the collection (`copy_document`), with a fresh retriever (no caches of the document
    before). Yields (document, its items, solo)."""
    by_doc: dict[str, list[EvalItem]] = {}
    for it in items:
        by_doc.setdefault(it.doc_id, []).append(it)
    held: list[str] = []
    for doc, doc_items in by_doc.items():
        with solo.index.writing():
            for path in held:
                solo.index.remove(path)
            copy_document(assistant.index, solo.index, doc)
        held = [doc]
        solo._retriever = None
        yield doc, doc_items, solo


def evaluate_per_document(assistant, items: list[EvalItem], solo,
                          progress: Progress | None = None,
                          found: dict[str, bool] | None = None) -> dict:
    """Ask each question against an index holding only its own document (`per_document`),
    scored as `evaluate` scores them; the same answerer, ranker and thresholds."""
    matcher = SpanMatcher()
    scores: list[_Score] = []
    started = time.perf_counter()
    for _, doc_items, index in per_document(assistant, items, solo):
        for it in doc_items:
            scores.append(_score(index, it, matcher))
            if found is not None:
                found[it.id] = not scores[-1].not_found
            if progress:
                progress(len(scores), len(items), it.id)
    return _report(scores, mode="per-document",
                   documents=len({it.doc_id for it in items}),
                   seconds=round(time.perf_counter() - started, 1))


def agreement(a: dict[str, bool], b: dict[str, bool]) -> float:
    """The share of questions given the same found/not-found decision in both runs."""
    common = [k for k in a if k in b]
    return round(sum(a[k] == b[k] for k in common) / len(common), 4) if common else 0.0


def holds_answer(text: str, answers: tuple[str, ...]) -> bool:
    """Whether `text` holds one of `answers` as whole words, case and spacing ignored."""
    flat = " ".join(text.casefold().split())
    return any(re.search(r"(?<!\w)" + re.escape(" ".join(a.casefold().split())) + r"(?!\w)",
                         flat) for a in answers if a.strip())


@dataclass
class _Refusal:
    source: str
    false_answer: bool
    latency_ms: float
    holds_answer: bool = False
    """A false answer whose citations hold a gold answer (perhaps right, from elsewhere)."""


def _refusal_summary(rows: list[_Refusal]) -> dict:
    lat = [r.latency_ms for r in rows]
    return {
        "n": len(rows),
        "false_answer_rate": round(float(np.mean([r.false_answer for r in rows])), 4),
        "holding_gold_answer_rate": round(float(np.mean([r.holds_answer for r in rows])), 4),
        "latency_ms_p50": round(_percentile(lat, 50), 1),
        "latency_ms_p95": round(_percentile(lat, 95), 1),
    }


def evaluate_unanswerable(assistant, items: list[EvalItem],
                          progress: Progress | None = None) -> dict:
    """Ask each question with its own document left out; the right reply is "not found"."""
    retriever = assistant.retriever
    rows: list[_Refusal] = []
    try:
        for n, it in enumerate(items, 1):
            retriever.exclude_paths = frozenset({it.doc_id})
            started = time.perf_counter()
            answer = assistant.ask(it.question)
            latency = (time.perf_counter() - started) * 1000
            held = answer.found and holds_answer(
                " ".join(c.sentence.text for c in answer.citations), it.answers)
            rows.append(_Refusal(it.source, answer.found, latency, held))
            if progress:
                progress(n, len(items), it.id)
    finally:
        retriever.exclude_paths = frozenset()
    return {"mode": "unanswerable", "overall": _refusal_summary(rows),
            "by_source": _by_source(rows, _refusal_summary)}


def format_table(report: dict) -> str:
    """The report as a fixed-width table: overall first, then each source."""
    rows = [("overall", report["overall"]), *report["by_source"].items()]
    if report.get("mode") == "unanswerable":
        head = (f"{'source':<10} {'n':>5} {'false answers':>14} {'citing a gold answer':>21} "
                f"{'p50 ms':>8} {'p95 ms':>8}")
        lines = [head, "-" * len(head)]
        for name, r in rows:
            lines.append(f"{name:<10} {r['n']:>5} {r['false_answer_rate']:>14.3f} "
                         f"{r['holding_gold_answer_rate']:>21.3f} "
                         f"{r['latency_ms_p50']:>8.1f} {r['latency_ms_p95']:>8.1f}")
        lines.append("(citing a gold answer: false answers whose cited sentences hold one of the "
                     "question's short answers, perhaps right from another document)")
        return "\n".join(lines)
    head = (f"{'source':<10} {'n':>5} {'P@1':>6} {'R@5':>6} {'MRR':>6} {'cit.P':>6} "
            f"{'cit.R':>6} {'not-found':>9} {'p50 ms':>8} {'p95 ms':>8}")
    lines = [head, "-" * len(head)]
    for name, r in rows:
        lines.append(
            f"{name:<10} {r['n']:>5} {r['p_at_1']:>6.3f} {r['r_at_5']:>6.3f} {r['mrr']:>6.3f} "
            f"{r['citation_precision']:>6.3f} {r['citation_recall']:>6.3f} "
            f"{r['not_found_rate']:>9.3f} {r['latency_ms_p50']:>8.1f} {r['latency_ms_p95']:>8.1f}")
    for name, r in rows:
        if "sentences_verified" in r:
            lines.append(f"{name}: the model's own answer kept for {r['model_answer_rate']:.3f} "
                         f"of the questions; {r['sentences_verified']:.3f} of its "
                         f"{r['sentences_checked']} sentences verified against their citations "
                         f"and {r['sentences_off_question']:.3f} marked off-question (supported, "
                         "but not addressing the question)")
    return "\n".join(lines)
