"""An index that stays true to the files (issue 16), through the real CLI in a subprocess:
stale citations, `sources`, `remove`, a missing folder that keeps its documents, `--watch`,
reused vectors for a moved folder, and a first `ask` that indexes seeds/."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from assistant.catalog import Catalog
from assistant.freshness import CHANGED, MISSING, UP_TO_DATE, FreshnessChecker

from .conftest import REPO, SEED_ARTICLE


def _env(pythonpath: Path = REPO) -> dict:
    env = {**os.environ, "ASSISTANT_CONFIG": "/nonexistent.toml", "PYTHONPATH": str(pythonpath)}
    env.pop("OPENAI_API_KEY", None)
    return env


def run(*args: str, cwd: Path, pythonpath: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=cwd,
                          env=_env(pythonpath), capture_output=True, text=True, timeout=300)


def _corpus(root: Path) -> Path:
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "letters.txt").write_text("Alpha is the first letter of the Greek alphabet. "
                                      "Omega is the last one.\n", encoding="utf-8")
    (docs / "sub" / "rivers.md").write_text("The Danube flows into the Black Sea. "
                                            "The Rhine flows into the North Sea.\n",
                                            encoding="utf-8")
    shutil.copy(SEED_ARTICLE, docs / "troops.txt")
    return docs


def _states(tmp_path: Path, index: str) -> dict[str, str]:
    out = run("sources", "--index", index, "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    return {Path(s["path"]).name: s["state"] for s in json.loads(out.stdout)}


def test_edited_file_is_flagged_in_answers_and_sources(tmp_path):
    docs = _corpus(tmp_path)
    index = str(tmp_path / "ix")
    assert run("ingest", "--index", index, str(docs), cwd=tmp_path).returncode == 0
    listed = json.loads(run("sources", "--index", index, "--json", cwd=tmp_path).stdout)
    assert {Path(s["path"]).name for s in listed} == {"letters.txt", "rivers.md", "troops.txt"}
    rivers = next(s for s in listed if s["path"].endswith("rivers.md"))
    assert rivers["format"] == "markdown" and rivers["sentences"] == 2
    assert rivers["size"] == (docs / "sub" / "rivers.md").stat().st_size
    assert rivers["pages"] is None and rivers["indexed_at"].startswith("20")
    assert {s["state"] for s in listed} == {UP_TO_DATE}

    question = "Where does the Danube flow?"
    fresh = json.loads(run("ask", "--index", index, question, "--json", cwd=tmp_path).stdout)
    assert fresh["citations"][0]["path"].endswith("rivers.md")
    assert fresh["citations"][0]["stale"] is False
    assert fresh["citations"][0]["stale_reason"] is None

    # The same size and bytes, a newer time: still up to date (the bytes are hashed).
    os.utime(docs / "letters.txt", ns=(time.time_ns(), time.time_ns() + 10**9))
    # An edit, and a file gone.
    (docs / "sub" / "rivers.md").write_text("Nothing about rivers here any more.\n")
    (docs / "troops.txt").unlink()
    assert _states(tmp_path, index) == {"letters.txt": UP_TO_DATE, "rivers.md": CHANGED,
                                        "troops.txt": MISSING}

    stale = json.loads(run("ask", "--index", index, question, "--json", cwd=tmp_path).stdout)
    cited = stale["citations"][0]
    assert cited["path"].endswith("rivers.md") and cited["text"].startswith("The Danube")
    assert cited["stale"] is True and cited["stale_reason"] == "changed"
    text = run("ask", "--index", index, question, cwd=tmp_path)
    assert "changed since it was indexed: run `assistant ingest`" in text.stdout
    gone = json.loads(run("ask", "--index", index, "What did Putin confirm?", "--json",
                          cwd=tmp_path).stdout)
    assert gone["citations"][0]["stale_reason"] == "missing"
    plain = run("sources", "--index", index, cwd=tmp_path).stdout
    assert "changed    docs/sub/rivers.md" in plain and "missing    docs/troops.txt" in plain

    # Re-ingesting brings the index back in step.
    again = run("ingest", "--index", index, str(docs), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert _states(tmp_path, index) == {"letters.txt": UP_TO_DATE, "rivers.md": UP_TO_DATE}


def test_remove_a_file_and_a_folder_and_a_missing_folder_keeps_its_documents(tmp_path):
    docs = _corpus(tmp_path)
    index = str(tmp_path / "ix")
    assert run("ingest", "--index", index, str(docs), cwd=tmp_path).returncode == 0

    aside = tmp_path / "unplugged"
    docs.rename(aside)  # the drive is unplugged: the folder is not there
    out = run("ingest", "--index", index, str(docs), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "not found: its 3 documents are kept; `assistant remove` drops them" in out.stdout
    assert "0 removed" in out.stdout
    assert set(_states(tmp_path, index).values()) == {MISSING}
    aside.rename(docs)
    (docs / "letters.txt").unlink()  # gone from a folder that is there: removed, as before
    out = json.loads(run("ingest", "--index", index, str(docs), "--json", cwd=tmp_path).stdout)
    assert out["removed"] == 1 and out["unchanged"] == 2
    assert set(_states(tmp_path, index)) == {"rivers.md", "troops.txt"}

    one = run("remove", "--index", index, str(docs / "troops.txt"), cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    assert "removed   docs/troops.txt" in one.stdout and "1 document removed" in one.stdout
    assert set(_states(tmp_path, index)) == {"rivers.md"}
    unknown = run("remove", "--index", index, str(docs / "troops.txt"), cwd=tmp_path)
    assert unknown.returncode == 2 and "not in the index" in unknown.stderr
    shutil.rmtree(docs / "sub")  # a folder that no longer exists can still be removed
    folder = run("remove", "--index", index, "docs", "--json", cwd=tmp_path)
    assert folder.returncode == 0, folder.stderr
    assert [Path(p).name for p in json.loads(folder.stdout)["removed"]] == ["rivers.md"]
    assert _states(tmp_path, index) == {}
    answer = run("ask", "--index", index, "Where does the Danube flow?", cwd=tmp_path)
    assert answer.returncode == 2 and "is empty" in answer.stderr


def test_moving_a_folder_of_100_documents_reembeds_nothing(tmp_path):
    first = tmp_path / "first"
    first.mkdir()
    for i in range(100):
        (first / f"note-{i:03}.txt").write_text(
            f"Note {i} records the delivery of {i * 7} crates to depot {i % 13}. "
            f"The driver of run {i} was paid on day {i % 28 + 1}.\n", encoding="utf-8")
    index = str(tmp_path / "ix")
    out = json.loads(run("ingest", "--index", index, str(first), "--json", cwd=tmp_path).stdout)
    assert out["indexed"] == 100 and out["sentences_embedded"] == 200
    assert out["sentences_reused"] == 0

    moved = tmp_path / "moved" / "notes"
    moved.parent.mkdir()
    first.rename(moved)
    again = run("ingest", "--index", index, str(moved), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "100 indexed" in again.stdout and "200 sentences reused, 0 embedded" in again.stdout
    removed = run("remove", "--index", index, str(first), cwd=tmp_path)
    assert "100 documents removed" in removed.stdout
    # The reused vectors answer as the first ones did, from the new paths.
    got = json.loads(run("ask", "--index", index, "How many crates went to depot 5 in note 31?",
                         "--json", cwd=tmp_path).stdout)
    assert got["citations"][0]["path"].endswith("moved/notes/note-031.txt")
    assert got["citations"][0]["stale"] is False


def _watcher(index: str, docs: Path, *options: str, sigint: str = "default_int_handler") -> list:
    """`assistant ingest --watch` with SIGINT as a terminal's foreground job gets it (Ctrl-C
    interrupts) unless told otherwise ("SIG_IGN"): a CI runner may start the suite with SIGINT
    ignored, and a child inherits an ignored signal."""
    setup = (f"import runpy, signal, sys; signal.signal(signal.SIGINT, signal.{sigint}); "
             "sys.argv[0] = 'assistant'; runpy.run_module('assistant', run_name='__main__')")
    return [sys.executable, "-c", setup, "ingest", "--index", index, "--watch", *options,
            str(docs)]


def _lines(stream) -> queue.Queue:
    """A pipe's lines, read by a thread, so that a test can wait for one with a timeout."""
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put("")

    threading.Thread(target=pump, daemon=True).start()
    return lines


def test_watch_indexes_a_new_file_and_an_edit_within_10_s(tmp_path):
    docs = _corpus(tmp_path)
    index = str(tmp_path / "ix")
    proc = subprocess.Popen(_watcher(index, docs, "--json"), cwd=tmp_path, env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = _lines(proc.stdout), _lines(proc.stderr)
    try:
        assert "watching" in err.get(timeout=120)  # after the first ingest
        report = ""
        while not report.endswith("\n}\n"):  # that ingest's report, as JSON
            report += out.get(timeout=5)
        assert json.loads(report)["indexed"] == 3

        started = time.monotonic()
        (docs / "new.txt").write_text("Zebras sleep standing up in the savanna.\n")
        seen = json.loads(out.get(timeout=10))
        assert Path(seen["path"]).name == "new.txt" and seen["status"] == "indexed"
        assert time.monotonic() - started < 10
        started = time.monotonic()
        # an editor's save: write a temporary file and rename it over the old one
        temp = docs / ".letters.txt.swp"
        temp.write_text("Beta is the second letter of the Greek alphabet.\n")
        os.replace(temp, docs / "letters.txt")
        seen = json.loads(out.get(timeout=10))
        assert Path(seen["path"]).name == "letters.txt" and seen["status"] == "indexed"
        assert time.monotonic() - started < 10
        (docs / "new.txt").unlink()
        seen = json.loads(out.get(timeout=10))
        assert Path(seen["path"]).name == "new.txt" and seen["status"] == "removed"
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
    rest = "".join(iter(lambda: err.get(timeout=5), ""))
    assert rc == 0 and rest.strip() == "stopped watching"
    # (The shorter "Which letter comes second?" is refused by the answerability model on this
    # three-document index: 0.453 against its threshold of 0.455; see the session note.)
    got = json.loads(run("ask", "--index", index, "What is the second letter of the Greek "
                         "alphabet?", "--json", cwd=tmp_path).stdout)
    assert got["citations"][0]["text"].startswith("Beta is the second letter")
    assert _states(tmp_path, index)["letters.txt"] == UP_TO_DATE


def test_watch_started_with_sigint_ignored_ends_on_sigterm(tmp_path):
    """A background job of a script starts with SIGINT ignored and keeps it so; a service
    manager's SIGTERM ends the watcher like Ctrl-C: the set of changes in hand is indexed to the
    end, then it stops with status 0 and the index answers."""
    docs = _corpus(tmp_path)
    index = str(tmp_path / "ix")
    proc = subprocess.Popen(_watcher(index, docs, sigint="SIG_IGN"), cwd=tmp_path,
                            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    out, err = _lines(proc.stdout), _lines(proc.stderr)
    try:
        assert "watching" in err.get(timeout=120)
        proc.send_signal(signal.SIGINT)
        time.sleep(1.0)
        assert proc.poll() is None  # still watching
        (docs / "new.txt").write_text("Zebras sleep standing up in the savanna.\n")
        time.sleep(0.5)  # the change is seen (300 ms of quiet), its indexing under way or done
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=30)
    finally:
        proc.kill()
    rest = "".join(iter(lambda: err.get(timeout=5), ""))
    assert rc == 0 and rest.strip() == "stopped watching"
    lines = "".join(iter(lambda: out.get(timeout=5), ""))
    assert "new.txt" not in lines or "indexed" in lines
    got = json.loads(run("ask", "--index", index, "How do zebras sleep?", "--json",
                         cwd=tmp_path).stdout)
    if "new.txt" in lines:  # indexed before the stop: whole, and found
        assert got["citations"][0]["text"].startswith("Zebras sleep standing up")


def test_first_ask_on_the_empty_default_index_indexes_the_seeds(tmp_path):
    # A fresh checkout: the package, the seeds and pyproject.toml, and no index yet.
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "assistant", checkout / "assistant",
                    ignore=shutil.ignore_patterns("__pycache__", "data"))
    (checkout / "assistant" / "data").symlink_to(REPO / "assistant" / "data")
    shutil.copytree(REPO / "seeds", checkout / "seeds")
    shutil.copy(REPO / "pyproject.toml", checkout / "pyproject.toml")
    out = run("ask", "What did Putin confirm?", "--json", cwd=checkout, pythonpath=checkout)
    assert out.returncode == 0, out.stderr
    assert "the index is empty; indexing" in out.stderr and "seeds" in out.stderr
    assert "Putin confirmed" in json.loads(out.stdout)["citations"][0]["text"]
    again = run("ask", "What did Putin confirm?", cwd=checkout, pythonpath=checkout)
    assert again.returncode == 0 and "indexing" not in again.stderr


def test_old_catalog_gains_the_file_columns_and_is_checked_by_its_text(tmp_path):
    """A catalog from before file states were kept: migrated on open; its documents are
    compared by their text until they are indexed again."""
    path = tmp_path / "catalog.sqlite3"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE docs (path TEXT PRIMARY KEY, doc_id TEXT NOT NULL, "
               "content_hash TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL, "
               "n_sentences INTEGER NOT NULL)")
    doc = tmp_path / "a.txt"
    doc.write_text("One sentence here.\n")
    from assistant.documents import read_document

    hashed = read_document(doc, 2**20).content_hash
    db.execute("INSERT INTO docs VALUES (?, 'x', ?, 'a', 'One sentence here.\n', 1)",
               (str(doc), hashed))
    db.commit()
    db.close()
    catalog = Catalog(path)
    record = catalog.records([str(doc), "/not/indexed"])[str(doc)]
    assert record.size is None and record.byte_hash is None and record.indexed_at is None
    checker = FreshnessChecker(2**20)
    assert checker.state(record) == UP_TO_DATE
    doc.write_text("Another sentence now.\n")
    assert FreshnessChecker(2**20).state(record) == CHANGED
    catalog.close()
