"""Fitted parameters, shipped as data files in `assistant/data/` with their provenance.

`ranker.json` holds the retriever's two linear stages (`retrieve.FEATURES`): the first stage's
weights, which choose the candidates the cross-encoder reads, and the final weights with their
logistic calibration, each weight under its feature's name; and where they came from (the data
file and its sha256, the command, the date, the held-out figures). `benchmarks/fit_ranker.py`
writes it; docs/ranking-experiments.md keeps the figures of each fit.

`reranker.json` holds what the cross-encoder (`rerank.py`, `data/reranker-int8.onnx`) was
trained to read: the template of its second segment and the token limit. They belong to the
trained model, not to the ranker's fit: change them only with a retrained model
(`benchmarks/train_reranker.py`).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from assistant.data import read_json
from assistant.errors import ModelError

DATA = Path(__file__).parent / "data"
RANKER_FILE = DATA / "ranker.json"
RERANKER_FILE = DATA / "reranker.json"
_PASSAGE_FIELDS = {"sentence", "title", "previous"}


@dataclass(frozen=True)
class RankerParams:
    """The two stages' weights in the order of the feature names they were checked against."""

    features: tuple[str, ...]
    first_stage: np.ndarray
    """Weights of the features before "ce" (the first stage scores before the cross-encoder)."""
    rerank_top: int
    """How many of the first stage's best candidates the cross-encoder reads."""
    weights: np.ndarray
    calibration: tuple[float, float]
    """P(answers) = sigmoid(a * (features @ weights) + b)."""
    provenance: dict = field(default_factory=dict, compare=False)


def first_stage_features(features: tuple[str, ...]) -> tuple[str, ...]:
    """The features the first stage reads: those before the cross-encoder's "ce"."""
    return features[: features.index("ce")] if "ce" in features else features


def _by_name(path: Path, stage: str, weights: object, names: tuple[str, ...]) -> np.ndarray:
    if not isinstance(weights, dict):
        raise ModelError(f"the ranker file {path} has no {stage} weights by feature name "
                         "(refit it with benchmarks/fit_ranker.py)")
    missing = [n for n in names if n not in weights]
    extra = [n for n in weights if n not in names]
    if missing or extra:
        said = "; ".join(part for part in (
            f"missing {', '.join(missing)}" if missing else "",
            f"unknown {', '.join(extra)}" if extra else "") if part)
        raise ModelError(f"the ranker file {path} does not fit the retriever's features "
                         f"({stage}: {said}); refit it with benchmarks/fit_ranker.py")
    try:
        return np.array([float(weights[n]) for n in names], dtype=np.float64)
    except (TypeError, ValueError):
        raise ModelError(f"the ranker file {path} has a {stage} weight that is not a number "
                         "(refit it with benchmarks/fit_ranker.py)") from None


@functools.lru_cache(maxsize=8)
def load_ranker(features: tuple[str, ...], path: Path = RANKER_FILE) -> RankerParams:
    """The ranker file's weights for `features`, by name; ModelError when a name is missing or
    unknown, or the file is missing or malformed."""
    data = read_json(path, "the ranker file")
    try:
        first, final = data["first_stage"], data["final"]
        calib = final["calibration"]
        calibration = (float(calib["a"]), float(calib["b"]))
        top = int(first["rerank_top"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"the ranker file {path} is malformed (no {exc}); refit it with "
                         "benchmarks/fit_ranker.py") from None
    return RankerParams(
        features=features,
        first_stage=_by_name(path, "first_stage", first.get("weights"),
                             first_stage_features(features)),
        rerank_top=top,
        weights=_by_name(path, "final", final.get("weights"), features),
        calibration=calibration,
        provenance=dict(data.get("provenance") or {}),
    )


def ranker_json(params: RankerParams) -> dict:
    """The file's content for `params` (what `load_ranker` reads back)."""
    return {
        "first_stage": {
            "weights": dict(zip(first_stage_features(params.features),
                                params.first_stage.tolist(), strict=True)),
            "rerank_top": params.rerank_top,
        },
        "final": {
            "weights": dict(zip(params.features, params.weights.tolist(), strict=True)),
            "calibration": {"a": params.calibration[0], "b": params.calibration[1]},
        },
        "provenance": params.provenance,
    }


def write_ranker(params: RankerParams, path: Path = RANKER_FILE) -> None:
    Path(path).write_text(json.dumps(ranker_json(params), indent=2) + "\n", encoding="utf-8")
    load_ranker.cache_clear()


@dataclass(frozen=True)
class RerankerConfig:
    """The input the cross-encoder was trained on."""

    passage: str
    """The second segment: a str.format template of {sentence}, {title} and {previous}."""
    max_tokens: int
    """Question and passage together; the passage is cut first."""
    provenance: dict = field(default_factory=dict, compare=False)


@functools.lru_cache(maxsize=4)
def load_reranker(path: Path = RERANKER_FILE) -> RerankerConfig:
    """The reranker file; ModelError when it is missing or malformed."""
    import string

    data = read_json(path, "the reranker file")
    try:
        template, limit = str(data["passage"]), int(data["max_tokens"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"the reranker file {path} is malformed (no {exc})") from None
    fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    if fields != _PASSAGE_FIELDS or limit < 8:
        raise ModelError(f"the reranker file {path} is malformed (its passage must name "
                         "{sentence}, {title} and {previous}, and max_tokens be at least 8)")
    return RerankerConfig(template, limit, dict(data.get("provenance") or {}))
