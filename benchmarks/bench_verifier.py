"""How well the local verifier judges claims built from the evaluation questions.

For every question of dev.jsonl with a short gold answer, the question and its answer are
written as a statement (the claim). The claim is checked against its gold sentence(s) (should be
supported) and against another sentence of the same document (should not be): a random one, and
the hardest one (the non-gold sentence closest to the claim in embedding space). Sentences that
contain the answer itself are never used as negatives. Prints accuracies per kind and source and
writes them to benchmarks/results/verifier.json.

    python benchmarks/bench_verifier.py [--dev PATH] [--max-words 8] [--threshold T]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.citations import Verifier  # noqa: E402
from assistant.documents import content_hash  # noqa: E402
from assistant.embedding import Encoder  # noqa: E402
from assistant.sentences import split_document  # noqa: E402
from assistant.types import Document  # noqa: E402

AUX = r"(is|was|are|were|did|does|do|has|have|had|can|could|will|would|should)"


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


def overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    inter = min(a[1], b[1]) - max(a[0], b[0])
    return inter >= 0.5 * min(a[1] - a[0], b[1] - b[0])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", type=Path, default=REPO.parent / "shared" / "eval" / "dev.jsonl")
    ap.add_argument("--max-words", type=int, default=8, help="longest gold answer used")
    ap.add_argument("--threshold", type=float, default=None)
    ap.add_argument("--show", type=int, default=0, help="print this many failures of each kind")
    ap.add_argument("--question-aware", action="store_true",
                    help="the stricter verifier that weighs what the claim adds to the question")
    args = ap.parse_args()

    encoder = Encoder()
    verifier = Verifier.question_aware(encoder) if args.question_aware else Verifier(encoder)
    if args.threshold is not None:
        verifier.threshold = args.threshold
    rng = random.Random(4)
    rows = [json.loads(line) for line in args.dev.read_text().splitlines() if line.strip()]
    results = {"pos": [], "rand": [], "hard": []}
    failures: dict[str, list] = {k: [] for k in results}
    started = time.perf_counter()
    for row in rows:
        answers = [a for a in row["answers"] if a.strip() and len(a.split()) <= args.max_words]
        if not answers:
            continue
        answer = answers[0]
        doc = Document(row["doc_id"], row["document"], content_hash(row["document"]),
                       row.get("title", ""))
        sents = split_document(doc)
        gold_spans = []
        for g in row["gold_sentences"]:
            at = row["document"].find(g)
            if at >= 0:
                gold_spans.append((at, at + len(g)))
        if not gold_spans:
            continue
        claim = statement(row["question"], answer)
        title = row.get("title", "")
        gold_texts = [row["document"][a:b] for a, b in gold_spans]
        norm_answer = answer.lower()
        negatives = [s for s in sents
                     if not any(overlaps((s.char_start, s.char_end), g) for g in gold_spans)
                     and norm_answer not in s.text.lower()]
        source = row["id"].split(":")[0]
        verdict = verifier.verify(claim, dict(enumerate(gold_texts, 1)),
                                  {i: title for i in range(1, len(gold_texts) + 1)},
                                  question=row["question"])
        results["pos"].append((source, verdict.supported))
        if not verdict.supported:
            failures["pos"].append((claim, gold_texts, verdict.support))
        if not negatives:
            continue
        neg_random = rng.choice(negatives)
        vecs = encoder.encode([claim, *[s.text for s in negatives]])
        neg_hard = negatives[int((vecs[1:] @ vecs[0]).argmax())]
        for kind, neg in (("rand", neg_random), ("hard", neg_hard)):
            v = verifier.verify(claim, {1: neg.text}, {1: title}, question=row["question"])
            results[kind].append((source, not v.supported))
            if v.supported:
                failures[kind].append((claim, [neg.text], v.support))
    elapsed = time.perf_counter() - started

    names = {"pos": "claim vs gold sentence(s), judged supported",
             "rand": "claim vs random other sentence, judged unsupported",
             "hard": "claim vs closest other sentence, judged unsupported"}
    report = {"question_aware": args.question_aware, "threshold": verifier.threshold,
              "max_words": args.max_words,
              "seconds": round(elapsed, 1)}
    mode = "question-aware" if args.question_aware else "default"
    print(f"verifier ({mode}) threshold {verifier.threshold}, answers of at most "
          f"{args.max_words} words")
    for kind, rows_ in results.items():
        acc = sum(ok for _, ok in rows_) / max(len(rows_), 1)
        per = {}
        for src in sorted({s for s, _ in rows_}):
            sub = [ok for s, ok in rows_ if s == src]
            per[src] = round(sum(sub) / len(sub), 3)
        report[kind] = {"n": len(rows_), "accuracy": round(acc, 3), "per_source": per}
        print(f"{names[kind]}: {acc:.3f} of {len(rows_)}  {per}")
    print(f"({elapsed:.1f} s)")
    for kind in failures:
        for claim, texts, score in failures[kind][: args.show]:
            shown = " | ".join(t[:160] for t in texts)
            print(f"\n[{kind} fail {score:.3f}] {claim}\n   vs {shown}")
    name = "verifier-question-aware.json" if args.question_aware else "verifier.json"
    out = REPO / "benchmarks" / "results" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
