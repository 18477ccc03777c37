"""The ranker's fitted weights as a data file: read by feature name, checked, with provenance."""

from __future__ import annotations

import json

import numpy as np
import pytest

from assistant.errors import ModelError
from assistant.params import (
    RANKER_FILE,
    RERANKER_FILE,
    first_stage_features,
    load_ranker,
    load_reranker,
    write_ranker,
)
from assistant.rerank import passage
from assistant.retrieve import FEATURES, ranker


def _shipped() -> dict:
    return json.loads(RANKER_FILE.read_text(encoding="utf-8"))


def test_the_shipped_file_names_every_feature_of_both_stages_and_its_provenance():
    data = _shipped()
    assert set(data["final"]["weights"]) == set(FEATURES)
    assert set(data["first_stage"]["weights"]) == set(FEATURES) - {"ce", "ce_gap"}
    prov = data["provenance"]
    assert len(prov["data_sha256"]) == 64 and prov["command"].startswith(
        "python benchmarks/fit_ranker.py")
    assert prov["date"] and prov["held_out"]["final"]["p_at_1"] > 0.5
    params = ranker()
    assert params.weights.shape == (len(FEATURES),)
    assert params.first_stage.shape == (len(first_stage_features(FEATURES)),)
    assert 1 <= params.rerank_top <= 10 and params.calibration[0] > 0


def test_weights_are_matched_by_name_not_by_position(tmp_path):
    data = _shipped()
    for stage in ("first_stage", "final"):  # the same weights listed in reverse order
        data[stage]["weights"] = dict(reversed(list(data[stage]["weights"].items())))
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    loaded, shipped = load_ranker(FEATURES, path), ranker()
    assert np.array_equal(loaded.weights, shipped.weights)
    assert np.array_equal(loaded.first_stage, shipped.first_stage)
    assert loaded.weights[FEATURES.index("ce")] == data["final"]["weights"]["ce"]


@pytest.mark.parametrize(("stage", "change", "said"), [
    ("final", lambda w: w.pop("align_local"), "missing align_local"),
    ("final", lambda w: w.update(novelty=1.0), "unknown novelty"),
    ("first_stage", lambda w: w.update(ce=0.3), "unknown ce"),
    ("first_stage", lambda w: w.pop("cos"), "missing cos"),
])
def test_a_missing_or_unknown_name_is_a_model_error_that_names_it(tmp_path, stage, change,
                                                                    said):
    data = _shipped()
    change(data[stage]["weights"])
    path = tmp_path / "ranker.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError) as err:
        load_ranker(FEATURES, path)
    message = str(err.value)
    assert "\n" not in message and said in message and stage in message
    assert "benchmarks/fit_ranker.py" in message


def test_a_missing_or_malformed_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="missing"):
        load_ranker(FEATURES, tmp_path / "nothing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="cannot be read"):
        load_ranker(FEATURES, bad)
    bad.write_text(json.dumps({"final": {}}), encoding="utf-8")
    with pytest.raises(ModelError, match="malformed"):
        load_ranker(FEATURES, bad)


def test_what_is_written_reads_back_the_same(tmp_path):
    path = tmp_path / "ranker.json"
    write_ranker(ranker(), path)
    again = load_ranker(FEATURES, path)
    assert again.calibration == ranker().calibration
    assert np.array_equal(again.weights, ranker().weights)
    assert np.array_equal(again.first_stage, ranker().first_stage)
    assert again.provenance == ranker().provenance


def test_the_reranker_reads_the_input_it_was_trained_on_from_its_file():
    config = load_reranker()
    assert config.max_tokens == 96
    assert passage("He died in 1227.", "Genghis Khan", "He united the tribes.") == (
        "He died in 1227. [SEP] Genghis Khan. He united the tribes.")
    assert passage("{title} x", "A {b}", "") == "{title} x [SEP] A {b}. "  # text is not a template


@pytest.mark.parametrize("change", [
    lambda d: d.pop("max_tokens"),
    lambda d: d.update(passage="{sentence} [SEP] {title}"),
    lambda d: d.update(passage="{sentence} {title} {previous} {extra}"),
])
def test_a_malformed_reranker_file_is_a_model_error(tmp_path, change):
    data = json.loads(RERANKER_FILE.read_text(encoding="utf-8"))
    change(data)
    path = tmp_path / "reranker.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError, match="malformed"):
        load_reranker(path)
    with pytest.raises(ModelError, match="missing"):
        load_reranker(tmp_path / "nothing.json")
