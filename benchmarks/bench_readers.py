"""Reader benchmark: PDF parsing speed beside embedding time of the same text, in one run.
Prints the figures and writes them to benchmarks/results/readers.json.

    python benchmarks/bench_readers.py             # the 117-page book and the 141 dev PDFs
    python benchmarks/bench_readers.py --repeat 3  # best of 3 parses

What is measured (files from ../shared, the project's shared data):
- parse: pages/s of `readers.pdf.read` (pdfium, then paragraphs, hyphens, headers) for
  GeoTopo-komprimiert.pdf (117 pages) and for every rendered dev PDF (shared/eval/pdf);
- split + embed: seconds to split the same text into sentences and embed them with the real
  encoder (`encode_documents`, what ingest does), so parse / embed says what parsing costs
  (the goal: at most a quarter of embedding);
- peak memory: max RSS of a child process that only parses the book (the reader's own need,
  without the encoder's).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SHARED = REPO.parent / "shared"
BOOK = SHARED / "fixtures" / "pdf" / "GeoTopo-komprimiert.pdf"
DEV = SHARED / "eval" / "pdf"


def _parse(files: list[Path], repeat: int) -> tuple[float, list]:
    from assistant.readers import pdf

    data = [f.read_bytes() for f in files]
    best, results = float("inf"), []
    for _ in range(repeat):
        t0 = time.perf_counter()
        results = [pdf.read(d) for d in data]
        best = min(best, time.perf_counter() - t0)
    return best, results


def _embed(results: list) -> tuple[float, int]:
    from assistant.documents import make_document
    from assistant.embedding import Encoder
    from assistant.sentences import split_document

    encoder = Encoder()
    encoder.encode_documents([["warm up"]])
    t0 = time.perf_counter()
    docs = [[s.text for s in split_document(make_document(f"d{i}", r.text, format="pdf",
                                                          pages=r.pages))]
            for i, r in enumerate(results)]
    encoder.encode_documents(docs)
    return time.perf_counter() - t0, sum(len(d) for d in docs)


def _peak_parse_mb() -> tuple[float, float]:
    """Max RSS (MB) of a process that parses the book, and of one that only imports."""
    # VmHWM, not ru_maxrss: a child's ru_maxrss starts from the (large) parent's at fork
    rss = ("print(next(int(ln.split()[1]) for ln in open('/proc/self/status') "
           "if ln.startswith('VmHWM')) / 1024)")
    head = f"import sys; sys.path.insert(0, {str(REPO)!r}); import pypdfium2; "
    parse = f"from assistant.readers import pdf; pdf.read(open({str(BOOK)!r}, 'rb').read()); "
    got = [float(subprocess.run([sys.executable, "-c", head + extra + rss], capture_output=True,
                                text=True, check=True).stdout) for extra in (parse, "")]
    return got[0], got[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="best of N parses (default 1)")
    args = parser.parse_args()
    if not BOOK.is_file() or not DEV.is_dir():
        print(f"needs {BOOK} and {DEV}", file=sys.stderr)
        return 2
    out: dict = {}
    for name, files in (("book", [BOOK]), ("dev", sorted(DEV.glob("*.pdf")))):
        parse_s, results = _parse(files, args.repeat)
        pages = sum(len(r.pages) for r in results)
        embed_s, sentences = _embed(results)
        chars = sum(len(r.text) for r in results)
        out[name] = {"files": len(files), "pages": pages, "chars": chars,
                     "parse_s": round(parse_s, 3), "pages_per_s": round(pages / parse_s, 1),
                     "sentences": sentences, "split_embed_s": round(embed_s, 2),
                     "parse_share_of_embed": round(parse_s / embed_s, 3)}
        r = out[name]
        print(f"{name}: {r['files']} files, {r['pages']} pages, {r['chars']} chars: parse "
              f"{r['parse_s']:.2f} s ({r['pages_per_s']:.0f} pages/s); split+embed "
              f"{r['sentences']} sentences {r['split_embed_s']:.1f} s; parse/embed "
              f"{r['parse_share_of_embed']:.3f}")
    peak, base = _peak_parse_mb()
    out["book"]["peak_rss_mb"] = round(peak, 1)
    out["book"]["peak_rss_mb_without_parse"] = round(base, 1)
    print(f"book peak memory: {peak:.0f} MB max RSS parsing it ({base:.0f} MB for Python with "
          f"the reader imported, so {peak - base:.0f} MB for the parse)")
    out["cpu_count"] = os.cpu_count()
    out["self_max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    results_dir = REPO / "benchmarks" / "results"
    results_dir.mkdir(exist_ok=True)
    (results_dir / "readers.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
