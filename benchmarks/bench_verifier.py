"""Does the verifier check support or only similarity? Before (the pre-17 verifier, frozen in
legacy_verifier.py) and after (assistant.support.Verifier and its support model)
on the (claim, evidence) pairs of verifier_pairs.py from the held-out "test" half of the
documents (the fit never saw them):

- perturbed claims (a name swapped, a number changed, a negation, an opposite word), which
  should be unsupported (goal >= 0.95);
- true claims (the sentence, a clause, reordered parts, the question's answer as a statement),
  which should be supported (goal >= 0.90);
- the statement against another sentence of its document (random, closest), unsupported;

and the milliseconds per claim (one `verify` call: encoding the claim and its sentence included).
Writes the figures to benchmarks/results/verifier.json.

    python benchmarks/bench_verifier.py [--dev PATH] [--split test|tune|all] [--show N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from legacy_verifier import LegacyVerifier  # noqa: E402
from verifier_pairs import (  # noqa: E402
    OTHER_KINDS,
    PERTURBED_KINDS,
    TRUE_KINDS,
    build_pairs,
    load_rows,
)

from assistant.embedding import Encoder  # noqa: E402
from assistant.support import Verifier  # noqa: E402

GROUPS = {"perturbed": ("perturbed claims judged unsupported", 0.95),
          "true": ("true claims judged supported", 0.90),
          "other": ("claims against another sentence judged unsupported", None)}


def judge(verifier, pairs) -> tuple[list[bool], float]:
    """Whether each pair was judged right, and the milliseconds per claim."""
    verifier.encoder.encode(["warm up"])
    right = []
    started = time.perf_counter()
    for p in pairs:
        v = verifier.verify(p.claim, {1: p.evidence}, {1: p.title}, question=p.question)
        right.append(v.supported == bool(p.label))
    return right, 1000 * (time.perf_counter() - started) / max(len(pairs), 1)


def rate(right: list[bool], pairs, keep) -> tuple[float | None, int]:
    sub = [r for r, p in zip(right, pairs, strict=True) if keep(p)]
    return (round(sum(sub) / len(sub), 3) if sub else None), len(sub)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", type=Path, default=REPO.parent / "shared" / "eval" / "dev.jsonl")
    ap.add_argument("--split", choices=("test", "tune", "all"), default="test",
                    help="which half of the documents (the fit used 'tune')")
    ap.add_argument("--show", type=int, default=0, help="print this many misjudged pairs")
    args = ap.parse_args()

    encoder = Encoder()
    pairs = [p for p in build_pairs(load_rows(args.dev), encoder)
             if args.split == "all" or p.split == args.split]
    verifiers = {"before": LegacyVerifier(encoder), "after": Verifier(encoder)}
    results = {name: judge(v, pairs) for name, v in verifiers.items()}
    docs = len({p.doc_id for p in pairs})
    print(f"{len(pairs)} pairs from {docs} documents ({args.split} half of {args.dev.name})")
    print(f"{'':<52} {'before':>7} {'after':>7} {'goal':>6}")
    report: dict = {"split": args.split, "pairs": len(pairs), "documents": docs}
    for group, (label, goal) in GROUPS.items():
        row = {name: rate(right, pairs, lambda p, g=group: p.group == g)
               for name, (right, _) in results.items()}
        n = row["after"][1]
        goal_s = f">={goal}" if goal else ""
        print(f"{label + f' (n={n})':<52} {row['before'][0]:>7} {row['after'][0]:>7} "
              f"{goal_s:>6}")
        report[group] = {"n": n, "before": row["before"][0], "after": row["after"][0],
                         "goal": goal}
    print("by kind:")
    for kind in (*TRUE_KINDS, *PERTURBED_KINDS, *OTHER_KINDS):
        row = {name: rate(right, pairs, lambda p, k=kind: p.kind == k)
               for name, (right, _) in results.items()}
        if row["after"][1]:
            label = f"{kind} (n={row['after'][1]})"
            print(f"  {label:<50} {row['before'][0]:>7} {row['after'][0]:>7}")
            report[kind] = {"n": row["after"][1], "before": row["before"][0],
                            "after": row["after"][0]}
    ms = {name: round(t, 2) for name, (_, t) in results.items()}
    print(f"{'ms per claim':<52} {ms['before']:>7} {ms['after']:>7}")
    report["ms_per_claim"] = ms
    right_after = results["after"][0]
    wrong = [p for p, r in zip(pairs, right_after, strict=True) if not r]
    for p in wrong[: args.show]:
        print(f"\n[{p.kind}, label {p.label}] {p.claim}\n   vs {p.evidence[:200]}")
    out = REPO / "benchmarks" / "results" / "verifier.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
