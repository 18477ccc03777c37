"""Fit the off-question threshold (`assistant/relevance.py`): the cross-encoder logit below which
an LLM answer sentence is marked as not addressing the question.

    python benchmarks/fit_relevance.py [--dev ../shared/eval/dev.jsonl] [--target 0.95]
        [--others 3] [--dry-run]

For every question of the file, (question, sentence) pairs scored by the shipped cross-encoder
(`assistant.rerank`), each sentence read as an answer sentence is (`relevance.answer_passage`:
its document's title, no previous sentence):

  gold            a gold sentence of the question                           addresses it
  statement       the question with its short answer as a statement
                  (`verifier_pairs.statement`; answers of at most 8 words)   addresses it
  same-document   a sentence of the same document (`sentences.split_spans`)
                  that overlaps no gold sentence and holds no gold answer    off-question
  other-document  `--others` sentences drawn from documents of other titles
                  that hold no gold answer                                   off-question

Documents are split in two halves by a hash of their id, as for the verifier
(`verifier_pairs.split_of`). The threshold is chosen on the "tune" half: the highest that keeps
at least `--target` of each kind of positive (gold sentences, statements) addressing the
question. The figures printed for the "test" half are held out (its documents were not seen by
the choice), at the threshold and at some around it (the trade-off). Writes the threshold, the
sha256 of the cross-encoder file it was fitted for and the provenance to
assistant/data/relevance.json, and the figures to benchmarks/results/fit_relevance.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import random
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from verifier_pairs import _overlaps, load_rows, split_of, statement  # noqa: E402

from assistant import rerank  # noqa: E402
from assistant.relevance import RELEVANCE_FILE, answer_passage, model_digest  # noqa: E402
from assistant.sentences import split_spans  # noqa: E402

POSITIVE = ("gold", "statement")
NEGATIVE = ("same-document", "other-document")


@dataclass
class Pair:
    question: str
    sentence: str
    title: str
    kind: str
    split: str
    source: str
    logit: float = 0.0

    @property
    def addresses(self) -> bool:
        return self.kind in POSITIVE


def _holds(sentence: str, answers: list[str]) -> bool:
    """The sentence holds one of the (lower-cased) gold answers."""
    low = sentence.lower()
    return any(a in low for a in answers)


def build_pairs(rows: list[dict], others: int, seed: int = 17,
                max_answer_words: int = 8) -> list[Pair]:
    """The pairs of every question (see the module docstring)."""
    rng = random.Random(seed)
    spans_of: dict[str, list[tuple[int, int]]] = {}
    sentences: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    for row in rows:
        if row["doc_id"] not in sentences:
            text = row["document"]
            spans_of[row["doc_id"]] = [(a, b) for a, b, _ in split_spans(text)]
            sentences[row["doc_id"]] = [text[a:b].strip() for a, b in spans_of[row["doc_id"]]]
            titles[row["doc_id"]] = row.get("title", "")
    docs = sorted(sentences)
    pairs: list[Pair] = []
    for row in rows:
        doc, question, title = row["doc_id"], row["question"], row.get("title", "")
        split, source = split_of(doc), row["id"].split(":")[0]
        answers = [a.strip().lower() for a in row["answers"] if a.strip()]
        golds = [g.strip() for g in row["gold_sentences"] if g.strip()]
        found: list[tuple[str, str, str]] = [(g, "gold", title) for g in golds]
        short = [a for a in row["answers"] if a.strip() and len(a.split()) <= max_answer_words]
        if short:
            found.append((statement(question, short[0]), "statement", title))
        text = row["document"]
        spans = [(at, at + len(g)) for g in golds if (at := text.find(g)) >= 0]
        for a, b in spans_of[doc]:
            sentence = text[a:b].strip()
            if not any(_overlaps((a, b), g) for g in spans) and sentence not in golds \
                    and not _holds(sentence, answers):
                found.append((sentence, "same-document", title))
        pool = [d for d in docs if titles[d] != title]
        drawn = []
        for _ in range(20 * others if pool else 0):  # a few draws may hold the answer
            other = rng.choice(pool)
            sentence = rng.choice(sentences[other])
            if not _holds(sentence, answers):
                drawn.append((sentence, "other-document", titles[other]))
            if len(drawn) == others:
                break
        found.extend(drawn)
        pairs.extend(Pair(question, s, t, kind, split, source) for s, kind, t in found)
    return pairs


def score(pairs: list[Pair], encoder: rerank.CrossEncoder) -> None:
    """Each pair's logit, one batch per question (as an answer is scored)."""
    by_question: dict[str, list[Pair]] = {}
    for p in pairs:
        by_question.setdefault(p.question, []).append(p)
    for question, group in by_question.items():
        logits = encoder.score(question, [answer_passage(p.sentence, p.title) for p in group])
        for p, logit in zip(group, logits, strict=True):
            p.logit = float(logit)


def choose(pairs: list[Pair], target: float) -> float:
    """The highest threshold (two decimals, rounded down) that keeps at least `target` of
    each kind of positive at or above it."""
    limits = []
    for kind in POSITIVE:
        logits = np.sort([p.logit for p in pairs if p.kind == kind])
        # at most floor((1 - target) * n) of them may fall below the threshold
        limits.append(float(logits[int(np.floor((1 - target) * len(logits)))]))
    return float(np.floor(min(limits) * 100) / 100)


def figures(pairs: list[Pair], threshold: float) -> dict[str, dict]:
    """For each kind: how many pairs and the share judged right (positives kept as addressing
    the question, negatives caught as off-question)."""
    out = {}
    for kind in (*POSITIVE, *NEGATIVE):
        sub = [p for p in pairs if p.kind == kind]
        right = [(p.logit >= threshold) == p.addresses for p in sub]
        out[kind] = {"n": len(sub), "right": round(float(np.mean(right)), 3) if sub else None}
    return out


def table(report: dict[str, dict[str, dict]]) -> str:
    head = f"{'':<44} {'tune':>12} {'test (held out)':>16}"
    lines = [head, "-" * len(head)]
    label = {"gold": "gold sentences kept as addressing",
             "statement": "answer statements kept as addressing",
             "same-document": "same-document sentences caught off-question",
             "other-document": "other-document sentences caught off-question"}
    for kind in (*POSITIVE, *NEGATIVE):
        cells = [f"{r[kind]['right']:.3f} ({r[kind]['n']})" for r in report.values()]
        lines.append(f"{label[kind]:<44} {cells[0]:>12} {cells[1]:>16}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", type=Path, default=REPO.parent / "shared" / "eval" / "dev.jsonl")
    ap.add_argument("--target", type=float, default=0.95,
                    help="least share of each kind of the tune half's positives to keep")
    ap.add_argument("--others", type=int, default=3,
                    help="sentences of other documents drawn per question")
    ap.add_argument("--dry-run", action="store_true", help="print, do not write the file")
    args = ap.parse_args()

    rows = load_rows(args.dev)
    pairs = build_pairs(rows, args.others)
    score(pairs, rerank.CrossEncoder())
    tune = [p for p in pairs if p.split == "tune"]
    test = [p for p in pairs if p.split == "test"]
    threshold = choose(tune, args.target)
    report = {"tune": figures(tune, threshold), "test": figures(test, threshold)}
    by_source = {src: figures([p for p in test if p.source == src], threshold)
                 for src in sorted({p.source for p in test})}
    docs = {half: len({r["doc_id"] for r in rows if split_of(r["doc_id"]) == half})
            for half in ("tune", "test")}
    print(f"{len(pairs)} pairs from {len(rows)} questions; tune half {docs['tune']} documents, "
          f"test half {docs['test']}")
    print(f"threshold {threshold} (cross-encoder logit; the highest keeping >= {args.target} "
          "of each kind of the tune half's positives)")
    print(table(report))
    curve = {}
    print("the trade-off, test half (gold kept / statements kept / same-document caught / "
          "other-document caught):")
    for t in np.round(threshold + np.array([-1.0, -0.5, 0.0, 0.5, 1.0, 2.0, 3.0]), 2):
        figs = figures(test, float(t))
        curve[str(t)] = {k: v["right"] for k, v in figs.items()}
        print(f"  logit >= {t:5.2f}: " + " / ".join(f"{v:.3f}" for v in curve[str(t)].values()))
    for src, figs in by_source.items():
        print(f"  test, {src}: " + "  ".join(f"{k} {v['right']} ({v['n']})"
                                              for k, v in figs.items() if v["n"]))
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "fit_relevance.json").write_text(json.dumps(
        {"threshold": threshold, **report, "test_by_source": by_source,
         "test_by_threshold": curve}, indent=2) + "\n")
    data = {
        "about": "Off-question threshold of assistant/relevance.py: an answer sentence whose "
                 "cross-encoder logit against the question is below it does not address the "
                 "question. Fitted by benchmarks/fit_relevance.py for the cross-encoder file "
                 "whose sha256 is model_sha256; do not edit by hand.",
        "threshold": threshold,
        "model_sha256": model_digest(),
        "provenance": {
            "command": "python benchmarks/fit_relevance.py " + " ".join(sys.argv[1:]),
            "data": args.dev.name,
            "data_sha256": hashlib.sha256(args.dev.read_bytes()).hexdigest(),
            "target": args.target,
            "fitted": dt.date.today().isoformat(),
            "held_out_test_half": report["test"],
        },
    }
    if not args.dry_run:
        RELEVANCE_FILE.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {RELEVANCE_FILE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
