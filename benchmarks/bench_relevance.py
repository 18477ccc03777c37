"""What the off-question check (`assistant/relevance.py`) adds to an LLM answer's time: one
cross-encoder batch per answer. The answers are made from dev.jsonl: each question's gold
sentences and its answer as a statement (`verifier_pairs.statement`), up to `--max` sentences,
each read with its document's title, as `GroundedAnswerer.judge_relevance` reads them. The
cross-encoder is the retriever's, already loaded in a session, so its loading is not counted.

    python benchmarks/bench_relevance.py [--dev PATH] [--max 4] [--repeat 3]

Prints the milliseconds per answer (p50, p95) in one batch and, for comparison, one call per
sentence; writes them to benchmarks/results/relevance.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from verifier_pairs import load_rows, statement  # noqa: E402

from assistant.relevance import Relevance  # noqa: E402


def answers(rows: list[dict], most: int) -> list[tuple[str, list[tuple[str, str]]]]:
    out = []
    for row in rows:
        title = row.get("title", "")
        sentences = [g.strip() for g in row["gold_sentences"] if g.strip()]
        short = [a for a in row["answers"] if a.strip() and len(a.split()) <= 8]
        if short:
            sentences.insert(0, statement(row["question"], short[0]))
        if sentences:
            out.append((row["question"], [(s, title) for s in sentences[:most]]))
    return out


def timed(relevance: Relevance, items, batched: bool, repeat: int) -> list[float]:
    ms = []
    for question, sentences in items:
        best = float("inf")
        for _ in range(repeat):  # the best of a few: the cores are shared
            started = time.perf_counter()
            if batched:
                relevance.addresses(question, sentences)
            else:
                for s in sentences:
                    relevance.addresses(question, [s])
            best = min(best, 1000 * (time.perf_counter() - started))
        ms.append(best)
    return ms


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", type=Path, default=REPO.parent / "shared" / "eval" / "dev.jsonl")
    ap.add_argument("--max", type=int, default=4, help="most sentences per answer")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    items = answers(load_rows(args.dev), args.max)
    relevance = Relevance()
    relevance.addresses("warm up", [("The model is loaded.", "")])
    sizes = [len(s) for _, s in items]
    report: dict = {"answers": len(items), "sentences_per_answer": round(float(np.mean(sizes)), 2)}
    print(f"{len(items)} answers of {report['sentences_per_answer']} sentences on average "
          f"(at most {args.max}); best of {args.repeat}")
    for name, batched in (("one batch per answer", True), ("one call per sentence", False)):
        ms = timed(relevance, items, batched, args.repeat)
        row = {"p50_ms": round(float(np.percentile(ms, 50)), 1),
               "p95_ms": round(float(np.percentile(ms, 95)), 1),
               "mean_ms": round(float(np.mean(ms)), 1)}
        report[name] = row
        print(f"  {name:<22} p50 {row['p50_ms']:6.1f} ms  p95 {row['p95_ms']:6.1f} ms  "
              f"mean {row['mean_ms']:6.1f} ms per answer")
    out = REPO / "benchmarks" / "results" / "relevance.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
