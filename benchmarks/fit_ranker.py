"""Fit both stages of the retriever's ranker on an evaluation file, cross-validated by document,
and write them to `assistant/data/ranker.json` with their provenance.

    python benchmarks/fit_ranker.py ../shared/eval/dev.jsonl [--index DIR] [--folds 5]
        [--splits 8] [--out FILE]

Indexes the file (reusing DIR when given) and computes the retriever's candidate features for
every question (`HybridRetriever.candidates_for`). Then, each with a listwise softmax loss
(Newton's method, L2) over each question's candidates:

1. the first stage, on the features before "ce": its job is to choose the `rerank_top`
   candidates the cross-encoder reads, so its figure is R@top (the gold among them);
2. the candidates' "ce" / "ce_gap" columns recomputed with that first stage (the cross-encoder
   reads the candidates it now chooses), and the final stage fitted on all the features, with
   a logistic calibration of its score.

Held-out figures are the mean over `--splits` shuffles of `--folds`-fold cross-validation
grouped by document (no document in both train and test; the final stage's held-out rows keep
the "ce" columns of the first stage fitted on all data). Prints them beside the shipped
weights' in-sample figures, writes the weights by feature name with the data file's sha256,
the command, the date and the figures to `--out`, and a JSON copy of the report to
benchmarks/results/fit_ranker.json. docs/ranking-experiments.md keeps the figures of each fit.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant import evaluate as ev  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.params import (  # noqa: E402
    RANKER_FILE,
    RankerParams,
    first_stage_features,
    write_ranker,
)
from assistant.retrieve import FEATURES, Candidates, ranker  # noqa: E402
from assistant.service import Assistant  # noqa: E402


def fit_softmax(groups: list[tuple[np.ndarray, np.ndarray]], l2: float) -> np.ndarray:
    """Weights minimising the softmax cross-entropy of each group's gold rows, plus L2."""
    X = np.vstack([x for x, _ in groups])
    mu, sd = X.mean(0), X.std(0) + 1e-9
    d = X.shape[1]
    m = max(len(x) for x, _ in groups)
    Z = np.zeros((len(groups), m, d))
    M = np.zeros((len(groups), m), bool)
    T = np.zeros((len(groups), m))
    for i, (x, y) in enumerate(groups):
        Z[i, : len(x)] = (x - mu) / sd
        M[i, : len(x)] = True
        T[i, : len(x)] = y / y.sum()
    w = np.zeros(d)

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        s = np.where(M, Z @ w, -1e9)
        s -= s.max(1, keepdims=True)
        e = np.exp(s) * M
        p = e / e.sum(1, keepdims=True)
        value = -(T * np.log(np.where(M, p, 1.0) + 1e-300)).sum() + 0.5 * l2 * w @ w
        return value, p

    current, p = loss(w)
    for _ in range(50):  # Newton's method with a backtracking line search
        g = np.einsum("nmd,nm->d", Z, p - T) + l2 * w
        zb = np.einsum("nmd,nm->nd", Z, p)
        H = np.einsum("nmd,nm,nme->de", Z, p, Z) - zb.T @ zb + l2 * np.eye(d)
        step = np.linalg.solve(H, g)
        t = 1.0
        while t > 1e-4:
            value, p_new = loss(w - t * step)
            if value <= current - 1e-4 * t * g @ step:
                break
            t /= 2
        w, current, p = w - t * step, value, p_new
        if np.abs(t * step).max() < 1e-7:
            break
    return w / sd  # weights on the raw features (the offset does not change a ranking)


def fit_calibration(scores: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """sigmoid(a*score + b) fitted by logistic regression (Newton)."""
    a, b = 0.0, 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-(a * scores + b)))
        w = p * (1 - p) + 1e-9
        g = np.array([((p - labels) * scores).sum() + 1e-3 * a, (p - labels).sum()])
        H = np.array([[(w * scores * scores).sum() + 1e-3, (w * scores).sum()],
                      [(w * scores).sum(), w.sum()]])
        step = np.clip(np.linalg.solve(H, g), -5, 5)
        a, b = a - step[0], b - step[1]
        if np.abs(step).max() < 1e-8:
            break
    return float(a), float(b)


def metrics(rows: list[tuple[np.ndarray, np.ndarray]], top: int = 0) -> dict:
    """P@1, R@5, MRR (and R@top when `top`) of (scores, labels) rows, one per question."""
    p1 = r5 = rt = mrr = 0.0
    for scores, y in rows:
        order = np.argsort(-scores, kind="stable")
        hit = np.where(y[order][:ev.RANK_DEPTH])[0]
        p1 += bool(len(hit)) and hit[0] == 0
        r5 += bool(len(hit)) and hit[0] < 5
        rt += bool(len(hit)) and hit[0] < top
        mrr += 1 / (hit[0] + 1) if len(hit) else 0
    n = len(rows)
    out = {"p_at_1": round(float(p1) / n, 3), "r_at_5": round(float(r5) / n, 3),
           "mrr": round(float(mrr) / n, 3)}
    if top:
        out[f"r_at_{top}"] = round(float(rt) / n, 3)
    return out


def mean_metrics(runs: list[dict]) -> dict:
    return {k: round(float(np.mean([r[k] for r in runs])), 3) for k in runs[0]}


def cross_validate(data: list[tuple[str, np.ndarray, np.ndarray]], folds: int = 5,
                   l2: float = 1.0, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """Held-out (scores, labels) for each (document, features, labels) row: scored with
    weights fitted on the other folds, which are groups of whole documents."""
    docs = sorted({doc for doc, _, _ in data})
    np.random.RandomState(seed).shuffle(docs)
    fold = {d: i % folds for i, d in enumerate(docs)}
    held: list = [None] * len(data)
    for f in range(folds):
        w = fit_softmax([(x, y) for doc, x, y in data if fold[doc] != f and y.any()], l2)
        for i, (doc, x, y) in enumerate(data):
            if fold[doc] == f:
                held[i] = (x @ w, y)
    return held


@contextlib.contextmanager
def indexed(file: Path, items: list[ev.EvalItem], index: Path | None = None):
    """An assistant over `items`' documents in one collection (in `index` when given, else in a
    temporary store), closed on leaving."""
    with tempfile.TemporaryDirectory() as tmp:
        assistant = Assistant(Settings(index_dir=index or Path(tmp),
                                       data_dir=Path(tmp) / "data",
                                       collection=ev.collection_for(file)))
        try:
            ev.index_items(assistant, items)
            yield assistant
        finally:
            assistant.close()


def labelled(assistant, items: list[ev.EvalItem]) -> list[tuple[ev.EvalItem, np.ndarray,
                                                                  np.ndarray]]:
    """Each question, its candidates' features and their labels (1 where a candidate matches a
    gold sentence), with the retriever as it is now (its first stage chooses what the
    cross-encoder reads)."""
    return [(it, c.features, y) for it, c, y in candidates(assistant, items)]


def candidates(assistant, items: list[ev.EvalItem]) -> list[tuple[ev.EvalItem, Candidates,
                                                                   np.ndarray]]:
    """Each question, its retriever candidates (sentences and features) and their labels."""
    rows = []
    for it in items:
        c = assistant.retriever.candidates_for(it.question)
        spans = it.gold_spans()
        y = np.array([ev.sentence_matches(s, it.doc_id, spans) for s in c.sentences], float)
        rows.append((it, c, y))
    return rows


def fit_stage(data: list[tuple[ev.EvalItem, np.ndarray, np.ndarray]], columns: int,
              folds: int, splits: int, l2: float, top: int = 0) -> tuple[np.ndarray, dict]:
    """Weights of the first `columns` features fitted on all questions (scaled to a largest
    weight of 10, rounded to 3 decimals), and their held-out figures (mean of `splits`)."""
    cut = [(it.doc_id, x[:, :columns], y) for it, x, y in data]
    held = mean_metrics([metrics(cross_validate(cut, folds, l2, seed), top)
                         for seed in range(splits)])
    w = fit_softmax([(x, y) for _, x, y in cut if y.any()], l2)
    w = np.round(w * 10.0 / np.abs(w).max(), 3)  # readable; the calibration absorbs the scale
    return w, held


def _commit() -> str:
    try:
        return subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO, text=True,
                              capture_output=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", type=Path)
    ap.add_argument("--index", type=Path)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--splits", type=int, default=8, help="shuffles of the folds, averaged")
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--out", type=Path, default=RANKER_FILE)
    args = ap.parse_args()
    shipped = ranker()
    n_first = len(first_stage_features(FEATURES))
    items = ev.load_items(args.file)
    with indexed(args.file, items, args.index) as assistant:
        before = labelled(assistant, items)
        first, first_held = fit_stage(before, n_first, args.folds, args.splits, args.l2,
                                      shipped.rerank_top)
        # the cross-encoder now reads what the new first stage chooses
        assistant.retriever.params = dataclasses.replace(shipped, first_stage=first)
        data = labelled(assistant, items)
    weights, held = fit_stage(data, len(FEATURES), args.folds, args.splits, args.l2)
    scores = np.concatenate([x @ weights for _, x, _ in data])
    labels = np.concatenate([y for _, _, y in data])
    a, b = fit_calibration(scores, labels)
    by_source = {
        src: metrics([(x @ weights, y) for it, x, y in data if it.source == src])
        for src in sorted({it.source for it, _, _ in data})}
    report = {
        "questions": len(data),
        "candidate_recall": round(float(np.mean([y.any() for _, _, y in data])), 3),
        "first_stage": {
            "held_out": first_held,
            "shipped_in_sample": metrics([(x[:, :n_first] @ shipped.first_stage, y)
                                          for _, x, y in before], shipped.rerank_top),
            "new_in_sample": metrics([(x[:, :n_first] @ first, y) for _, x, y in before],
                                     shipped.rerank_top),
        },
        "final": {
            "held_out": held,
            "shipped_in_sample": metrics([(x @ shipped.weights, y) for _, x, y in before]),
            "new_in_sample": metrics([(x @ weights, y) for _, x, y in data]),
            "new_in_sample_by_source": by_source,
        },
        "baseline_cos": metrics([(x[:, 0], y) for _, x, y in data]),
        "baseline_lex": metrics([(x[:, 1], y) for _, x, y in data]),
    }
    provenance = {
        "data": os.path.relpath(args.file.resolve(), REPO),
        "data_sha256": hashlib.sha256(args.file.read_bytes()).hexdigest(),
        "command": "python benchmarks/fit_ranker.py " + " ".join(sys.argv[1:]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": _commit(),
        "questions": len(data),
        "held_out": {"first_stage": first_held, "final": held,
                     "splits": f"mean of {args.splits} {args.folds}-fold splits by document"},
    }
    fitted = RankerParams(FEATURES, first, shipped.rerank_top, weights,
                          (round(a, 4), round(b, 4)), provenance)
    write_ranker(fitted, args.out)
    report["written"] = str(args.out)
    print(json.dumps(report, indent=2))
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "fit_ranker.json").write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
