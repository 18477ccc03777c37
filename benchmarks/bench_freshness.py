"""Freshness figures (issue 16): what the stale check costs per answer, and how long a moved
folder takes to re-index against its first ingest.

1. Stale check per answer: `Assistant.mark_stale` on an answer's three citations (the code path
   `ask` runs), over an index of 1k and of 100k documents, each a real file on disk. The catalog
   is filled directly (one SQLite transaction) so that the 100k case does not need 100k ingests.
   Cases: files up to date (one stat each), and files edited (the size differs).
2. Move: ingest a 100-document folder, move it, ingest it again (vectors reused by content).

    python benchmarks/bench_freshness.py [--sizes 1000 100000] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from assistant.catalog import Catalog  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.documents import byte_hash  # noqa: E402
from assistant.sentences import doc_id_for  # noqa: E402
from assistant.service import Assistant  # noqa: E402
from assistant.store import catalog_path  # noqa: E402
from assistant.types import (
    Citation,  # noqa: E402
    Sentence,  # noqa: E402
)


def _fill(root: Path, n: int) -> tuple[Settings, list[str]]:
    """n files on disk and a catalog recording them (one sentence each), filled directly."""
    files = root / "files"
    files.mkdir()
    settings = Settings(index_dir=root / "index", data_dir=root / "data")
    catalog = Catalog(catalog_path(settings))
    paths, docs = [], []
    for i in range(n):
        path = files / f"{i // 1000:03}" / f"doc-{i}.txt"
        path.parent.mkdir(exist_ok=True)
        data = f"Document {i} says something about item {i}.\n".encode()
        path.write_bytes(data)
        st = path.stat()
        key = str(path)
        paths.append(key)
        docs.append((key, doc_id_for(key), f"h{i}", f"doc-{i}", "", 1, "text", st.st_size,
                     st.st_mtime_ns, byte_hash(data), "2026-01-01T00:00:00+00:00", None))
    with catalog._db:
        catalog._db.executemany(
            "INSERT INTO docs (path, doc_id, content_hash, title, text, n_sentences, format, "
            "size, mtime_ns, byte_hash, indexed_at, pages) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            docs)
    catalog.close()
    return settings, paths


def _citations(paths: list[str], rng: random.Random) -> list[Citation]:
    out = []
    for n, path in enumerate(rng.sample(paths, 3), 1):
        s = Sentence(id=f"{doc_id_for(path)}-x-0", doc_id=doc_id_for(path), path=path, index=0,
                     char_start=0, char_end=10, line=1, text="Document", doc_hash="h")
        out.append(Citation(n, s, 0.5))
    return out


def _time_checks(assistant: Assistant, paths: list[str], trials: int) -> list[float]:
    rng = random.Random(7)
    times = []
    for _ in range(trials):
        cited = _citations(paths, rng)
        t0 = time.perf_counter()
        assistant.mark_stale(cited)
        times.append((time.perf_counter() - t0) * 1000)
    return times


def _p(times: list[float]) -> str:
    q = statistics.quantiles(times, n=100)
    return f"p50 {statistics.median(times):.3f} ms, p95 {q[94]:.3f} ms"


def bench_check(n: int, trials: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-fresh-") as tmp:
        settings, paths = _fill(Path(tmp), n)
        assistant = Assistant(settings)
        _ = assistant.index
        fresh = _time_checks(assistant, paths, trials)
        for path in paths[: max(1, n // 10)]:  # a tenth edited (another size)
            Path(path).write_text("Edited since it was indexed, and longer now.\n")
        edited_paths = paths[: max(1, n // 10)]
        edited = _time_checks(assistant, edited_paths, trials)
        check = _citations(edited_paths, random.Random(1))
        assistant.mark_stale(check)
        assert all(c.stale_reason == "changed" for c in check)  # the check sees the edits
        assistant.close()
    print(f"stale check, {n} documents: up to date {_p(fresh)}; edited {_p(edited)}")
    return {"documents": n, "up_to_date_ms": fresh, "edited_ms": edited}


def bench_move(n_docs: int = 100) -> dict:
    from assistant.embedding import Encoder

    base = Path(__file__).resolve().parent.parent / "seeds"
    seed = next(base.glob("*.txt")).read_text(encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="bench-move-") as tmp:
        root = Path(tmp)
        first = root / "first"
        first.mkdir()
        for i in range(n_docs):
            (first / f"doc-{i:03}.txt").write_text(f"Copy {i} of the article.\n\n{seed}")
        assistant = Assistant(Settings(index_dir=root / "index", data_dir=root / "data"),
                              encoder=Encoder())
        with assistant.index.writing():
            one = assistant.ingestor().ingest_paths([first], 10 * 2**20)
        moved = root / "moved"
        first.rename(moved)
        with assistant.index.writing():
            two = assistant.ingestor().ingest_paths([moved], 10 * 2**20)
        assistant.close()
    print(f"move of a {n_docs}-document folder: first ingest {one.seconds:.2f} s "
          f"({one.summary()}); after the move {two.seconds:.2f} s ({two.summary()}); "
          f"{two.seconds / one.seconds:.1%} of the first")
    return {"first_s": one.seconds, "moved_s": two.seconds,
            "first": one.summary(), "moved": two.summary()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[1000, 100000])
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--out", type=Path, help="also write the figures as JSON here")
    args = parser.parse_args()
    figures = {"check": [bench_check(n, args.trials) for n in args.sizes],
               "move": bench_move()}
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
