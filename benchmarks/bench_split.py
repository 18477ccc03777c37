"""Splitter benchmark: seconds per MB of `sentences.split_spans` for the text shapes that used
to take quadratic time, next to normal prose. Prints a table and writes
benchmarks/results/split-<label>.json.

    python benchmarks/bench_split.py                    # 10 MB of each shape
    python benchmarks/bench_split.py --mb 0.05 --impl old_sentences.py --label before

Shapes: `no-punctuation` (words, no punctuation, no newline: one 10 MB line), `one-word-lines`
(a word per line), `long-sentences` (sentences of ~20,000 characters, no newline), `prose`
(sentences of ~15 words, paragraphs of 5 sentences: the baseline). `--impl` times another copy
of sentences.py (e.g. `git show <commit>:assistant/sentences.py > old.py`); a shape that
exceeds `--budget` seconds is reported as not finished.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import multiprocessing as mp
import random
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice("etaoinshrdlucmfw") for _ in range(rng.randint(2, 9)))
            for _ in range(n)]


def shape(name: str, size: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    vocab = _words(rng, 5000)
    out: list[str] = []
    total = 0
    while total < size:
        if name == "no-punctuation":
            piece = " ".join(rng.choices(vocab, k=200)) + " "
        elif name == "one-word-lines":
            piece = "\n".join(rng.choices(vocab, k=200)) + "\n"
        elif name == "long-sentences":
            piece = " ".join(rng.choices(vocab, k=3500)).capitalize() + ". "
        else:
            sents = [" ".join(rng.choices(vocab, k=15)).capitalize() + "." for _ in range(5)]
            piece = " ".join(sents) + "\n\n"
        out.append(piece)
        total += len(piece)
    return "".join(out)[:size]


def _load(impl: str | None):
    if impl is None:
        from assistant import sentences

        return sentences
    spec = importlib.util.spec_from_file_location("bench_sentences", impl)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_sentences"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _run(impl: str | None, name: str, size: int, queue) -> None:
    module = _load(impl)
    text = shape(name, size)
    started = time.perf_counter()
    spans = module.split_spans(text)
    queue.put((time.perf_counter() - started, len(spans)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=10.0, help="size of each text, in MB")
    ap.add_argument("--impl", help="a sentences.py to time instead of the installed one")
    ap.add_argument("--label", default="after")
    ap.add_argument("--budget", type=float, default=300.0, help="seconds per shape at most")
    ap.add_argument("--shapes", default="no-punctuation,one-word-lines,long-sentences,prose")
    args = ap.parse_args()
    size = int(args.mb * 1_000_000)
    rows = []
    print(f"{'shape':<16} {'MB':>6} {'seconds':>9} {'s/MB':>8} {'sentences':>10}")
    for name in args.shapes.split(","):
        queue = mp.get_context("fork").Queue()
        proc = mp.get_context("fork").Process(target=_run, args=(args.impl, name, size, queue))
        proc.start()
        proc.join(args.budget)
        if proc.exitcode not in (0, None):
            raise SystemExit(f"{name}: the splitter failed (exit code {proc.exitcode})")
        if proc.is_alive():
            proc.kill()
            proc.join()
            row = {"shape": name, "mb": args.mb, "seconds": None, "s_per_mb": None,
                   "sentences": None, "note": f"not finished in {args.budget:.0f} s"}
            print(f"{name:<16} {args.mb:>6.2f} {'>' + str(int(args.budget)):>9} {'-':>8} "
                  f"{'-':>10}  (not finished)")
        else:
            seconds, n = queue.get()
            row = {"shape": name, "mb": args.mb, "seconds": round(seconds, 3),
                   "s_per_mb": round(seconds / args.mb, 3), "sentences": n}
            print(f"{name:<16} {args.mb:>6.2f} {seconds:>9.2f} {seconds / args.mb:>8.2f} "
                  f"{n:>10}")
        rows.append(row)
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"split-{args.label}.json"
    out.write_text(json.dumps({"label": args.label, "impl": args.impl or "assistant.sentences",
                               "rows": rows}, indent=2) + "\n")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
