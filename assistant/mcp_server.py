"""`assistant mcp`: the assistant as a Model Context Protocol server (the official `mcp` SDK).

Tools `ask`, `search`, `cite`, `sources` (and `ingest` with `--allow-ingest`), each with an
input and an output JSON schema; results are structured (`structuredContent`), with the same
JSON as text and a `file://` resource link per cited sentence; reading that link gives the
document's indexed text (the one the spans count in). One `Assistant` serves every
call: the model loads once, at start, and each call is answered warm. A bad call is a tool
error carrying the one-line message the CLI would print; the server carries on.

On stdio, stdout is the protocol only: the SDK points fd 1 at stderr while it serves, and the
model is loaded inside that window; logs go to stderr."""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import CallToolResult, ResourceLink, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from assistant.errors import AssistantError, ConfigError, EmptyIndexError
from assistant.evidence import evidence, freshness, sources
from assistant.service import Assistant
from assistant.types import display_path

log = logging.getLogger("assistant.mcp")

K = Annotated[int | None, Field(ge=1, le=50, description="how many sentences (default: the "
                                                         "configured top_k, 8)")]


class Evidence(BaseModel):
    """A sentence of an indexed document, exactly as it stands there."""

    id: str = Field(description="stable sentence id")
    doc_id: str
    path: str = Field(description="the document's path in the index (absolute for files)")
    line: int = Field(description="1-based line where the sentence starts")
    page: int | None = Field(None, description="1-based page, for paged formats")
    page_end: int | None = Field(None, description="the page where it ends, when it crosses "
                                                    "a page break")
    page_label: str = Field("", description='the printed label of `page` ("iv", "12")')
    section: str = Field("", description="the heading it falls under, when the format has them")
    char_start: int = Field(description="start of the sentence in the document's text")
    char_end: int = Field(description="end (exclusive): text[char_start:char_end] is the sentence")
    text: str
    score: float | None = Field(None, description="the ranker's probability that it answers")
    stale: bool = Field(False, description="the file changed or vanished since it was indexed")
    stale_reason: str | None = Field(None, description='"changed" or "missing"')
    uri: str | None = Field(None, description="file:// URI of the document")


class Cited(Evidence):
    n: int = Field(description="the [n] marker in the answer")


class AskResult(BaseModel):
    question: str
    answer: str
    found: bool = Field(description="false: not in the documents (see `nearest`)")
    answerer: str
    citations: list[Cited]
    nearest: list[Cited] = Field(description="when not found: the nearest sentences")
    notes: list[str]


class Ranked(Evidence):
    rank: int
    neighbours: list[Evidence] = Field(description="the sentences around it, in order, "
                                                   "itself included")


class SearchResult(BaseModel):
    query: str
    results: list[Ranked]


class Match(Evidence):
    exact: bool = Field(description="the sentence contains the text (quotes and spacing aside)")


class CiteResult(BaseModel):
    text: str
    matches: list[Match] = Field(description="exact matches first, then the nearest")


class Source(BaseModel):
    model_config = ConfigDict(extra="allow")

    path: str
    format: str | None = None
    size: int | None = Field(None, description="bytes on disk now; null when missing")
    sentences: int
    pages: int | None = None
    indexed_at: str | float | None = None
    state: str = Field(description='"up to date", "changed" or "missing"')


class SourcesResult(BaseModel):
    sources: list[Source]


class IngestedFile(BaseModel):
    path: str
    status: str = Field(description="indexed, unchanged, removed or skipped")
    reason: str = ""
    sentences: int = 0


class IngestResult(BaseModel):
    files: list[IngestedFile]
    indexed: int
    unchanged: int
    removed: int
    skipped: int
    sentences_embedded: int
    seconds: float
    summary: str


def _ready(a: Assistant) -> None:
    a.prepare()
    if a.index.count() == 0:
        raise EmptyIndexError(
            f"the index at {a.index.location} is empty: run `assistant ingest PATH` first")


def _error(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=message)], is_error=True)


def _result(data: dict[str, Any], cited: list[dict[str, Any]]) -> CallToolResult:
    """Structured content, the same JSON as text (for clients that read only text), and a
    resource link per cited sentence."""
    links = [ResourceLink(uri=c["uri"], name=f"{display_path(c['path'])}:{c['line']}",
                          description=c["text"][:200], mime_type="text/plain")
             for c in cited if c.get("uri")]
    return CallToolResult(content=[TextContent(text=json.dumps(data, ensure_ascii=False)),
                                   *links], structured_content=data)


class Service:
    """One Assistant behind a lock (calls arrive on worker threads), warmed once at start."""

    def __init__(self, assistant: Assistant) -> None:
        self.assistant = assistant
        self.lock = threading.Lock()

    def warm(self) -> None:
        """Load the store and the models and run one retrieval, so the first call is warm."""
        with self.lock:
            try:
                self.assistant.prepare()
                if self.assistant.index.count():
                    self.assistant.retrieve("warm up", 1)
            except Exception as exc:  # the calls will report it
                log.warning("warm-up failed: %s", exc)

    def call(self, fn: Callable[[Assistant], CallToolResult]) -> CallToolResult:
        with self.lock:
            try:
                return fn(self.assistant)
            except AssistantError as exc:
                return _error(str(exc))
            except Exception as exc:  # never a dead server; the traceback goes to stderr
                log.exception("tool call failed")
                first = (str(exc).strip().splitlines() or [""])[0]
                return _error(f"internal error: {type(exc).__name__}: {first}")

    def stale_marks(self, items: list) -> dict[str, str]:
        """path -> state for items that do not carry their own `stale` mark."""
        bare = [i.sentence.path for i in items if not hasattr(i, "stale")]
        return freshness(self.assistant, bare) if bare else {}


class _Server(MCPServer):
    async def call_tool(self, name: str, arguments: dict[str, Any], context=None):
        """Arguments that do not fit the input schema: one line naming the field and why."""
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as exc:
            cause = exc.__cause__
            if not isinstance(cause, ValidationError):
                raise
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in cause.errors())
            raise ToolError(f"{name}: {problems}") from cause


def build_server(assistant: Assistant, allow_ingest: bool = False) -> MCPServer:
    service = Service(assistant)

    @asynccontextmanager
    async def lifespan(_server: MCPServer) -> AsyncIterator[None]:
        threading.Thread(target=service.warm, name="warm-up", daemon=True).start()
        yield

    server = _Server(
        "cited-assistant", version="0.1.0", log_level="WARNING", lifespan=lifespan,
        instructions="Answers questions about the user's own documents with the exact source "
                     "sentences (path, line, character span). Use `ask` for an answer, "
                     "`search` for ranked sentences with context, `cite` to find where a "
                     "quote or claim is stated, `sources` for what is indexed.")
    read_only = ToolAnnotations(read_only_hint=True, open_world_hint=False)

    @server.tool(annotations=read_only)
    def ask(question: Annotated[str, Field(description="what you want to know")],
            k: K = None) -> Annotated[CallToolResult, AskResult]:
        """Answer a question from the indexed documents, citing the exact sentences; `found`
        is false when the documents do not say (the nearest sentences are then listed)."""
        def run(a: Assistant) -> CallToolResult:
            answer = a.ask(question, k=k)
            fresh = service.stale_marks([*answer.citations, *answer.nearest])
            data = answer.to_dict()
            cited = [{**evidence(c, fresh), "n": c.n} for c in answer.citations]
            nearest = [{**evidence(c, fresh), "n": c.n} for c in answer.nearest]
            out = {"question": data["question"], "answer": data["answer"],
                   "found": data["found"], "answerer": data["answerer"],
                   "citations": cited, "nearest": nearest, "notes": data["notes"]}
            return _result(out, cited)
        return service.call(run)

    @server.tool(annotations=read_only)
    def search(query: Annotated[str, Field(description="a question or keywords")],
               k: K = None) -> Annotated[CallToolResult, SearchResult]:
        """The indexed sentences that best match the query, ranked, each with its neighbours."""
        def run(a: Assistant) -> CallToolResult:
            if not query.strip():
                raise AssistantError("the query is empty: type what you are looking for")
            _ready(a)
            hits = a.retrieve(query.strip(), k)
            fresh = service.stale_marks(hits)
            results = [{**evidence(h, fresh), "rank": i + 1,
                        "neighbours": [evidence(s, fresh)
                                       for s in a.index.neighbours(h.sentence)]}
                       for i, h in enumerate(hits)]
            return _result({"query": query, "results": results}, results)
        return service.call(run)

    @server.tool(annotations=read_only)
    def cite(text: Annotated[str, Field(description="a quote or a claim")],
             k: Annotated[int, Field(ge=1, le=50, description="how many sentences")] = 5,
             ) -> Annotated[CallToolResult, CiteResult]:
        """Where the documents state this text: exact matches first, then the nearest."""
        def run(a: Assistant) -> CallToolResult:
            _ready(a)
            matches = a.cite(text, k=k)
            fresh = service.stale_marks(matches)
            rows = [{**evidence(m, fresh), "exact": m.exact} for m in matches]
            return _result({"text": text, "matches": rows}, rows)
        return service.call(run)

    @server.tool(name="sources", annotations=read_only)
    def list_sources() -> Annotated[CallToolResult, SourcesResult]:
        """The indexed documents, with their size, sentences and state (up to date, changed
        since indexed, or missing)."""
        def run(a: Assistant) -> CallToolResult:
            return _result({"sources": sources(a)}, [])
        return service.call(run)

    @server.resource("file:///{+path}", name="document", mime_type="text/plain",
                     description="An indexed document's text, as the citations' character "
                                 "spans count it (only documents in the index are served).")
    def document(path: str) -> str:
        with service.lock:
            record = assistant.index.document("/" + path)
        if record is None:
            raise ResourceError(f"/{path} is not an indexed document")
        return record.text

    if allow_ingest:
        @server.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False,
                                                 idempotent_hint=True, open_world_hint=False))
        def ingest(paths: Annotated[list[str], Field(
                min_length=1, description="files and folders to index (absolute paths)")],
                   ) -> Annotated[CallToolResult, IngestResult]:
            """Index files and folders (taking the index's write lock); changed files are
            re-indexed, files gone from an ingested folder are removed."""
            def run(a: Assistant) -> CallToolResult:
                with a.index.writing():
                    report = a.ingestor().ingest_paths([Path(p) for p in paths],
                                                       a.settings.max_file_bytes)
                return _result({**report.to_dict(), "summary": report.summary()}, [])
            return service.call(run)

    return server


def _check_port(port: int) -> None:
    """Fail with one line, before loading anything, when the port cannot be listened on."""
    import socket

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ConfigError(f"--http: cannot listen on 127.0.0.1:{port}: "
                              f"{exc.strerror or exc}") from None


def serve(settings, http_port: int | None = None, allow_ingest: bool = False) -> int:
    """Run the server until the client goes (stdio) or the process is stopped (HTTP)."""
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="assistant mcp: %(levelname)s %(message)s")
    if http_port is not None:
        _check_port(http_port)
    assistant = Assistant(settings)
    server = build_server(assistant, allow_ingest=allow_ingest)
    try:
        if http_port is None:
            server.run("stdio")
        else:
            print(f"assistant mcp: serving streamable HTTP on http://127.0.0.1:{http_port}/mcp",
                  file=sys.stderr, flush=True)
            server.run("streamable-http", host="127.0.0.1", port=http_port)
    finally:
        assistant.close()
    return 0
