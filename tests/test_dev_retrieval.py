"""Acceptance for the offline spine: with every document of the dev set in ONE collection
(real model, real on-disk Chroma), retrieval beats the reference figures of
shared/eval/README.md (best of BM25, MiniLM cosine and their RRF fusion)."""

from __future__ import annotations

import pytest

from assistant import evaluate as ev
from assistant.service import Assistant
from tests.conftest import EVAL_DEV, make_settings

pytestmark = pytest.mark.skipif(not EVAL_DEV.is_file(), reason="no shared/eval/dev.jsonl")

REFERENCE = {"p_at_1": 0.645, "r_at_5": 0.885, "mrr": 0.746}


def test_full_dev_set_beats_the_reference_figures(tmp_path, encoder):
    items = ev.load_items(EVAL_DEV)
    assert len(items) == 287
    assistant = Assistant(make_settings(tmp_path), encoder=encoder)
    report = ev.index_items(assistant, items)
    assert report.count("indexed") == 141
    overall = ev.evaluate(assistant, items)["overall"]
    assistant.close()
    print(overall)
    for key, floor in REFERENCE.items():
        assert overall[key] > floor, (key, overall[key], floor)
