"""Store benchmark: ingest and query at N sentences (default 100,000), embedded and through a
Chroma server started on loopback. Prints the figures and writes them to
benchmarks/results/store-<mode>-<N>.json.

    python benchmarks/bench_store.py                 # both modes, 100k sentences
    python benchmarks/bench_store.py --mode embedded --sentences 20000

What is measured:
- storing: sentences/s through `SentenceIndex.replace_many` (the real write path: Chroma add
  via LlamaIndex, one catalog commit per document), documents of 20 sentences, ~140 sentences
  per call (the ingest's batch is 128 sentences); `--per-doc` stores with one `replace` call
  per document instead (what `Ingestor` does today). The
  vectors are precomputed, not embedded: the real MiniLM vectors of the dev-set sentences
  (encoded once, ~1,700), each copied with small Gaussian noise and re-normalised to reach N,
  with the packed token states of the sentence it copies (as ingest stores them).
  Embedding speed is the encoder's own figure (~115 sentences/s on 2 cores), not the store's.
- query: latency of `vector_search(k=8)` + `lexical_search(k=8)` (what the retriever asks of
  the store) for real dev-set questions, p50/p95; and the full `HybridRetriever.search`
  (question embedding included), p50/p95.
- rebuild (embedded): seconds to rebuild Chroma from the catalog, the crash-recovery path.
- peak memory: max RSS of the benchmark process (and of the Chroma server, for the server).
Each mode runs in its own process so peak memory is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
EVAL_DEV = REPO.parent / "shared" / "eval" / "dev.jsonl"
RESULTS = REPO / "benchmarks" / "results"
PER_DOC = 20


def _peak_rss_mb(pid: int | None = None) -> float:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _corpus(n: int, encoder) -> tuple[list[str], np.ndarray, list[bytes], list[str]]:
    """n sentence texts, vectors (real dev-set vectors with noise) and packed token states (of
    the dev sentence each one copies), and dev questions."""
    from assistant.documents import make_document
    from assistant.sentences import split_document

    texts: list[str] = []
    questions: list[str] = []
    seen: set[str] = set()
    with EVAL_DEV.open(encoding="utf-8") as f:
        for line in f:
            item = json.loads(line)
            questions.append(item["question"])
            if item["doc_id"] not in seen:
                seen.add(item["doc_id"])
                doc = make_document(f"/dev/{item['doc_id']}", item["document"])
                texts.extend(s.text for s in split_document(doc))
    base, packed = encoder.encode_with_tokens(texts)
    rng = np.random.default_rng(0)
    pick = np.arange(n) % len(texts)
    vectors = base[pick] + rng.normal(0, 0.02, (n, base.shape[1])).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    out_texts = [f"{texts[i]} (copy {j // len(texts)})" for j, i in enumerate(pick)]
    return out_texts, vectors.astype(np.float32), [packed[i] for i in pick], questions


def _documents(texts: list[str]):
    """Documents of PER_DOC sentences, with spans that match their text."""
    from assistant.catalog import DocRecord
    from assistant.documents import content_hash
    from assistant.sentences import doc_id_for, sentence_id
    from assistant.types import Sentence

    for start in range(0, len(texts), PER_DOC):
        chunk = texts[start : start + PER_DOC]
        path = f"/bench/doc-{start // PER_DOC:06d}.txt"
        text = "\n".join(chunk) + "\n"
        digest = content_hash(text)
        doc_id = doc_id_for(path)
        sentences, pos = [], 0
        for i, t in enumerate(chunk):
            sentences.append(Sentence(sentence_id(doc_id, digest, i), doc_id, path, i, pos,
                                      pos + len(t), i + 1, t, digest, ""))
            pos += len(t) + 1
        yield (DocRecord(path, doc_id, digest, Path(path).stem, text, len(chunk)), sentences,
               start)


def run_mode(mode: str, n: int, n_queries: int, per_doc: bool = False) -> dict:
    from assistant.config import Settings
    from assistant.embedding import Encoder
    from assistant.retrieve import HybridRetriever
    from assistant.store import SentenceIndex

    encoder = Encoder()
    texts, vectors, tokens, questions = _corpus(n, encoder)
    questions = questions[:n_queries]
    qvecs = encoder.encode(questions)
    figures: dict = {"mode": mode, "sentences": n, "queries": len(questions),
                     "write_calls": "one per document" if per_doc else "~140 sentences each",
                     "vectors": "precomputed (dev-set MiniLM vectors + noise)"}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        root = Path(tmp)
        server = None
        if mode == "server":
            from tests.chroma_server import chroma_server

            server = chroma_server(root / "chroma-server")
            url = server.__enter__()
            settings = Settings(index_dir=root / "index", data_dir=root / "data",
                                chroma_url=url)
        else:
            settings = Settings(index_dir=root / "index", data_dir=root / "data")
        try:
            index = SentenceIndex(settings)
            started = time.perf_counter()
            last = started
            batch: list = []
            states: dict[str, bytes] = {}
            with index.writing():
                for record, sentences, start in _documents(texts):
                    batch.append((record, sentences, vectors[start : start + len(sentences)]))
                    states.update((x.id, tokens[start + i]) for i, x in enumerate(sentences))
                    if per_doc or len(batch) * PER_DOC >= 128 or start + PER_DOC >= n:
                        index.replace_many(batch, states)
                        batch, states = [], {}
                    if time.perf_counter() - last > 10:
                        last = time.perf_counter()
                        rate = (start + len(sentences)) / (last - started)
                        print(f"  {mode}: {start + len(sentences)} stored, {rate:.0f}/s",
                              flush=True)
            seconds = time.perf_counter() - started
            figures["store_seconds"] = round(seconds, 1)
            figures["store_sentences_per_s"] = round(n / seconds, 1)
            assert index.count() == n and index.chroma.count() == n

            index.close()  # queries from a freshly opened index, as `assistant ask` does
            t0 = time.perf_counter()
            index = SentenceIndex(settings)
            figures["open_ms"] = round((time.perf_counter() - t0) * 1000, 1)
            for q, v in zip(questions[:5], qvecs[:5], strict=False):  # warm up
                index.vector_search(v, 8)
                index.lexical_search(q, 8)
            store_ms: list[float] = []
            vector_ms: list[float] = []
            for q, v in zip(questions, qvecs, strict=True):
                t0 = time.perf_counter()
                index.vector_search(v, 8)
                t1 = time.perf_counter()
                index.lexical_search(q, 8)
                t2 = time.perf_counter()
                vector_ms.append((t1 - t0) * 1000)
                store_ms.append((t2 - t0) * 1000)
            retriever = HybridRetriever(index, encoder)
            full_ms: list[float] = []
            for q in questions:
                t0 = time.perf_counter()
                retriever.search(q, 8)
                full_ms.append((time.perf_counter() - t0) * 1000)
            for name, values in (("vector_query", vector_ms), ("store_query", store_ms),
                                 ("retrieve", full_ms)):
                figures[f"{name}_p50_ms"] = round(_pct(values, 50), 1)
                figures[f"{name}_p95_ms"] = round(_pct(values, 95), 1)
            if mode == "embedded":
                t0 = time.perf_counter()
                with index.writing():
                    index.rebuild()
                figures["rebuild_from_catalog_s"] = round(time.perf_counter() - t0, 1)
                assert index.chroma.count() == n
            index.close()
            figures["peak_rss_mb"] = round(_peak_rss_mb(), 0)
            if server is not None:
                proc_pids = _server_pids(settings.chroma_url)
                figures["server_peak_rss_mb"] = round(sum(_peak_rss_mb(p) for p in proc_pids), 0)
            du = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
            figures["disk_mb"] = round(du / 2**20, 0)
        finally:
            if server is not None:
                server.__exit__(None, None, None)
    return figures


def _server_pids(url: str) -> list[int]:
    port = url.rsplit(":", 1)[1]
    pids = []
    for status in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            cmd = status.read_bytes().split(b"\0")
        except OSError:
            continue
        if b"run" in cmd and port.encode() in cmd and any(c.endswith(b"chroma") for c in cmd):
            pids.append(int(status.parent.name))
    return pids


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=["embedded", "server", "both"], default="both")
    parser.add_argument("--sentences", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--per-doc", action="store_true",
                        help="one replace() per document (as the ingest does today)")
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.mode == "both":
        for mode in ("embedded", "server"):
            code = subprocess.call([sys.executable, __file__, "--mode", mode, "--sentences",
                                    str(args.sentences), "--queries", str(args.queries),
                                    *(["--per-doc"] if args.per_doc else [])])
            if code:
                return code
        return 0
    figures = run_mode(args.mode, args.sentences, args.queries, args.per_doc)
    figures["cpu_count"] = os.cpu_count()
    figures["when"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    suffix = "-per-doc" if args.per_doc else ""
    out = RESULTS / f"store-{args.mode}-{args.sentences}{suffix}.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
