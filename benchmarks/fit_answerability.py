"""Fit the found/not-found decision (`assistant/answerability.py`) on an evaluation file, with
cross-validation by document.

    python benchmarks/fit_answerability.py ../shared/eval/dev.jsonl [--index DIR]
        [--rows FILE] [--folds 5] [--features a,b,c] [--dry-run]

Every question is asked (`HybridRetriever.search`, the code path of `ask`) four ways, and the
best hits' signals (`Hit.signals`) are kept:

  collection   with all documents in one collection                      answerable
  solo         against an index holding only its own document             answerable
  withheld     in the collection with its own document left out          not answerable
  other        against an index holding only another document: one drawn at random and
               the one the withheld search ranked first (a hard one)      not answerable

so the model sees both sizes on both sides. A logistic model (L2, Newton) over the named
signals of the best hit is fitted with 5-fold cross-validation grouped by the question's
document (no document's questions in both train and test, over three fold splits); the
threshold is chosen on the held-out probabilities to meet the goals (not-found on answerable
questions <= 0.05 in the collection and alone, false answers with the document withheld
<= 0.07) with the most room, and the held-out figures at that threshold (and at thresholds
around it) are printed beside today's rule (score >= FOUND_THRESHOLD). The model fitted on
all rows is written to assistant/data/answerability.json with its provenance; a JSON copy of
the figures goes to benchmarks/results/fit_answerability.json. `--rows FILE` keeps the
collected signals (the slow part, ~10 min on 2 cores) for refits.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
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
from assistant.answer import FOUND_THRESHOLD  # noqa: E402
from assistant.answerability import KIND, MODEL_FILE  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.retrieve import SIGNAL_HITS  # noqa: E402
from assistant.service import Assistant  # noqa: E402

FEATURES = ("ce_best", "ce", "dmax", "align_local", "local", "cover", "doc_cover", "ce_answer")
GOALS = {"collection": 0.05, "solo": 0.05, "withheld": 0.07}
ANSWERABLE = ("collection", "solo")
SEEDS = (0, 1, 2)


def _row(it: ev.EvalItem, setting: str, label: int, hits, against: str = "") -> dict:
    return {"id": it.id, "doc": it.doc_id, "source": it.source, "setting": setting,
            "label": label, "against": against, "score": hits[0].score if hits else 0.0,
            "top_doc": hits[0].sentence.path if hits else "",
            "signals": hits[0].signals if hits else {},
            "hits": [h.signals for h in hits]}


def collect(file: Path, index: Path | None, tmp: Path) -> list[dict]:
    """The four ways of asking every question (see the module docstring), one row each."""
    items = ev.load_items(file)
    assistant = Assistant(Settings(index_dir=index or tmp / "collection", data_dir=tmp / "data",
                                   collection=ev.collection_for(file)))
    ev.index_items(assistant, items)
    rows: list[dict] = []
    hard: dict[str, str] = {}
    retriever = assistant.retriever
    for n, it in enumerate(items, 1):
        rows.append(_row(it, "collection", 1, retriever.search(it.question, SIGNAL_HITS).hits))
        retriever.exclude_paths = frozenset({it.doc_id})
        hits = retriever.search(it.question, SIGNAL_HITS).hits
        retriever.exclude_paths = frozenset()
        rows.append(_row(it, "withheld", 0, hits))
        hard[it.id] = hits[0].sentence.path if hits else ""
        print(f"\rcollection {n}/{len(items)}", end="", file=sys.stderr, flush=True)
    docs = sorted({it.doc_id for it in items})
    rng = np.random.RandomState(0)
    asked: dict[str, list[tuple[ev.EvalItem, int]]] = {d: [] for d in docs}
    for it in items:
        asked[it.doc_id].append((it, 1))
        drawn = [d for d in docs if d != it.doc_id][rng.randint(len(docs) - 1)]
        for doc in dict.fromkeys([drawn, hard[it.id]]):
            if doc in asked and doc != it.doc_id:
                asked[doc].append((it, 0))
    solo = Assistant(Settings(index_dir=tmp / "solo", data_dir=tmp / "data",
                              collection="per-document"), encoder=assistant.encoder)
    held: list[str] = []
    for n, doc in enumerate(docs, 1):
        with solo.index.writing():
            for path in held:
                solo.index.remove(path)
            ev.copy_document(assistant.index, solo.index, doc)
        held = [doc]
        solo._retriever = None  # no caches of the document before
        for it, label in asked[doc]:
            hits = solo.retriever.search(it.question, SIGNAL_HITS).hits
            rows.append(_row(it, "solo" if label else "other", label, hits, against=doc))
        print(f"\rper document {n}/{len(docs)}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    solo.close()
    assistant.close()
    return rows


def fit_logistic(X: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """(weights on the raw columns, bias) of an L2 logistic regression (Newton's method on
    standardised columns; the bias is not penalised)."""
    mu, sd = X.mean(0), X.std(0) + 1e-9
    Z = np.column_stack([(X - mu) / sd, np.ones(len(X))])
    w = np.zeros(Z.shape[1])
    reg = np.full(Z.shape[1], l2)
    reg[-1] = 0.0
    for _ in range(100):
        p = 1 / (1 + np.exp(-np.clip(Z @ w, -60, 60)))
        g = Z.T @ (p - y) + reg * w
        H = (Z * (p * (1 - p))[:, None]).T @ Z + np.diag(reg + 1e-9)
        step = np.linalg.solve(H, g)
        w -= step
        if np.abs(step).max() < 1e-9:
            break
    coef = w[:-1] / sd
    return coef, float(w[-1] - coef @ mu)


def matrix(rows: list[dict], features: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    X = np.array([[r["signals"].get(f, 0.0) for f in features] for r in rows], dtype=np.float64)
    return X, np.array([r["label"] for r in rows], dtype=np.float64)


def cross_validate(rows: list[dict], features: tuple[str, ...], folds: int, l2: float
                   ) -> np.ndarray:
    """Held-out probabilities, shape (len(SEEDS), rows): each row scored by a model fitted
    on the other folds, folds being groups of whole documents (the question's)."""
    X, y = matrix(rows, features)
    docs = sorted({r["doc"] for r in rows})
    out = np.zeros((len(SEEDS), len(rows)))
    for s, seed in enumerate(SEEDS):
        order = list(docs)
        np.random.RandomState(seed).shuffle(order)
        fold = {d: i % folds for i, d in enumerate(order)}
        f_of = np.array([fold[r["doc"]] for r in rows])
        for f in range(folds):
            coef, bias = fit_logistic(X[f_of != f], y[f_of != f], l2)
            test = f_of == f
            out[s, test] = 1 / (1 + np.exp(-np.clip(X[test] @ coef + bias, -60, 60)))
    return out


def rates(rows: list[dict], found: np.ndarray) -> dict:
    """Not-found rates where the question is answerable, false-answer rates where not, and
    how often a question gets the same decision in the collection and alone."""
    out: dict = {}
    for setting in ("collection", "solo", "withheld", "other"):
        sel = np.array([r["setting"] == setting for r in rows])
        if sel.any():
            value = found[sel].mean() if setting not in ANSWERABLE else 1 - found[sel].mean()
            name = "not_found" if setting in ANSWERABLE else "false_answers"
            out[f"{name}_{setting}"] = round(float(value), 4)
    coll = {r["id"]: f for r, f in zip(rows, found, strict=True) if r["setting"] == "collection"}
    solo = {r["id"]: f for r, f in zip(rows, found, strict=True) if r["setting"] == "solo"}
    common = [k for k in coll if k in solo]
    out["same_decision_collection_solo"] = round(
        float(np.mean([coll[k] == solo[k] for k in common])), 4) if common else 0.0
    return out


def slack(rows: list[dict], found: np.ndarray) -> float:
    """The worst figure as a share of its goal (< 1: every goal met)."""
    r = rates(rows, found)
    return max(r["not_found_collection"] / GOALS["collection"],
               r["not_found_solo"] / GOALS["solo"],
               r["false_answers_withheld"] / GOALS["withheld"])


def choose_threshold(rows: list[dict], probs: np.ndarray) -> float:
    """The threshold whose held-out decisions (pooled over the fold splits) meet the goals
    with the most room."""
    grid = np.round(np.arange(0.02, 0.98, 0.005), 3)
    pooled = [r for _ in SEEDS for r in rows]
    flat = probs.reshape(-1)
    return float(min(grid, key=lambda t: (slack(pooled, flat >= t), -t)))


def auc(probs: np.ndarray, y: np.ndarray) -> float:
    order = np.argsort(probs, kind="stable")
    ranks = np.empty(len(probs))
    ranks[order] = np.arange(1, len(probs) + 1)
    pos = y == 1
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2)
                 / (pos.sum() * (~pos).sum()))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", type=Path)
    ap.add_argument("--index", type=Path, help="keep the collection index here (reused)")
    ap.add_argument("--rows", type=Path, help="read the collected signals from this JSONL "
                    "file when it exists, else write them there")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--l2", type=float, default=3.0)
    ap.add_argument("--features", default=",".join(FEATURES))
    ap.add_argument("--dry-run", action="store_true", help="print, write no model file")
    args = ap.parse_args()
    features = tuple(f for f in args.features.split(",") if f)
    if args.rows and args.rows.is_file():
        rows = [json.loads(line) for line in args.rows.read_text().splitlines() if line]
    else:
        with tempfile.TemporaryDirectory() as tmp:
            rows = collect(args.file, args.index, Path(tmp))
        if args.rows:
            args.rows.write_text("".join(json.dumps(r) + "\n" for r in rows))
    rows = [r for r in rows if r["signals"]]  # an empty index answers nothing
    probs = cross_validate(rows, features, args.folds, args.l2)
    threshold = choose_threshold(rows, probs)
    pooled = [r for _ in SEEDS for r in rows]
    y = np.array([r["label"] for r in pooled], dtype=np.float64)
    held = rates(pooled, probs.reshape(-1) >= threshold)
    held["auc"] = round(auc(probs.reshape(-1), y), 4)
    curve = {str(t): rates(pooled, probs.reshape(-1) >= t)
             for t in np.round(threshold + np.arange(-0.1, 0.15, 0.05), 3)}
    today = rates(rows, np.array([r["score"] >= FOUND_THRESHOLD for r in rows]))
    X, yall = matrix(rows, features)
    coef, bias = fit_logistic(X, yall, args.l2)
    counts = {s: sum(r["setting"] == s for r in rows)
              for s in ("collection", "solo", "withheld", "other")}
    data = args.file.read_bytes()
    model = {
        "kind": KIND,
        "features": list(features),
        "weights": {f: round(float(w), 6) for f, w in zip(features, coef, strict=True)},
        "bias": round(bias, 6),
        "threshold": threshold,
        "provenance": {
            "data": args.file.name, "sha256": hashlib.sha256(data).hexdigest(),
            "command": "python benchmarks/fit_answerability.py " + " ".join(sys.argv[1:]),
            "date": datetime.date.today().isoformat(), "rows": counts,
            "folds": f"{args.folds}-fold by document, fold splits seeded {list(SEEDS)}",
            "held_out": held, "today_rule": {"score_at_least": FOUND_THRESHOLD, **today},
        },
    }
    out = {"features": list(features), "threshold": threshold, "rows": counts,
           "held_out": held, "held_out_by_threshold": curve,
           "today_rule_same_rows": today, "weights": model["weights"],
           "bias": model["bias"]}
    print(json.dumps(out, indent=2))
    results = REPO / "benchmarks" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "fit_answerability.json").write_text(json.dumps(out, indent=2) + "\n")
    if not args.dry_run:
        MODEL_FILE.write_text(json.dumps(model, indent=2) + "\n")
        print(f"wrote {MODEL_FILE.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
