"""`assistant mcp` as a client sees it: the real server in a subprocess, driven with the `mcp`
SDK's own ClientSession over stdio and over streamable HTTP."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import ClientSession, MCPError, StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from assistant.store import catalog_path

from .conftest import REPO, SEED_ARTICLE, make_settings

ENV = {"PYTHONPATH": str(REPO), "ASSISTANT_CONFIG": "/nonexistent.toml",
       "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False"}
TOOLS = {"ask", "search", "cite", "sources"}


def _copy(seeded_dir: Path, tmp_path: Path) -> Path:
    root = tmp_path / "seeded"
    shutil.copytree(seeded_dir, root)
    return root / "index"


@asynccontextmanager
async def stdio_session(*args: str):
    params = StdioServerParameters(command=sys.executable, args=["-m", "assistant", "mcp", *args],
                                   env=ENV, cwd=str(REPO))
    with open(os.devnull, "w") as quiet:
        async with stdio_client(params, errlog=quiet) as (read, write):
            async with ClientSession(read, write, read_timeout_seconds=120) as session:
                await session.initialize()
                yield session


def _error_text(result) -> str:
    assert result.is_error
    text = result.content[0].text
    assert "\n" not in text and "Traceback" not in text
    return text


def test_stdio_tools_ask_errors_and_the_server_carries_on(seeded_dir, tmp_path):
    index = _copy(seeded_dir, tmp_path)
    article = SEED_ARTICLE.read_text(encoding="utf-8")

    async def main() -> None:
        async with stdio_session("--index", str(index)) as s:
            tools = {t.name: t for t in (await s.list_tools()).tools}
            assert set(tools) == TOOLS  # read-only: no ingest without --allow-ingest
            for tool in tools.values():
                assert tool.input_schema["type"] == "object" and tool.output_schema
            assert "question" in tools["ask"].input_schema["properties"]
            assert "citations" in tools["ask"].output_schema["properties"]

            result = await s.call_tool("ask", {"question": "What did Putin confirm?"})
            assert not result.is_error
            data = result.structured_content
            assert data["found"] is True and data["answerer"] == "offline"
            top = data["citations"][0]
            assert "Putin confirmed" in top["text"]
            assert top["path"] == str(SEED_ARTICLE) and top["line"] == 6
            assert article[top["char_start"]:top["char_end"]] == top["text"]
            assert top["stale"] is False and top["page"] is None
            assert top["uri"] == SEED_ARTICLE.as_uri()
            links = [c for c in result.content if c.type == "resource_link"]
            assert links and str(links[0].uri) == SEED_ARTICLE.as_uri()
            assert json.loads(result.content[0].text) == data
            served = (await s.read_resource(links[0].uri)).contents[0].text
            assert served[top["char_start"]:top["char_end"]] == top["text"]
            with pytest.raises(MCPError, match="not an indexed document"):
                await s.read_resource("file:///etc/passwd")

            assert "question is empty" in _error_text(
                await s.call_tool("ask", {"question": "   "}))
            assert _error_text(await s.call_tool("ask", {"question": "Putin?", "k": 0})
                               ).startswith("ask: k:")

            # the same server still answers, warm; "not in your documents" is an answer
            missing = (await s.call_tool("ask", {"question": "What is the boiling point of "
                                                             "tungsten in kelvin?"}))
            assert not missing.is_error and missing.structured_content["found"] is False
            assert missing.structured_content["citations"] == []
            assert missing.structured_content["nearest"][0]["path"] == str(SEED_ARTICLE)
            found = (await s.call_tool("search", {"query": "What did Putin confirm?", "k": 3})
                     ).structured_content["results"]
            assert [r["rank"] for r in found] == [1, 2, 3]
            assert "Putin confirmed" in found[0]["text"]
            around = found[0]["neighbours"]
            assert [n["line"] for n in around] == sorted(n["line"] for n in around)
            assert found[0]["id"] in [n["id"] for n in around] and len(around) > 1

            quote = "describing it as an internal matter"
            matches = (await s.call_tool("cite", {"text": quote})).structured_content["matches"]
            assert matches[0]["exact"] is True and quote in matches[0]["text"]
            assert not any(m["exact"] for m in matches[1:])

            docs = (await s.call_tool("sources", {})).structured_content["sources"]
            assert [(d["path"], d["state"]) for d in docs] == [(str(SEED_ARTICLE), "up to date")]
            assert docs[0]["sentences"] > 10

    anyio.run(main)


def test_ingest_tool_takes_the_write_lock_and_sources_see_changes(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    note = folder / "lighthouse.txt"
    note.write_text("The keeper of the north lighthouse was Ada Brandt. She kept the light "
                    "burning for forty-one years.\n\nThe lighthouse was automated in 1987.\n",
                    encoding="utf-8")
    settings = make_settings(tmp_path)

    async def main() -> None:
        async with stdio_session("--index", str(settings.index_dir), "--allow-ingest") as s:
            assert {t.name for t in (await s.list_tools()).tools} == TOOLS | {"ingest"}
            assert "is empty" in _error_text(await s.call_tool("ask", {"question": "Who?"}))

            lock = catalog_path(settings).with_suffix(".lock")
            lock.parent.mkdir(parents=True, exist_ok=True)
            with open(lock, "a+") as held:  # another writer holds the index
                fcntl.flock(held, fcntl.LOCK_EX)
                held.write("process 1 on elsewhere (assistant ingest)")
                held.flush()
                busy = _error_text(await s.call_tool("ingest", {"paths": [str(folder)]}))
                assert "being written by process 1 on elsewhere" in busy
                held.truncate(0)
            report = (await s.call_tool("ingest", {"paths": [str(folder)]})).structured_content
            assert report["indexed"] == 1 and report["files"][0]["path"] == str(note)

            answer = (await s.call_tool("ask", {"question": "Who kept the north lighthouse?"})
                      ).structured_content
            assert answer["found"] and "Ada Brandt" in answer["citations"][0]["text"]

            note.write_text("The lighthouse was sold in 2001.\n", encoding="utf-8")
            docs = (await s.call_tool("sources", {})).structured_content["sources"]
            assert [d["state"] for d in docs] == ["changed"]
            hit = (await s.call_tool("search", {"query": "Ada Brandt", "k": 1})
                   ).structured_content["results"][0]
            assert hit["stale"] is True and hit["stale_reason"] == "changed"
            note.unlink()
            docs = (await s.call_tool("sources", {})).structured_content["sources"]
            assert [d["state"] for d in docs] == ["missing"]

    anyio.run(main)


def test_stdout_carries_only_the_protocol(seeded_dir, tmp_path):
    """Read the raw stdio stream: every line is a JSON-RPC message, nothing else."""
    index = _copy(seeded_dir, tmp_path)
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "test", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call",
         "params": {"name": "ask", "arguments": {"question": "What did Putin confirm?"}}},
    ]
    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "assistant", "mcp", "--index", str(index)],
                                cwd=REPO, env={**os.environ, **ENV}, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=stderr, text=True)
    replies = []
    try:
        for m in messages:
            proc.stdin.write(json.dumps(m) + "\n")
            proc.stdin.flush()
            if "id" in m:
                replies.append(json.loads(proc.stdout.readline()))
        proc.stdin.close()  # the client goes: the server ends, having written nothing more
        rest = proc.stdout.read()
        proc.wait(timeout=60)
    finally:
        proc.kill()
    err = log.read_text()
    assert rest == "" and proc.returncode == 0, err
    assert [r["id"] for r in replies] == [1, 2]
    assert replies[0]["result"]["serverInfo"]["name"] == "cited-assistant"
    data = replies[1]["result"]["structuredContent"]
    assert "Putin confirmed" in data["citations"][0]["text"]
    assert "Traceback" not in err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_streamable_http(seeded_dir, tmp_path):
    index = _copy(seeded_dir, tmp_path)
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "assistant", "mcp", "--index", str(index), "--http", str(port)],
        cwd=REPO, env={**os.environ, **ENV}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the HTTP server did not start"
                time.sleep(0.2)

        async def main() -> None:
            url = f"http://127.0.0.1:{port}/mcp"
            async with streamable_http_client(url) as (read, write):
                async with ClientSession(read, write, read_timeout_seconds=120) as s:
                    await s.initialize()
                    assert {t.name for t in (await s.list_tools()).tools} == TOOLS
                    result = await s.call_tool("ask", {"question": "What did Putin confirm?"})
                    top = result.structured_content["citations"][0]
                    assert "Putin confirmed" in top["text"] and top["line"] == 6
                    assert "nothing to look up" in _error_text(
                        await s.call_tool("cite", {"text": " "}))

        anyio.run(main)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_mistyped_index_is_one_line_and_is_not_created(tmp_path):
    missing = tmp_path / "no-such-index"
    proc = subprocess.run([sys.executable, "-m", "assistant", "mcp", "--index", str(missing)],
                          cwd=REPO, env={**os.environ, **ENV}, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(missing) in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr and not missing.exists()
