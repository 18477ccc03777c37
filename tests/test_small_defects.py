"""Small defects found in a review of the code's shape (issue 13, item 8), one test each."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from assistant import cli, rerank
from assistant.config import Settings
from assistant.conversation import heuristic_rewrite, resolve
from assistant.llm import OpenAIAnswerer
from assistant.service import Assistant
from assistant.store import SentenceIndex
from assistant.tui.ingest_job import _settings_from, settings_to_json
from assistant.types import Turn

from .conftest import SEED_ARTICLE, make_settings
from .test_llm_faults import GOOD, FakeLLM


def test_a_rewrite_reply_of_two_quotes_falls_back_to_the_heuristic():
    history = [Turn("What did Yoon Suk-yeol say about the deployment?", "A threat [1].")]
    question = "and what did he call it?"
    for reply in ('""', '"', "  \"\" \n"):
        got = resolve(question, history, lambda prompt, r=reply: r)
        assert got.question == heuristic_rewrite(question, history) and got.rewritten


@pytest.mark.parametrize("kind", [ValueError, AttributeError, KeyboardInterrupt])
def test_an_error_in_the_token_callback_is_passed_on_not_called_a_bad_reply(tmp_path, kind):
    fake = FakeLLM()
    try:
        fake.script = [("ok", GOOD)]
        settings = Settings(index_dir=tmp_path / "ix", data_dir=tmp_path / "data", llm="openai",
                            model="fake", base_url=fake.url, timeout=10.0)
        answerer = OpenAIAnswerer(settings, backoff=0.01)

        def on_token(piece: str) -> None:  # a bug in the UI, or the user pressing Ctrl-C
            raise kind("the window was closed")

        with pytest.raises(kind, match="the window was closed"):
            answerer.backend.complete([{"role": "user", "content": "hi"}], on_token=on_token)
        assert len(fake.requests) == 1  # not retried either
    finally:
        fake.close()


def test_reopening_the_embedded_store_does_not_lengthen_its_name(tmp_path, encoder):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SEED_ARTICLE, docs / SEED_ARTICLE.name)
    settings = make_settings(tmp_path)
    names = []
    for _ in range(4):
        index = SentenceIndex(settings)
        names.append(index.chroma._persist)
        index.close()
    assert len(set(names)) == 1
    reader, other = SentenceIndex(settings), SentenceIndex(settings)
    assert reader.chroma._persist != other.chroma._persist  # open at once: each its own
    other.close()
    before = reader.chroma._persist
    writer = Assistant(settings, encoder=encoder)
    for name in ("a.txt", "b.txt", "c.txt"):  # each commit makes the reader reopen Chroma
        (docs / name).write_text(f"The letter {name[0]} is written in {name}.\n")
        with writer.index.writing():
            writer.ingestor().ingest_paths([docs], 2**20)
        assert reader.vector_search(encoder.encode_one(f"letter {name[0]}"), 3)
        assert len(reader.chroma._persist) <= len(before) + 2
    writer.index.close()
    reader.close()


def test_the_ingest_process_gets_every_setting_but_the_key(tmp_path):
    settings = Settings(index_dir=tmp_path / "ix", data_dir=tmp_path / "data",
                        chroma_url=None, collection="mine", ingest_batch=7, max_file_mb=2.5,
                        top_k=3, api_key="sk-secret-key-0123456789")
    sent = settings_to_json(settings, [tmp_path / "docs"])
    assert "sk-secret" not in sent
    got = _settings_from(json.loads(sent)["settings"])
    assert got == dataclasses.replace(settings, api_key=None)


def test_a_missing_reranker_file_is_one_line_and_exit_2(seeded, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(rerank, "MODEL_FILE", tmp_path / "gone" / "reranker-int8.onnx")
    monkeypatch.setattr(rerank, "_shared", {})
    code = cli.main(["ask", "--index", str(seeded.settings.index_dir), "What did Putin say?"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "reranker model" in err and "missing" in err
    assert "Traceback" not in err


def test_retrieve_ms_does_not_count_loading_the_models(seeded):
    cold = Assistant(seeded.settings)  # no encoder given: the first ask loads the models
    try:
        t = cold.ask("What did Putin confirm?").timings
        assert {"load_ms", "retrieve_ms", "answer_ms", "total_ms"} <= set(t)
        assert t["load_ms"] + t["retrieve_ms"] + t["answer_ms"] <= t["total_ms"] + 0.01
        warm = cold.ask("What did Putin confirm?").timings
        assert warm["load_ms"] < t["load_ms"]
    finally:
        cold.close()
