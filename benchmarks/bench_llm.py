"""Time to first token and total time through a real llama.cpp server (SmolLM2-135M-Instruct),
on questions about the seed article, end to end through `Assistant.ask` (retrieval, the model,
verification). Prints one line per question and a summary; writes benchmarks/results/llm.json.

    python benchmarks/bench_llm.py [--threads 2] [--max-tokens 120] [--repeat 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.config import Settings  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from tests.llm_server import MODEL_NAME, LlamaServer  # noqa: E402

QUESTIONS = [
    "How many North Korean soldiers were sent to Russia?",
    "What was the earlier estimate of North Korean soldiers in Russia?",
    "Who is the Pentagon spokesperson quoted about the troops?",
    "What did Yoon Suk-yeol call the military collaboration between Russia and North Korea?",
    "How did NATO Secretary-General Mark Rutte characterize the deployment?",
    "Where have some of the North Korean troops moved?",
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=120)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()

    root = Path(tempfile.mkdtemp(prefix="bench-llm-"))
    rows = []
    t0 = time.perf_counter()
    with LlamaServer(threads=args.threads) as server:
        started = time.perf_counter() - t0
        settings = Settings(index_dir=root / "index", data_dir=root / "data", llm="openai",
                            base_url=server.base_url, model=MODEL_NAME,
                            max_tokens=args.max_tokens, timeout=600)
        assistant = Assistant(settings)
        with assistant.index.writing():
            assistant.ingestor().ingest_paths([REPO / "seeds"], max_bytes=10 * 2**20)
        assistant.ask("What did Putin confirm?")  # warm-up: load the encoder and the model
        print(f"server ready in {started:.1f} s; {len(QUESTIONS)} questions x {args.repeat}, "
              f"max_tokens {args.max_tokens}, {args.threads} threads")
        for _ in range(args.repeat):
            for q in QUESTIONS:
                tokens: list[str] = []
                t = time.perf_counter()
                answer = assistant.ask(q, on_token=tokens.append)
                total = (time.perf_counter() - t) * 1000
                row = {"question": q, "answerer": answer.answerer, "found": answer.found,
                       "first_token_ms": answer.timings.get("first_token_ms"),
                       "llm_ms": answer.timings.get("llm_ms"), "total_ms": total,
                       "tokens": len(tokens),
                       "supported": sum(bool(s.supported) for s in answer.sentences),
                       "sentences": len(answer.sentences)}
                rows.append(row)
                ttft = row["first_token_ms"]
                print(f"  ttft {ttft or 0:7.0f} ms  total {total:7.0f} ms  "
                      f"{len(tokens):3d} tokens  {row['supported']}/{row['sentences']} "
                      f"supported  [{answer.answerer}] {q}")
        assistant.close()
    ttfts = [r["first_token_ms"] for r in rows if r["first_token_ms"] is not None]
    totals = [r["total_ms"] for r in rows]
    summary = {
        "questions": len(rows),
        "first_token_ms_median": round(statistics.median(ttfts), 1) if ttfts else None,
        "first_token_ms_max": round(max(ttfts), 1) if ttfts else None,
        "total_ms_median": round(statistics.median(totals), 1),
        "total_ms_max": round(max(totals), 1),
        "fell_back_to_offline": sum(r["answerer"] == "offline" for r in rows),
    }
    print("summary:", json.dumps(summary))
    out = REPO / "benchmarks" / "results" / "llm.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
