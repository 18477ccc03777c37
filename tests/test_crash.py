"""Crash safety: `assistant ingest` processes killed with SIGKILL at random moments.

Each round changes some files (and removes and restores one), starts a real `assistant ingest`
subprocess on an embedded store, and kills it: at a random moment, or at a random moment after
its first commit (so that many kills land in the middle of writing; those rounds change more
files, so that the run commits in two batches). After each kill:
  - every document in the index is whole, in exactly its old or its new version;
  - the index opens and answers a question with the right citation;
  - a re-run converges: exactly the files on disk, exactly their sentences, and Chroma holding
    exactly the committed sentences.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest

from assistant.catalog import Catalog
from assistant.documents import content_hash, key_path, make_document
from assistant.sentences import split_document
from assistant.service import Assistant
from assistant.store import catalog_path

from .conftest import EVAL_DEV, REPO, SEED_ARTICLE, make_settings

ROUNDS = int(os.environ.get("CRASH_ROUNDS", "20"))
DOCS = 16
CHANGED_PER_ROUND = 4
CHANGED_MID_WRITE = 14  # > 128 sentences: the ingest writes them in two batches
QUESTION = "What did Putin confirm?"

pytestmark = pytest.mark.skipif(not EVAL_DEV.is_file(), reason="needs the dev set documents")


def _dev_documents(n: int) -> list[tuple[str, str]]:
    out: dict[str, str] = {}
    with EVAL_DEV.open(encoding="utf-8") as f:
        for line in f:
            item = json.loads(line)
            name = re.sub(r"[^A-Za-z0-9_-]+", "_", item["doc_id"]) + ".txt"
            out.setdefault(name, item["document"])
            if len(out) >= n:
                break
    return list(out.items())


def _committed(settings) -> dict[str, tuple[str, list[str]]]:
    """path -> (content hash, sentence ids), read straight from the catalog on disk."""
    catalog = Catalog(catalog_path(settings))
    try:
        docs = catalog.documents()
        return {p: (d.content_hash, [s.id for s in catalog.document_sentences(p)])
                for p, d in docs.items()}
    finally:
        catalog.close()


def _generation(settings) -> int:
    catalog = Catalog(catalog_path(settings))
    try:
        return catalog.generation()
    finally:
        catalog.close()


def _expected_ids(path: str, text: str) -> list[str]:
    return [s.id for s in split_document(make_document(path, text))]


def test_ingest_killed_at_random_moments_never_corrupts_the_index(tmp_path, encoder):
    seed = int(os.environ.get("CRASH_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    print(f"crash test seed {seed} (CRASH_SEED={seed} repeats it)")
    corpus = tmp_path / "docs"
    corpus.mkdir()
    shutil.copy(SEED_ARTICLE, corpus / SEED_ARTICLE.name)
    settings = make_settings(tmp_path)
    first = Assistant(settings, encoder=encoder)  # the question's document, never changed
    with first.index.writing():
        first.ingestor().ingest_paths([corpus], 10 * 2**20)
    first.close()
    for name, text in _dev_documents(DOCS):
        (corpus / name).write_text(text, encoding="utf-8")
    names = sorted(p.name for p in corpus.iterdir() if p.name != SEED_ARTICLE.name)
    versions: dict[tuple[str, str], str] = {}  # (path, hash) -> text, every version written
    removed: dict[str, str] = {}
    env = {**os.environ, "ASSISTANT_CONFIG": "/nonexistent.toml", "HF_HUB_OFFLINE": "1",
           "ASSISTANT_INGEST_BATCH": "128"}  # small batches: many commits to land kills between
    stats = {"before_first_commit": 0, "mid_write": 0, "partial": 0, "finished": 0,
             "chroma_unreadable": 0}

    for round_no in range(ROUNDS):
        if round_no:  # change some files, remove one, bring back one removed earlier
            changed = CHANGED_PER_ROUND if round_no % 2 == 0 else CHANGED_MID_WRITE
            for name in rng.sample(names, changed):
                path = corpus / name
                if path.exists():
                    path.write_text(path.read_text(encoding="utf-8").rstrip("\n")
                                    + f"\n\nRevision {round_no} of {name} adds this sentence.\n",
                                    encoding="utf-8")
            for name, text in list(removed.items())[:1]:
                (corpus / name).write_text(text, encoding="utf-8")
                del removed[name]
            victim = rng.choice([n for n in names if (corpus / n).exists()])
            removed[victim] = (corpus / victim).read_text(encoding="utf-8")
            (corpus / victim).unlink()
        on_disk = {key_path(p): p.read_text(encoding="utf-8") for p in corpus.iterdir()}
        for path, text in on_disk.items():
            versions[(path, content_hash(text))] = text
        before = {p: h for p, (h, _) in _committed(settings).items()}
        after = {p: content_hash(t) for p, t in on_disk.items()}
        generation = _generation(settings)

        proc = subprocess.Popen(
            [sys.executable, "-m", "assistant", "ingest", "--index", str(settings.index_dir),
             str(corpus)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE)
        if round_no % 2 == 0:  # anywhere: start-up, repair, embedding, writing
            time.sleep(rng.uniform(0.2, 4.0))
        else:  # in the middle of writing: after its first commit
            deadline = time.monotonic() + 120
            while (proc.poll() is None and _generation(settings) == generation
                   and time.monotonic() < deadline):
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.5))
        proc.send_signal(signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
        if proc.returncode != -signal.SIGKILL:
            assert proc.returncode == 0, err.decode()
            stats["finished"] += 1

        # 1. every document whole, in its old or its new version
        committed = _committed(settings)
        moved = 0
        for path in set(before) | set(after) | set(committed):
            allowed = {before.get(path), after.get(path)}
            got = committed.get(path)
            assert (got[0] if got else None) in allowed, f"round {round_no}: {path} is in " \
                "neither its old nor its new state"
            if got:
                assert got[1] == _expected_ids(path, versions[(path, got[0])]), \
                    f"round {round_no}: {path} is not whole"
            moved += (got[0] if got else None) != before.get(path)
        if proc.returncode == -signal.SIGKILL:
            stats["mid_write" if moved else "before_first_commit"] += 1
            at_new = {p: h for p, (h, _) in committed.items()} == after
            stats["partial"] += bool(moved) and not at_new

        # 2. the index opens and answers
        reader = Assistant(settings, encoder=encoder)
        answer = reader.ask(QUESTION)
        assert "Putin confirmed" in answer.citations[0].sentence.text, f"round {round_no}"
        stats["chroma_unreadable"] += bool(reader.index.degraded)
        reader.close()

        # 3. a re-run converges to exactly the files on disk
        writer = Assistant(settings, encoder=encoder)
        with writer.index.writing():
            writer.ingestor().ingest_paths([corpus], 10 * 2**20)
        index = writer.index
        docs = index.documents()
        assert {p: d.content_hash for p, d in docs.items()} == after, f"round {round_no}"
        expected = {i for p, t in on_disk.items() for i in _expected_ids(p, t)}
        assert index.catalog.ids() == expected
        assert index.chroma.ids() == expected
        assert index.chroma.count() == index.count() == len(expected)
        assert index.degraded is None
        writer.close()

    print(f"crash test: {ROUNDS} kills: {stats}")
    # the test means something only if many kills landed while documents were being written,
    # some of them between the commits of one run
    assert stats["mid_write"] >= ROUNDS // 4, stats
    assert stats["partial"] >= ROUNDS // 10, stats
