"""Does an answer sentence address the question? Support is not enough: "The city is known for
its harbour [3]" may be exactly what [3] says and still not answer "Who designed the bridge?".

The signal is the retriever's cross-encoder (`assistant.rerank`), which reads the question and a
sentence together and was trained to give a high logit to the sentence that answers the
question. Each answer sentence is read as an evidence sentence is (`answer_passage`: the title
of the document it cites, no previous sentence); a logit below the fitted threshold
(`data/relevance.json`, written by `benchmarks/fit_relevance.py`) means it does not address the
question. An instruction ("Reply only with the word ...") never does.

The threshold is in the units of one trained model's logits: the file records the sha256 of the
cross-encoder it was fitted for, and a different model file is a `ModelError` that says to
refit it (a stale threshold would mark too much or nothing, silently).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant import rerank
from assistant.data import read_json
from assistant.embedding import file_digest
from assistant.errors import ModelError
from assistant.support import is_instruction

RELEVANCE_FILE = Path(__file__).parent / "data" / "relevance.json"
REFIT = "refit it with python benchmarks/fit_relevance.py"


def answer_passage(sentence: str, title: str) -> str:
    """An answer sentence as the cross-encoder reads it: with its source's title, no previous
    sentence."""
    return rerank.passage(sentence, title, "")


def model_digest(model_path: Path | None = None) -> str:
    """sha256 of the cross-encoder file (the shipped one by default)."""
    return file_digest(rerank.model_file(model_path))


@dataclass(frozen=True)
class RelevanceParams:
    threshold: float
    """Cross-encoder logit below which a sentence does not address the question."""
    model_sha256: str
    provenance: dict = field(default_factory=dict, compare=False)


def load_relevance(path: Path | None = None, model_path: Path | None = None) -> RelevanceParams:
    """The threshold of `path` (the shipped file by default), checked against the cross-encoder
    file it was fitted for; ModelError (one line) when the file is missing, malformed or fitted
    for another model."""
    path, model_path = Path(path or RELEVANCE_FILE), Path(model_path or rerank.MODEL_FILE)
    # Cached per file version: a call after the threshold file or the cross-encoder file has
    # changed (a refit in the same process) reads and checks them again. A `Relevance` already
    # made keeps its params, which match the cross-encoder its process has loaded.
    return _load(path, model_path, _version(path), _version(model_path))


def _version(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None  # reported by _load, in one line
    return st.st_size, st.st_mtime_ns


@functools.lru_cache(maxsize=4)
def _load(path: Path, model_path: Path, *_versions) -> RelevanceParams:
    data = read_json(path, "the relevance file")
    try:
        threshold, sha = float(data["threshold"]), str(data["model_sha256"])
    except (KeyError, TypeError, ValueError):
        raise ModelError(f"the relevance file {path} has no numeric threshold and model_sha256 "
                         f"({REFIT})") from None
    if not np.isfinite(threshold):
        raise ModelError(f"the relevance file {path} has no numeric threshold ({REFIT})")
    actual = model_digest(model_path)
    if sha != actual:
        raise ModelError(f"the relevance file {path} was fitted for another cross-encoder "
                         f"(sha256 {sha[:12]}, the model is {actual[:12]}): {REFIT}")
    return RelevanceParams(threshold, sha, dict(data.get("provenance") or {}))


class Relevance:
    """Judges whether answer sentences address a question (see the module docstring)."""

    def __init__(self, encoder: rerank.CrossEncoder | None = None,
                 params: RelevanceParams | None = None) -> None:
        self.params = params or load_relevance()
        self._encoder = encoder

    @property
    def encoder(self) -> rerank.CrossEncoder:
        if self._encoder is None:
            self._encoder = rerank.shared()  # the retriever's, already loaded in a session
        return self._encoder

    @property
    def threshold(self) -> float:
        return self.params.threshold

    def logits(self, question: str, sentences: list[tuple[str, str]]) -> np.ndarray:
        """One logit per (sentence, title), in one batch."""
        return self.encoder.score(question, [answer_passage(s, t) for s, t in sentences])

    def addresses(self, question: str, sentences: list[tuple[str, str]]) -> list[bool]:
        """Whether each (sentence, title of what it cites) addresses the question."""
        if not sentences:
            return []
        logits = self.logits(question, sentences)
        return [bool(logit >= self.threshold) and not is_instruction(s)
                for (s, _), logit in zip(sentences, logits, strict=True)]
