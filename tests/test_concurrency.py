"""Two processes on one embedded store: an `assistant ingest` subprocess writes while other
processes ask (every ask must succeed), a second writer is told who holds the store or waits
for it, and a reader opened before the writer started sees the writer's documents after."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

from assistant.service import Assistant
from assistant.store import catalog_path

from .conftest import EVAL_DEV, REPO, SEED_ARTICLE, SEEDS, make_settings

QUESTION = "What did Putin confirm?"
DOCS = 30

pytestmark = pytest.mark.skipif(not EVAL_DEV.is_file(), reason="needs the dev set documents")


def _cli(*args: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "ASSISTANT_CONFIG": "/nonexistent.toml", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "assistant", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_ingest_and_ask_at_the_same_time(tmp_path, encoder):
    settings = make_settings(tmp_path)
    index_dir = str(settings.index_dir)
    corpus = tmp_path / "docs"
    corpus.mkdir()
    shutil.copy(SEED_ARTICLE, corpus / SEED_ARTICLE.name)
    reader = Assistant(settings, encoder=encoder)  # a long-lived reader, like the chat UI
    with reader.index.writing():
        reader.ingestor().ingest_paths([corpus], 10 * 2**20)
    assert "Putin confirmed" in reader.ask(QUESTION).citations[0].sentence.text

    probe = None
    names: set[str] = set()
    with EVAL_DEV.open(encoding="utf-8") as f:
        for line in f:
            item = json.loads(line)
            name = re.sub(r"[^A-Za-z0-9_-]+", "_", item["doc_id"]) + ".txt"
            if name not in names:
                names.add(name)
                (corpus / name).write_text(item["document"], encoding="utf-8")
                probe = probe or (item["question"], name)
            if len(names) >= DOCS:
                break

    lock = catalog_path(settings).with_suffix(".lock")
    writer = _cli("ingest", "--index", index_dir, str(corpus))
    deadline = time.monotonic() + 120
    while not lock.read_text().strip():  # until the writer holds the lock
        assert writer.poll() is None and time.monotonic() < deadline, writer.stderr.read()
        time.sleep(0.05)

    second = _cli("ingest", "--index", index_dir, str(SEEDS))
    _, err = second.communicate(timeout=300)
    assert second.returncode == 2
    assert f"is being written by process {writer.pid} on " in err and "--wait" in err

    waiter = _cli("ingest", "--index", index_dir, str(SEEDS), "--wait", "600")
    asks = in_process = 0
    while writer.poll() is None or asks == 0:
        out = _cli("ask", "--index", index_dir, QUESTION, "--json")
        stdout, stderr = out.communicate(timeout=300)
        assert out.returncode == 0, stderr
        assert "Putin confirmed" in json.loads(stdout)["citations"][0]["text"]
        asks += 1
        assert "Putin confirmed" in reader.ask(QUESTION).citations[0].sentence.text
        in_process += 1
    _, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err
    stdout, stderr = waiter.communicate(timeout=600)
    assert waiter.returncode == 0, stderr
    assert "waiting up to 600 s" in stderr and stdout.startswith("indexed")
    print(f"concurrency: {asks} asks by other processes and {in_process} in the long-lived "
          "reader while the ingest ran")

    # the reader opened before the writer's changes sees them (no stale Chroma cache)
    question, name = probe
    hits = reader.index.vector_search(encoder.encode_one(question), 5)
    assert any(s.path.endswith(name) for s, _ in hits)
    assert reader.index.count() == sum(d.n_sentences for d in reader.index.documents().values())
    assert reader.index.chroma.ids() == reader.index.catalog.ids()
    assert len(reader.index.documents()) == DOCS + 2  # the corpus, its copy of the seed, seeds/
    reader.close()
