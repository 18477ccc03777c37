"""Second-stage ranking: a cross-encoder that reads the question and a sentence together.

The first stage scores question and sentence separately, so the sentence that repeats the
question's words often beats the one that answers it; a cross-encoder attends across both. The
model is all-MiniLM-L6-v2 with a linear head, fine-tuned on SQuAD v1.1 train
(`benchmarks/train_reranker.py`), reading each sentence with its title and previous sentence
(the template and limit: `data/reranker.json`), shipped as per-channel int8 ONNX
(`data/reranker-int8.onnx`) for onnxruntime: no torch, offline. Only the first stage's best
`rerank_top` candidates are read; its logits are two more ranker features. What it gained and
costs: docs/ranking-experiments.md and the README's speed table.

A second model of the same shape, `data/answer-check-int8.onnx`, reads the best hit alone for
the found/not-found decision (`answerability.py`): the shipped model trained further with a "no
answer" option (`train_reranker.py --unanswerable`), so that its logit says whether a passage
answers at all (above 0: more likely than not) rather than which of several answers best."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from assistant.embedding import TOKENIZER_FILE, onnx_session
from assistant.errors import ModelError
from assistant.params import load_reranker

MODEL_FILE = Path(__file__).parent / "data" / "reranker-int8.onnx"
ANSWER_CHECK_FILE = Path(__file__).parent / "data" / "answer-check-int8.onnx"


def passage(sentence: str, title: str, previous: str) -> str:
    """The second segment the model was trained on: the sentence, then its context
    (`data/reranker.json`)."""
    return load_reranker().passage.format(sentence=sentence, title=title, previous=previous)


def model_file(model_path: Path | None = None) -> Path:
    """The cross-encoder file (the shipped one by default); ModelError when it is missing."""
    path = Path(model_path or MODEL_FILE)
    if not path.is_file():
        raise ModelError(f"the reranker model {path} is missing (it ships with the package: "
                         "reinstall it)")
    return path


class CrossEncoder:
    """Scores (question, passage) pairs: a higher logit, more likely the passage answers."""

    def __init__(self, model_path: Path | None = None, threads: int | None = None) -> None:
        from tokenizers import Tokenizer

        config = load_reranker()
        path = model_file(model_path)
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


_shared: dict[Path, CrossEncoder] = {}
_lock = threading.Lock()


def shared(model_path: Path | None = None) -> CrossEncoder:
    """One cross-encoder per model file per process (every retriever may use it; onnxruntime
    sessions are safe to run from several threads): the ranker's by default."""
    path = Path(model_path or MODEL_FILE)
    with _lock:
        if path not in _shared:
            _shared[path] = CrossEncoder(path)
        return _shared[path]
