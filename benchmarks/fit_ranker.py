"""Fit the retriever's ranking weights on an evaluation file, with cross-validation by document.

    python benchmarks/fit_ranker.py ../shared/eval/dev.jsonl [--index DIR] [--folds 5]

Indexes the file (reusing DIR when given), computes the retriever's candidate features for
every question (`HybridRetriever.candidates_for`), and fits a linear scorer with a listwise
softmax loss (Newton's method, L2) over each question's candidates. Prints the held-out
(cross-validated, grouped by document so no document is in both train and test) P@1/R@5/MRR,
the same for the weights now in `assistant/retrieve.py`, and the weights and the logistic
calibration fitted on all data, to copy into `retrieve.py`. Writes a JSON copy to
benchmarks/results/fit_ranker.json.
"""

from __future__ import annotations

import argparse
import json
import os
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
from assistant.retrieve import FEATURES, WEIGHTS, Candidates  # noqa: E402
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


def metrics(rows: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    p1 = r5 = mrr = 0.0
    for scores, y in rows:
        order = np.argsort(-scores, kind="stable")
        hit = np.where(y[order][:ev.RANK_DEPTH])[0]
        p1 += bool(len(hit)) and hit[0] == 0
        r5 += bool(len(hit)) and hit[0] < 5
        mrr += 1 / (hit[0] + 1) if len(hit) else 0
    n = len(rows)
    return {"p_at_1": round(float(p1) / n, 3), "r_at_5": round(float(r5) / n, 3),
            "mrr": round(float(mrr) / n, 3)}


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


def labelled_candidates(file: Path, index: Path | None = None, limit: int = 0
                        ) -> list[tuple[ev.EvalItem, Candidates, np.ndarray]]:
    """Each question of `file` (the first `limit`), its retriever candidates and their labels
    (1 where a candidate matches a gold sentence), over all its documents in one collection
    (in `index` when given, else in a temporary store)."""
    items = ev.load_items(file, limit or None)
    with tempfile.TemporaryDirectory() as tmp:
        root = index or Path(tmp)
        assistant = Assistant(Settings(index_dir=root, data_dir=Path(tmp) / "data",
                                       collection=ev.collection_for(file)))
        ev.index_items(assistant, items)
        rows = []
        for it in items:
            c = assistant.retriever.candidates_for(it.question)
            spans = it.gold_spans()
            y = np.array([ev.sentence_matches(s, it.doc_id, spans) for s in c.sentences], float)
            rows.append((it, c, y))
        assistant.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", type=Path)
    ap.add_argument("--index", type=Path)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--l2", type=float, default=1.0)
    args = ap.parse_args()
    data = [(it, c.features, y) for it, c, y in labelled_candidates(args.file, args.index)]
    held = cross_validate([(it.doc_id, x, y) for it, x, y in data], args.folds, args.l2)
    w_all = fit_softmax([(x, y) for _, x, y in data if y.any()], args.l2)
    scale = 10.0 / np.abs(w_all).max()  # readable weights; the calibration absorbs the scale
    w_all = w_all * scale
    scores = np.concatenate([x @ w_all for _, x, _ in data])
    labels = np.concatenate([y for _, _, y in data])
    calib = fit_calibration(scores, labels)
    out = {
        "questions": len(data),
        "candidate_recall": round(float(np.mean([y.any() for _, _, y in data])), 3),
        "held_out": metrics(held),
        "held_out_by_source": {
            src: metrics([h for h, (it, _, _) in zip(held, data, strict=True)
                          if it.source == src])
            for src in sorted({it.source for it, _, _ in data})},
        "in_sample_new_weights": metrics([(x @ w_all, y) for _, x, y in data]),
        # (None while retrieve.py's WEIGHTS are for an older feature list)
        "weights_now_in_retrieve_py": metrics([(x @ WEIGHTS, y) for _, x, y in data])
        if len(WEIGHTS) == len(FEATURES) else None,
        "baseline_cos": metrics([(x[:, 0], y) for _, x, y in data]),
        "baseline_lex": metrics([(x[:, 1], y) for _, x, y in data]),
        "weights": dict(zip(FEATURES, np.round(w_all, 3).tolist(), strict=True)),
        "calibration": [round(calib[0], 4), round(calib[1], 4)],
    }
    print(json.dumps(out, indent=2))
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "fit_ranker.json").write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
