"""Reading speed of the DOCX, HTML and EPUB readers, beside embedding the same documents.

    python benchmarks/bench_readers_web.py            # ../shared/eval/docx and html (141 files)
    python benchmarks/bench_readers_web.py --no-embed # reading only

Each format: every file read from memory (sniff + read, best of --repeat runs), docs/s and
MB/s of file bytes, plus the sentences split from the text. EPUB: there is no rendered EPUB in
the eval data, so the eval HTML pages are packed ten chapters to a book with zipfile (the
layout pandoc writes: mimetype, container.xml, OPF with a spine). Embedding: the same
documents' sentences through `Encoder.encode_documents` (what ingest calls), once, so that
reading can be compared with what ingest spends anyway. Writes
benchmarks/results/readers_web.json.
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
EVAL = REPO.parent / "shared" / "eval"

from assistant import readers  # noqa: E402
from assistant.sentences import split_spans  # noqa: E402

OPF = """<?xml version="1.0" encoding="UTF-8"?>
<package version="3.0" xmlns="http://www.idpf.org/2007/opf" unique-identifier="id">
 <metadata xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:identifier id="id">b{n}</dc:identifier>
  <dc:title>Book {n}</dc:title></metadata>
 <manifest>{items}</manifest><spine>{refs}</spine></package>"""
CONTAINER = """<?xml version="1.0"?>
<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">
 <rootfiles><rootfile full-path="EPUB/content.opf" media-type="application/oebps-package+xml"/>
 </rootfiles></container>"""


def pack_epubs(pages: list[bytes], per_book: int = 10) -> list[bytes]:
    books = []
    for n in range(0, len(pages), per_book):
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
            z.writestr("META-INF/container.xml", CONTAINER)
            chapters = pages[n : n + per_book]
            items = "".join(f'<item id="c{i}" href="text/c{i}.xhtml" '
                            f'media-type="application/xhtml+xml"/>' for i in range(len(chapters)))
            refs = "".join(f'<itemref idref="c{i}"/>' for i in range(len(chapters)))
            z.writestr("EPUB/content.opf", OPF.format(n=n, items=items, refs=refs))
            for i, page in enumerate(chapters):
                z.writestr(f"EPUB/text/c{i}.xhtml", page)
        books.append(out.getvalue())
    return books


def measure(fmt: str, files: list[bytes], suffix: str, repeat: int) -> dict:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        results = [readers.read(data, readers.sniff(data, suffix)) for data in files]
        best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter()
    sentences = [[r.text[s:e] for s, e, _ in split_spans(r.text)] for r in results]
    split_s = time.perf_counter() - t0
    size = sum(len(d) for d in files)
    return {"format": fmt, "files": len(files), "mb": round(size / 2**20, 3),
            "read_s": round(best, 4), "docs_per_s": round(len(files) / best, 1),
            "mb_per_s": round(size / 2**20 / best, 2),
            "sentences": sum(map(len, sentences)), "split_s": round(split_s, 3),
            "_sentences": sentences}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-embed", action="store_true")
    args = ap.parse_args()
    docx = [p.read_bytes() for p in sorted((EVAL / "docx").glob("*.docx"))]
    html = [p.read_bytes() for p in sorted((EVAL / "html").glob("*.html"))]
    if not docx or not html:
        sys.exit(f"needs the rendered eval documents in {EVAL}/docx and {EVAL}/html")
    rows = [measure("docx", docx, ".docx", args.repeat), measure("html", html, ".html",
                                                                args.repeat),
            measure("epub", pack_epubs(html), ".epub", args.repeat)]
    embed_s = None
    if not args.no_embed:
        from assistant.embedding import Encoder

        encoder = Encoder()
        documents = rows[0]["_sentences"] + rows[1]["_sentences"]
        encoder.encode_documents(documents[:2])  # warm-up
        t0 = time.perf_counter()
        encoder.encode_documents(documents)
        embed_s = time.perf_counter() - t0
    for row in rows:
        row.pop("_sentences")
        print(f"{row['format']:5} {row['files']:4} files {row['mb']:7.2f} MB  "
              f"{row['docs_per_s']:8.1f} docs/s  {row['mb_per_s']:6.2f} MB/s  "
              f"read {row['read_s'] * 1000:7.1f} ms  split {row['split_s'] * 1000:7.1f} ms  "
              f"({row['sentences']} sentences)")
    out = {"readers": rows}
    if embed_s is not None:
        read_s = rows[0]["read_s"] + rows[1]["read_s"]
        n = rows[0]["sentences"] + rows[1]["sentences"]
        print(f"embedding the DOCX and HTML documents' {n} sentences: {embed_s:.2f} s; "
              f"reading them: {read_s:.3f} s ({100 * read_s / embed_s:.1f}% of embedding)")
        out["embed_s"] = round(embed_s, 3)
        out["read_share_of_embed"] = round(read_s / embed_s, 4)
    results = REPO / "benchmarks" / "results"
    results.mkdir(exist_ok=True)
    (results / "readers_web.json").write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
