"""Found or not found: whether the best retrieved sentences answer the question at all.

The ranker's `Hit.score` is a probability calibrated on one collection (141 documents, 1,700
sentences): several of its features are relative to the other candidates (BM25 over the best
BM25, ranks, IDF from the whole collection), so the same sentence gets another score in an
index of one document than among thousands, and one threshold on it refuses answerable
questions in small indexes. This decision reads only signals of the best hit that involve no
other document (`retrieve.HybridRetriever._signals`): the answer-check cross-encoder's logit
for the best hit alone (`ce_answer`: `rerank.ANSWER_CHECK_FILE`, trained with a "no answer"
option, so that its logit says whether a passage answers at all), the ranker's cross-encoder
logits, the best cosine in the sentence's document, overlap and token alignment weighted within
that document, and the share of the question's content words the sentence and its document
hold. The hit's own cosine is not read (the answer check took its place: a short question about
a long sentence has a low cosine whether or not the sentence answers it). A logistic model
over them, fitted by `benchmarks/fit_answerability.py` on questions asked with their document
present (in one collection and alone) and absent (withheld from the collection; asked against
another document alone), cross-validated by document; it ships as `data/answerability.json`
(weights by signal name, the threshold and where they came from). The model is read by name: a
missing, garbled or mismatched file is a one-line `ModelError`.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

from assistant.data import read_json
from assistant.errors import ModelError
from assistant.types import Hit

MODEL_FILE = Path(__file__).parent / "data" / "answerability.json"
KIND = "answerability-logistic-v1"


class Answerability:
    """P(the question is answered by the documents) from the best hit's signals."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path or MODEL_FILE)
        data = read_json(self.path, "the answerability model")
        try:
            if data["kind"] != KIND:
                raise ValueError(f"kind {data['kind']!r}, expected {KIND!r}")
            self.weights = {str(k): float(v) for k, v in data["weights"].items()}
            self.bias = float(data["bias"])
            self.threshold = float(data["threshold"])
            if not self.weights or not 0.0 < self.threshold < 1.0:
                raise ValueError("no weights, or a threshold outside (0, 1)")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ModelError(f"the answerability model {self.path} is not a model file "
                             f"({type(exc).__name__}: {exc}): reinstall the package") from None
        self.provenance: dict = data.get("provenance", {})

    def probability(self, signals: dict[str, float]) -> float:
        """The model's probability for one hit's signals (every signal it names must be
        there: a retriever that does not give one is a ModelError, not a silent 0)."""
        z = self.bias
        for name, w in self.weights.items():
            if name not in signals:
                raise ModelError(f"the answerability model {self.path} reads the signal "
                                 f"{name!r}, which the retriever does not give")
            z += w * signals[name]
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def answerable(self, hits: list[Hit]) -> bool:
        """Whether the best hit with signals clears the threshold (hits made by hand, with
        no signals, are decided by the caller)."""
        top = next((h for h in hits if h.signals), None)
        return top is not None and self.probability(top.signals) >= self.threshold


_shared: Answerability | None = None
_lock = threading.Lock()


def shared() -> Answerability:
    """One model per process, loaded on first use."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = Answerability()
        return _shared
