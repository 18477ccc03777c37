"""The command line as a user runs it: a real process, real exit codes and output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .conftest import REPO, SEEDS


def run(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    env = {**os.environ, "ASSISTANT_CONFIG": "/nonexistent.toml"}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "assistant", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_ingest_then_ask_json_end_to_end(tmp_path):
    index = str(tmp_path / "ix")
    first = run("ingest", "--index", index, str(SEEDS), "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["indexed"] == 1
    again = json.loads(run("ingest", "--index", index, str(SEEDS), "--json").stdout)
    assert again["unchanged"] == 1 and again["sentences_embedded"] == 0

    out = run("ask", "--index", index, "What did Putin confirm?", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["found"] is True
    assert "Putin confirmed" in data["citations"][0]["text"]
    assert data["citations"][0]["path"].endswith("north-korean-troops-sent-to-russia.txt")
    assert set(data["timings"]) >= {"total_ms"}

    text = run("ask", "--index", index, "What did Putin confirm?")
    assert "seeds/north-korean-troops-sent-to-russia.txt:6" in text.stdout
    assert "Sources:" in text.stdout


def test_empty_question_and_empty_index_exit_non_zero(tmp_path):
    index = str(tmp_path / "empty")
    out = run("ask", "--index", index, "  ")
    assert out.returncode == 2 and "question is empty" in out.stderr
    out = run("ask", "--index", index, "What did Putin confirm?")
    assert out.returncode == 2 and "does not exist" in out.stderr  # a mistyped --index
    assert "assistant ingest" in out.stderr and not Path(index).exists()
    (tmp_path / "nothing").mkdir()
    assert run("ingest", "--index", index, str(tmp_path / "nothing")).returncode == 0
    out = run("ask", "--index", index, "What did Putin confirm?")
    assert out.returncode == 2 and "is empty" in out.stderr and "assistant ingest" in out.stderr
    assert "Traceback" not in out.stderr


def test_missing_path_is_reported_not_fatal(tmp_path):
    out = run("ingest", "--index", str(tmp_path / "ix"), str(tmp_path / "nope.txt"))
    assert out.returncode == 0
    assert "skipped" in out.stdout and "no such file or directory" in out.stdout
