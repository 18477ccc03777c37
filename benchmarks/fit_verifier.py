"""Fit the verifier's support model (assistant/support.py) on the "tune" half of the documents.

    python benchmarks/fit_verifier.py [--dev ../shared/eval/dev.jsonl] [--target 0.93]

Builds the (claim, evidence) pairs of benchmarks/verifier_pairs.py (MiniLM finds each
statement's closest other sentence), computes the named features of each
(`assistant.support.features`), fits a logistic regression (Newton's method, L2; the two
classes weighted equally, and each kind of pair equally within its class) on the pairs of the
tune documents only, and picks the threshold that judges the tune half's three groups best on
average while keeping at least `--target` of its true claims supported (`pick_threshold`).
Writes the weights, by feature name, with their provenance to assistant/data/verifier.json, and
prints the figures of both halves (the test half is held out: its documents were never seen by
the fit). `bench_verifier.py` measures the shipped verifier end to end on the test half.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from verifier_pairs import Pair, build_pairs, load_rows  # noqa: E402

from assistant.embedding import Encoder  # noqa: E402
from assistant.support import FEATURES, MODEL_FILE, features  # noqa: E402


def feature_matrix(pairs: list[Pair]) -> np.ndarray:
    rows = []
    for p in pairs:
        f = features(p.claim, p.evidence, p.question, p.title)
        rows.append([f[name] for name in FEATURES])
    return np.array(rows, dtype=np.float64)


def kind_weights(kinds: list[str], y: np.ndarray) -> np.ndarray:
    """Each class half the weight, and within a class each kind of pair an equal share: the
    few question-and-answer statements count as much as the many copied sentences."""
    kinds_ = np.array(kinds)
    weight = np.zeros(len(kinds_))
    for label in (0, 1):
        present = sorted(set(kinds_[y == label]))
        for kind in present:
            mask = (kinds_ == kind) & (y == label)
            weight[mask] = 0.5 * len(kinds_) / (len(present) * mask.sum())
    return weight


def fit_logistic(X: np.ndarray, y: np.ndarray, weight: np.ndarray,
                 l2: float = 1.0) -> tuple[np.ndarray, float]:
    """Weights and bias on the raw features (standardised inside, for a well-posed Newton)."""
    mu, sd = X.mean(0), X.std(0) + 1e-9
    Z = np.hstack([(X - mu) / sd, np.ones((len(X), 1))])
    w = np.zeros(Z.shape[1])
    reg = np.full(Z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(50):
        p = 1 / (1 + np.exp(-(Z @ w)))
        grad = Z.T @ (weight * (p - y)) + reg * w
        hess = (Z * (weight * p * (1 - p))[:, None]).T @ Z + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    coef = w[:-1] / sd
    return coef, float(w[-1] - coef @ mu)


def pick_threshold(pairs: list[Pair], prob: np.ndarray, target: float) -> float:
    """The threshold that judges the three groups (true claims, perturbed claims, claims against
    another sentence) best on average, among those that keep at least `target` of the true
    claims supported; the middle of the best range, not its edge (where many near-copies sit at
    one probability, an edge would turn on a single word)."""
    grid = np.round(np.arange(0.05, 0.96, 0.005), 3)
    labels = np.array([p.label for p in pairs]) == 1
    groups = [np.array([p.group == g for p in pairs]) for g in ("true", "perturbed", "other")]
    scores = []
    for t in grid:
        right = (prob >= t) == labels
        rates = [float(right[g].mean()) for g in groups]
        scores.append(float(np.mean(rates)) if rates[0] >= target else -1.0)
    best = grid[np.array(scores) >= max(scores) - 0.002]
    return round(float(np.median(best)), 4)


def figures(pairs: list[Pair], prob: np.ndarray, threshold: float) -> dict:
    out = {}
    for group in ("true", "perturbed", "other"):
        idx = [i for i, p in enumerate(pairs) if p.group == group]
        ok = [(prob[i] >= threshold) == bool(pairs[i].label) for i in idx]
        out[group] = round(float(np.mean(ok)), 3) if ok else None
    for kind in sorted({p.kind for p in pairs}):
        idx = [i for i, p in enumerate(pairs) if p.kind == kind]
        out[kind] = round(float(np.mean([(prob[i] >= threshold) == bool(pairs[i].label)
                                         for i in idx])), 3)
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", type=Path, default=REPO.parent / "shared" / "eval" / "dev.jsonl")
    ap.add_argument("--target", type=float, default=0.93,
                    help="least share of the tune half's true claims to keep supported")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--dry-run", action="store_true", help="print, do not write the model")
    args = ap.parse_args()

    encoder = Encoder()
    pairs = build_pairs(load_rows(args.dev), encoder)
    X = feature_matrix(pairs)
    y = np.array([p.label for p in pairs], dtype=np.float64)
    tune = np.array([p.split == "tune" for p in pairs])
    tune_kinds = [p.kind for p, t in zip(pairs, tune, strict=True) if t]
    coef, bias = fit_logistic(X[tune], y[tune], kind_weights(tune_kinds, y[tune]), args.l2)
    prob = 1 / (1 + np.exp(-(X @ coef + bias)))
    tune_pairs = [p for p, t in zip(pairs, tune, strict=True) if t]
    threshold = pick_threshold(tune_pairs, prob[tune], args.target)
    test_pairs = [p for p, t in zip(pairs, tune, strict=True) if not t]
    report = {
        "tune": figures(tune_pairs, prob[tune], threshold),
        "test": figures(test_pairs, prob[~tune], threshold),
    }
    print(f"{len(tune_pairs)} tune pairs ({len({p.doc_id for p in tune_pairs})} documents), "
          f"{len(test_pairs)} test pairs ({len({p.doc_id for p in test_pairs})} documents)")
    print(f"threshold {threshold} (best mean of the three groups on the tune half, keeping "
          f">= {args.target} of its true claims supported)")
    for name, w in zip(FEATURES, coef, strict=True):
        print(f"  {name:<16} {w:+.3f}")
    print(f"  {'bias':<16} {bias:+.3f}")
    for half, figs in report.items():
        print(f"{half}: " + "  ".join(f"{k} {v}" for k, v in figs.items()))
    model = {
        "about": "Logistic support model of assistant/support.py: P(supported) = "
                 "sigmoid(bias + sum(weight[f] * feature f)). Fitted by "
                 "benchmarks/fit_verifier.py; do not edit by hand.",
        "features": list(FEATURES),
        "weights": {name: round(float(w), 5) for name, w in zip(FEATURES, coef, strict=True)},
        "bias": round(bias, 5),
        "threshold": threshold,
        "weak": round(threshold / 2, 4),
        "provenance": {
            "command": "python benchmarks/fit_verifier.py " + " ".join(sys.argv[1:]),
            "data": f"{args.dev.name}: pairs of benchmarks/verifier_pairs.py from the 'tune' "
                    f"half of its documents ({len(tune_pairs)} pairs, "
                    f"{len({p.doc_id for p in tune_pairs})} documents)",
            "l2": args.l2, "target_true_supported": args.target,
            "fitted": dt.date.today().isoformat(),
            "held_out_test_half": report["test"],
        },
    }
    if not args.dry_run:
        MODEL_FILE.write_text(json.dumps(model, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_FILE.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
