"""The store: the core behaviour against both the embedded store and a real Chroma server
(started by these tests on loopback), recovery of an unreadable embedded store, the write
lock, and clear, bounded errors for unreachable or wrong servers."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from assistant.config import load_settings
from assistant.errors import StoreBusyError, StoreError
from assistant.service import Assistant
from assistant.store import SentenceIndex, check_server

from .chroma_server import chroma_server
from .conftest import REPO, SEED_ARTICLE, make_settings

MB = 2**20
QUESTION = "What did Putin confirm?"


@pytest.fixture(scope="session")
def chroma_url(tmp_path_factory):
    with chroma_server(tmp_path_factory.mktemp("chroma-server") / "data") as url:
        yield url


@pytest.fixture(params=["embedded", pytest.param("server", marks=pytest.mark.server)])
def store_settings(request, tmp_path):
    """Settings for a fresh store: the embedded one, or a new collection on the server."""
    if request.param == "embedded":
        return make_settings(tmp_path)
    url = request.getfixturevalue("chroma_url")
    return make_settings(tmp_path, chroma_url=url, collection=f"t-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    root.mkdir()
    shutil.copy(SEED_ARTICLE, root / SEED_ARTICLE.name)
    (root / "alpha.txt").write_text("Alpha is the first letter. It starts the alphabet.\n")
    (root / "bravo.md").write_text("# Bravo\n\nBravo is the second letter.\n")
    return root


def _ingest(assistant: Assistant, paths):
    with assistant.index.writing():
        return assistant.ingestor().ingest_paths(paths, 10 * MB)


def _assert_in_step(index: SentenceIndex) -> None:
    """Chroma holds exactly the committed sentences, and the catalog has all their vectors."""
    assert index.chroma.ids() == index.catalog.ids()
    assert index.catalog.missing_vectors() == []
    assert index.count() == sum(d.n_sentences for d in index.documents().values())


# -- the core, on both stores ---------------------------------------------------------------
def test_ingest_reingest_ask_and_remove(store_settings, corpus, encoder):
    assistant = Assistant(store_settings, encoder=encoder)
    first = _ingest(assistant, [corpus])
    assert first.count("indexed") == 3
    _assert_in_step(assistant.index)

    again = _ingest(assistant, [corpus])
    assert again.count("unchanged") == 3 and again.sentences_embedded == 0

    answer = assistant.ask(QUESTION)
    assert answer.citations and "Putin confirmed" in answer.citations[0].sentence.text
    assert answer.citations[0].sentence.path.endswith(SEED_ARTICLE.name)

    (corpus / "alpha.txt").write_text("Alpha changed. Now it has three sentences. Really.\n")
    (corpus / "bravo.md").unlink()
    third = _ingest(assistant, [corpus])
    status = {Path(f.path).name: f.status for f in third.files}
    assert status["alpha.txt"] == "indexed" and status["bravo.md"] == "removed"
    texts = {s.text for s in assistant.index.catalog.all_sentences()}
    assert "Alpha changed." in texts and "Alpha is the first letter." not in texts
    assert not any("Bravo" in t for t in texts)
    _assert_in_step(assistant.index)
    assistant.close()


def test_a_second_process_view_sees_the_same_index(store_settings, corpus, encoder, tmp_path):
    """A fresh SentenceIndex (for a server: a fresh local cache, as on another machine)
    answers with the same sentences, spans and neighbours."""
    writer = Assistant(store_settings, encoder=encoder)
    _ingest(writer, [corpus])
    expected = {s.id: s for s in writer.index.catalog.all_sentences()}
    writer.close()

    other = store_settings.with_overrides(data_dir=tmp_path / "other-machine")
    reader = Assistant(other, encoder=encoder)
    got = {s.id: s for s in reader.index.catalog.all_sentences()}
    assert got == expected
    answer = reader.ask(QUESTION)
    cited = answer.citations[0].sentence
    assert "Putin confirmed" in cited.text
    around = reader.index.neighbours(cited, 1, 1)
    assert [s.index for s in around] == [cited.index - 1, cited.index, cited.index + 1]
    text = reader.index.document(cited.path).text
    assert text[cited.char_start : cited.char_end] == cited.text
    reader.close()


def test_an_open_reader_sees_what_another_writer_commits(store_settings, corpus, encoder,
                                                         tmp_path, monkeypatch):
    """A reader that stays open (the chat UI) sees documents another writer commits later:
    embedded, it reopens Chroma (an open one never sees other processes' additions); with a
    server, it re-syncs its local cache."""
    monkeypatch.setattr("assistant.store.server.SERVER_RESYNC_S", 0.0)
    (corpus / "alpha.txt").unlink()
    first = Assistant(store_settings, encoder=encoder)
    _ingest(first, [corpus / SEED_ARTICLE.name])
    reader = SentenceIndex(store_settings)  # its own chromadb system, as another process has
    question = encoder.encode_one("What is the second letter?")
    assert not any("Bravo" in s.text for s, _ in reader.vector_search(question, 3))

    other = store_settings.with_overrides(data_dir=tmp_path / "writer-machine")
    writer = Assistant(other, encoder=encoder)
    _ingest(writer, [corpus / "bravo.md"])
    writer.close()
    assert any("Bravo is the second letter" in s.text
               for s, _ in reader.vector_search(question, 3))
    reader.close()
    first.close()


def test_vector_search_skips_uncommitted_sentences(store_settings, corpus, encoder):
    """Sentences in Chroma that are not committed (a write in progress, or a killed one)
    are never returned, however close they are."""
    assistant = Assistant(store_settings, encoder=encoder)
    _ingest(assistant, [corpus])
    index = assistant.index
    question = encoder.encode_one(QUESTION)
    from assistant.types import Sentence

    ghosts = [Sentence(f"ghost-{i}", "ghost", "/ghost.txt", i, 0, 5, 1, "Putin confirmed it.",
                       "h0", "") for i in range(40)]
    index.chroma.add(ghosts, np.tile(question, (40, 1)))
    hits = index.vector_search(question, 5)
    assert len(hits) == 5 and all(not s.id.startswith("ghost") for s, _ in hits)
    assistant.close()


class _Interface:
    """A SentenceIndex seen through its own methods only: its catalog, backend and Chroma
    are out of reach."""

    def __init__(self, index: SentenceIndex) -> None:
        self._index = index

    def __getattr__(self, name: str):
        if name.startswith("_") or name in ("catalog", "backend", "chroma"):
            raise AttributeError(f"the retriever reached past SentenceIndex: {name}")
        return getattr(self._index, name)


def test_the_retriever_uses_the_sentence_index_only(store_settings, corpus, encoder):
    """The retriever finds the same hits, with the same scores, through SentenceIndex's
    methods alone as over the index itself (it does not reach into the catalog)."""
    from assistant.retrieve import HybridRetriever

    assistant = Assistant(store_settings, encoder=encoder)
    _ingest(assistant, [corpus])
    index = assistant.index
    direct = HybridRetriever(index, encoder).search(QUESTION, 5).hits
    through = HybridRetriever(_Interface(index), encoder).search(QUESTION, 5).hits
    assert direct and "Putin confirmed" in direct[0].sentence.text
    assert [(h.sentence.id, h.score) for h in through] == \
        [(h.sentence.id, h.score) for h in direct]
    assistant.close()


def test_each_store_is_one_backend_chosen_at_construction(store_settings):
    """Embedded settings give the embedded backend (catalog as commit point, rebuilt from it
    on demand); a Chroma URL gives the server's, which refuses to rebuild from its cache."""
    from assistant.store.embedded import EmbeddedBackend
    from assistant.store.server import ServerBackend

    index = SentenceIndex(store_settings)
    try:
        if store_settings.chroma_url:
            assert type(index.backend) is ServerBackend and not index.embedded
            with pytest.raises(StoreError, match="only an embedded store is rebuilt"):
                index.rebuild()
        else:
            assert type(index.backend) is EmbeddedBackend and index.embedded
            assert index.rebuild()["rebuilt"] == 1
        assert index.backend.catalog is index.catalog and index.location == index.chroma.location
    finally:
        index.close()


# -- embedded: recovery ---------------------------------------------------------------------
def _break_chroma(settings) -> None:
    """Fault injection: overwrite every file of the embedded Chroma store with garbage."""
    for f in (settings.index_dir / "chroma").rglob("*"):
        if f.is_file():
            f.write_bytes(b"\x00garbage" * 64)


def test_unreadable_embedded_store_still_answers_and_the_next_writer_rebuilds(
        settings, corpus, encoder):
    assistant = Assistant(settings, encoder=encoder)
    _ingest(assistant, [corpus])
    n = assistant.index.count()
    assistant.close()
    _break_chroma(settings)

    reader = Assistant(settings, encoder=encoder)
    answer = reader.ask(QUESTION)
    assert "Putin confirmed" in answer.citations[0].sentence.text
    assert reader.index.degraded  # answered from the catalog's vectors
    reader.close()

    writer = Assistant(settings, encoder=encoder)
    report = _ingest(writer, [corpus])
    assert report.count("unchanged") == 3 and report.sentences_embedded == 0
    assert writer.index.degraded is None
    assert writer.index.chroma.count() == n
    _assert_in_step(writer.index)
    assert "Putin confirmed" in writer.ask(QUESTION).citations[0].sentence.text
    writer.close()


def test_leftovers_of_an_interrupted_write_are_cleaned_by_the_next_writer(
        settings, corpus, encoder):
    assistant = Assistant(settings, encoder=encoder)
    _ingest(assistant, [corpus])
    index = assistant.index
    committed = sorted(index.catalog.ids())
    # what a killed write leaves: uncommitted sentences, a committed one missing, the marker
    from assistant.types import Sentence

    stray = [Sentence(f"stray-{i}", "x", "/x.txt", i, 0, 1, 1, "x", "h", "") for i in range(3)]
    index.chroma.add(stray, np.ones((3, 384), np.float32) / np.sqrt(384))
    index.chroma.delete_ids(committed[:2])
    index._marker.touch()
    with index.writing():
        pass
    _assert_in_step(index)
    assert not index._marker.exists()
    assistant.close()


def test_catalog_from_before_vectors_were_kept_is_backfilled(settings, corpus, encoder):
    assistant = Assistant(settings, encoder=encoder)
    _ingest(assistant, [corpus])
    index = assistant.index
    with index.catalog._db:
        index.catalog._db.execute("UPDATE sentences SET vector = NULL")
    assert index.catalog.missing_vectors()
    with index.writing():
        pass
    _assert_in_step(index)
    assistant.close()


# -- the write lock -------------------------------------------------------------------------
def test_second_writer_is_told_who_holds_the_store_or_waits(settings, encoder):
    first = SentenceIndex(settings)
    second = SentenceIndex(settings)
    with first.writing():
        with pytest.raises(StoreBusyError, match=rf"process {os.getpid()} on "):
            with second.writing():
                pass
    told: list[str] = []
    entered = threading.Event()

    def hold_briefly():
        with first.writing():
            entered.set()
            time.sleep(1.0)

    t = threading.Thread(target=hold_briefly)
    t.start()
    entered.wait(10)
    with second.writing(wait=60, on_wait=told.append):
        pass
    t.join()
    assert len(told) == 1 and f"process {os.getpid()}" in told[0]
    first.close()
    second.close()


# -- server mode: configuration and errors ---------------------------------------------------
def test_chroma_url_comes_from_env_and_config_file(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('chroma_url = "http://10.0.0.5:8000"\n')
    assert load_settings(config_file=config, env={}).chroma_url == "http://10.0.0.5:8000"
    env = {"ASSISTANT_CHROMA_URL": "http://127.0.0.1:9"}
    assert load_settings(config_file=config, env=env).chroma_url == "http://127.0.0.1:9"
    assert load_settings(config_file=config, env=env,
                         chroma_url="http://h:1").chroma_url == "http://h:1"


def test_closed_port_gives_a_clear_message(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends
    settings = make_settings(tmp_path, chroma_url=f"http://127.0.0.1:{port}")
    with pytest.raises(StoreError, match="cannot connect to the Chroma server .*chroma run"):
        SentenceIndex(settings)


def test_a_server_that_never_answers_is_given_up_on(tmp_path):
    with socket.socket() as s:  # accepts connections (backlog) but never answers
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        with pytest.raises(StoreError, match="did not answer within 1 s"):
            check_server(url, timeout=1.0)


def test_a_server_that_is_not_chroma_is_named_as_such(tmp_path):
    server = subprocess.Popen([sys.executable, "-m", "http.server", "0", "--bind", "127.0.0.1",
                               "-d", str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N ..."
        port = int(line.split(" port ")[1].split()[0])
        with pytest.raises(StoreError, match="not a Chroma server"):
            check_server(f"http://127.0.0.1:{port}", timeout=5.0)
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.server
def test_cli_against_the_server(chroma_url, tmp_path):
    env = {**os.environ, "ASSISTANT_CONFIG": "/nonexistent.toml",
           "ASSISTANT_CHROMA_URL": chroma_url,
           "ASSISTANT_COLLECTION": f"cli-{uuid.uuid4().hex[:8]}",
           "XDG_DATA_HOME": str(tmp_path / "xdg")}

    def run(*args):
        return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=300)

    out = run("ingest", str(SEED_ARTICLE), "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["indexed"] == 1
    out = run("ask", QUESTION, "--json")
    assert out.returncode == 0, out.stderr
    assert "Putin confirmed" in json.loads(out.stdout)["citations"][0]["text"]

    env["ASSISTANT_CHROMA_URL"] = "http://127.0.0.1:9"
    out = run("ask", QUESTION)
    assert out.returncode == 2
    assert out.stderr.startswith("assistant: cannot connect to the Chroma server")
    assert "Traceback" not in out.stderr
