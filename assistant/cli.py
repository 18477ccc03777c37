"""Command line: `assistant [chat|ingest|ask|cite|sources|remove|repair|eval|mcp]`. Settings
are built here, once, and domain errors become one-line messages with a non-zero exit code."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import sys
import threading
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from assistant import answerers  # noqa: E402
from assistant.display import safe, safe_json  # noqa: E402
from assistant.errors import AssistantError, ConfigError, InputError  # noqa: E402
from assistant.progress import ProgressBar  # noqa: E402


def _folder(value: str) -> Path:
    """A --index value: `~` expanded; an empty one refused (it would mean the current folder)."""
    if not value.strip():
        raise argparse.ArgumentTypeError("empty path; name the index folder")
    return Path(os.path.expanduser(value))


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=_folder, help="folder of the index (default: index/ in the "
                   "repository, else the user's data directory)")
    p.add_argument("--chroma-url", help="use a Chroma server, e.g. http://127.0.0.1:8000")
    p.add_argument("--config", type=Path, help="TOML config file (default: user config dir)")


def _llm(p: argparse.ArgumentParser) -> None:
    p.add_argument("--llm", choices=answerers.names(),
                   help=f"which answerer (default {answerers.DEFAULT})")
    p.add_argument("--model", help="model name for the OpenAI-compatible endpoint")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="assistant",
        description="Answers questions about your documents, citing the exact sentences.")
    sub = parser.add_subparsers(dest="command")

    p = sub.add_parser("chat", help="open the terminal chat UI (the default)")
    _common(p)
    _llm(p)

    p = sub.add_parser("ingest", help="index .txt and .md files (default: seeds/)")
    _common(p)
    p.add_argument("paths", nargs="*", type=Path)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                   help="if another process is writing the index, wait up to this long")
    p.add_argument("--watch", action="store_true",
                   help="then keep watching: re-index files as they change (Ctrl-C ends it)")

    p = sub.add_parser("sources", help="list the indexed documents and their state on disk")
    _common(p)
    p.add_argument("--json", action="store_true", help="print the list as JSON")

    p = sub.add_parser("remove", help="drop documents from the index (a folder: all under it)")
    _common(p)
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--json", action="store_true", help="print what was removed as JSON")
    p.add_argument("--wait", type=float, default=0, metavar="SECONDS",
                   help="if another process is writing the index, wait up to this long")

    p = sub.add_parser("ask", help="answer one question with cited sentences")
    _common(p)
    _llm(p)
    p.add_argument("question")
    p.add_argument("-k", type=int, help="evidence sentences to retrieve")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")

    p = sub.add_parser("cite", help="find where the documents state a quote or claim")
    _common(p)
    p.add_argument("text")
    p.add_argument("-k", type=int, default=5, help="how many sentences to show")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("repair", help="rebuild a damaged catalog from the Chroma store")
    _common(p)
    p = sub.add_parser("mcp", help="serve the index to MCP clients (editors, agents, desktop "
                       "chat apps) over stdio, or streamable HTTP with --http")
    _common(p)
    _llm(p)
    p.add_argument("--http", type=int, metavar="PORT",
                   help="serve streamable HTTP on 127.0.0.1:PORT (path /mcp) instead of stdio")
    p.add_argument("--allow-ingest", action="store_true",
                   help="add an `ingest` tool that writes to the index (read-only otherwise)")

    p = sub.add_parser("eval", help="measure answer quality on a question file (JSONL)")
    p.add_argument("file", type=Path, help="questions in the format of dev.jsonl")
    p.add_argument("--index", type=_folder, help="keep the evaluation index in this folder "
                   "(default: a temporary folder)")
    p.add_argument("--answerer", choices=answerers.names(), default=answerers.DEFAULT,
                   help=f"which answerer is scored (default {answerers.DEFAULT})")
    p.add_argument("--model", help="model name for the OpenAI-compatible endpoint")
    p.add_argument("--config", type=Path, help="TOML config file (default: user config dir)")
    p.add_argument("--unanswerable", action="store_true",
                   help="ask each question with its own document left out; report false answers")
    p.add_argument("--per-document", action="store_true",
                   help="also ask each question against an index holding only its own "
                   "document (vectors copied, not re-embedded); prints both and how often "
                   "their found/not-found decisions agree")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--format", choices=["text", "pdf", "docx", "html"], default="text",
                   help="ask through the documents rendered in this format (files named by "
                   "pdf.json / docx-html.json beside FILE), beside plain text on the same "
                   "questions (default text)")
    p.add_argument("--rendered", type=Path, help="folder of the rendered files "
                   "(default: the format's folder beside FILE)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser


def _check_config(path: Path | None) -> None:
    from assistant.errors import ConfigError

    if path is not None and not path.exists():
        raise ConfigError(f"{safe(str(path))}: config file not found")


def _settings(args: argparse.Namespace):
    from assistant.config import load_settings

    _check_config(getattr(args, "config", None))
    return load_settings(
        config_file=getattr(args, "config", None),
        index_dir=getattr(args, "index", None),
        chroma_url=getattr(args, "chroma_url", None),
        llm=getattr(args, "llm", None),
        model=getattr(args, "model", None),
        top_k=getattr(args, "k", None) if args.command == "ask" else None,
    )


def cmd_ingest(args: argparse.Namespace) -> int:
    from assistant.config import default_seeds_dir
    from assistant.service import Assistant

    settings = _settings(args)
    assistant = Assistant(settings)
    paths = args.paths or [default_seeds_dir()]
    bar = ProgressBar("ingest")
    def waiting(holder: str) -> None:
        print(f"assistant: the index is being written by {safe(holder)}; waiting up to "
              f"{args.wait:.0f} s", file=sys.stderr, flush=True)

    with assistant.index.writing(wait=args.wait, on_wait=waiting):
        report = assistant.ingestor().ingest_paths(paths, settings.max_file_bytes, progress=bar)
    bar.close()
    if args.json:
        print(safe_json(report.to_dict()))
    else:
        for f in report.files:
            _print_file(f)
        print(report.summary())
    if args.watch:
        return _watch(assistant, paths, args.json)
    return 0


def _print_file(f) -> None:
    from assistant.types import display_path

    detail = f" ({f.reason})" if f.reason else (f" ({f.sentences} sentences)"
                                               if f.sentences else "")
    if f.warnings:
        detail += f"; warning: {'; '.join(f.warnings)}"
    print(f"{f.status:<9} {safe(display_path(f.path))}{safe(detail)}", flush=True)


def _watch(assistant, paths: list[Path], as_json: bool) -> int:
    """`ingest --watch`: a line per re-indexed document until Ctrl-C."""
    from dataclasses import asdict

    from assistant import watch

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"assistant: cannot watch {safe(', '.join(missing))}: not found", file=sys.stderr)
        return 2
    def ready() -> None:
        print(f"watching {safe(', '.join(str(p) for p in paths))} (Ctrl-C ends it)",
              file=sys.stderr, flush=True)

    def show(f) -> None:
        if as_json:
            print(safe_json(asdict(f)).replace("\n", " "), flush=True)
        else:
            _print_file(f)

    # Ctrl-C (or SIGTERM) asks the watcher to stop after the set of changes being indexed, so
    # an interrupt never lands inside a write to the index; a second Ctrl-C interrupts at once.
    # A SIGINT ignored from the start (a background job of a script, `nohup ... &`) stays
    # ignored, as Python leaves it.
    stop = threading.Event()

    def stopping(signum, frame) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    caught = [signal.SIGTERM]
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        caught.append(signal.SIGINT)
    handlers = {sig: signal.signal(sig, stopping) for sig in caught}
    try:
        watch.watch(assistant, paths, show, stop=stop, on_ready=ready)
    except KeyboardInterrupt:
        pass
    finally:
        for sig, previous in handlers.items():
            signal.signal(sig, previous)
    print("stopped watching", file=sys.stderr, flush=True)
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    from assistant.service import Assistant
    from assistant.types import display_path

    settings = _settings(args)
    _existing_index(settings)
    sources = Assistant(settings).sources()
    if args.json:
        print(safe_json([s.to_dict() for s in sources]))
        return 0
    for s in sources:
        size = "?" if s.size is None else (
            f"{s.size} B" if s.size < 1024 else f"{s.size / 1024:.1f} KB")
        pages = f", {s.pages} pages" if s.pages else ""
        when = (s.indexed_at or "?").replace("T", " ").replace("+00:00", " UTC")
        print(f"{s.state:<10} {safe(display_path(s.path))}  ({s.format}, {size}, "
              f"{s.sentences} sentences{pages}; indexed {when})")
    stale = sum(1 for s in sources if s.state != "up to date")
    print(f"{len(sources)} documents, {stale} changed or missing on disk"
          + ("; run `assistant ingest` to update them" if stale else ""))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from assistant.service import Assistant
    from assistant.types import display_path

    settings = _settings(args)
    _existing_index(settings)
    assistant = Assistant(settings)
    with assistant.index.writing(wait=args.wait):
        removed, unknown = assistant.remove(args.paths)
    if args.json:
        print(safe_json({"removed": removed, "not_indexed": unknown}))
    else:
        for path in removed:
            print(f"removed   {safe(display_path(path))}")
        print(f"{len(removed)} document{'s' if len(removed) != 1 else ''} removed")
    for given in unknown:
        print(f"assistant: {safe(str(given))}: not in the index (see `assistant sources`)",
              file=sys.stderr)
    return 2 if unknown and not removed else 0


def _print_answer(answer) -> None:
    print(safe(answer.text, keep="\n"))
    for note in answer.notes:
        print(f"note: {safe(note)}")
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            print(f"  [{c.n}] {safe(c.sentence.location)}  (score {c.score:.3f})")
            print(f"      {safe(c.sentence.text)}")
            _print_stale(c)
    elif answer.nearest:
        print("\nNearest sentences:")
        for c in answer.nearest:
            print(f"  {safe(c.sentence.location)}  (score {c.score:.3f})")
            print(f"      {safe(c.sentence.text)}")
            _print_stale(c)


def _print_stale(cited) -> None:
    """Under a citation whose document changed or vanished since it was indexed."""
    if cited.stale:
        from assistant.freshness import hint

        print(f"      ! {hint(cited.stale_reason)} (the sentence is shown as indexed)")


def _existing_index(settings) -> None:
    """Readers never create an index: a mistyped --index is an error, not a new empty one."""
    from assistant.config import default_index_dir
    from assistant.store import check_index

    if settings.index_dir != default_index_dir():
        check_index(settings, create=False)


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant.service import Assistant

    settings = _settings(args)
    if args.question.strip():  # an empty question is the first thing to say
        _existing_index(settings)
    assistant = Assistant(settings)
    streamed = (answerers.get(settings.llm).load().streams and not args.json
                and sys.stdout.isatty())

    shown: list[str] = []

    def on_token(token: str) -> None:
        shown.append(token)
        sys.stdout.write(safe(token, keep="\n"))
        sys.stdout.flush()

    if _default_index(args, settings):
        _index_seeds(assistant)
    answer = assistant.ask(args.question, on_token=on_token if streamed else None)
    if args.json:
        print(safe_json(answer.to_dict()))
    else:
        if shown:
            print("\n\nChecked against the sources:")
        _print_answer(answer)
    return 0


def _default_index(args: argparse.Namespace, settings) -> bool:
    from assistant.config import default_index_dir

    return not settings.chroma_url and settings.index_dir == default_index_dir()


def _index_seeds(assistant) -> None:
    """A first run: the default index is empty, so `seeds/` is indexed first (as chat does)."""
    from assistant.config import default_seeds_dir

    if assistant.index.count():
        return
    print(f"assistant: the index is empty; indexing {default_seeds_dir()} first",
          file=sys.stderr, flush=True)
    report = assistant.index_seeds_if_empty(wait=60)
    if report is not None:
        print(f"assistant: {report.summary()}", file=sys.stderr, flush=True)


def cmd_cite(args: argparse.Namespace) -> int:
    from assistant.service import Assistant

    settings = _settings(args)
    _existing_index(settings)
    assistant = Assistant(settings)
    matches = assistant.cite(args.text, k=args.k)
    if args.json:
        print(safe_json([m.to_dict() for m in matches]))
    else:
        for m in matches:
            mark = "exact" if m.exact else f"{m.score:.3f}"
            print(f"[{mark}] {safe(m.sentence.location)}\n    {safe(m.sentence.text)}")
            _print_stale(m)
    return 0


def cmd_repair(args: argparse.Namespace) -> int:
    from assistant.store import rebuild_catalog

    settings = _settings(args)
    report = rebuild_catalog(settings)
    print(f"rebuilt the catalog of {safe(str(settings.index_dir))} from the Chroma store: "
          f"{report['documents']} documents, {report['sentences']} sentences "
          f"({report['texts_from_files']} document texts read from their files, the others "
          "rebuilt from their sentences)")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from assistant.tui.app import run_app

    return run_app(_settings(args))


def cmd_mcp(args: argparse.Namespace) -> int:
    from assistant.mcp_server import serve

    if args.http is not None and not 0 < args.http < 65536:
        raise ConfigError(f"--http: {args.http} is not a port number (1-65535)")
    settings = _settings(args)
    if not args.allow_ingest:  # a read-only server on a mistyped --index: say so, create nothing
        _existing_index(settings)
    return serve(settings, http_port=args.http, allow_ingest=args.allow_ingest)


def cmd_eval(args: argparse.Namespace) -> int:
    import tempfile

    from assistant import evaluate as ev
    from assistant.config import load_settings
    from assistant.service import Assistant

    _check_config(args.config)
    if args.format != "text":
        return _eval_format(args)
    items = ev.load_items(args.file, args.limit)
    with tempfile.TemporaryDirectory(prefix="assistant-eval-") as tmp:
        root = args.index or Path(tmp)
        settings = load_settings(config_file=args.config, index_dir=root,
                                 data_dir=Path(tmp) / "data", llm=args.answerer,
                                 model=args.model, collection=ev.collection_for(args.file))
        assistant = Assistant(settings)
        try:
            bar = ProgressBar("index", "sentences")
            ev.index_items(assistant, items, progress=bar)
            bar.close()
            bar = ProgressBar("ask", "questions")
            if args.unanswerable:
                report = ev.evaluate_unanswerable(assistant, items, progress=bar)
            else:
                found: dict[str, bool] = {}
                report = ev.evaluate(assistant, items, progress=bar, found=found)
            bar.close()
            if args.per_document and not args.unanswerable:
                solo = Assistant(load_settings(
                    config_file=args.config, index_dir=Path(tmp) / "solo",
                    data_dir=Path(tmp) / "data", llm=args.answerer, model=args.model,
                    collection="per-document"), encoder=assistant.encoder)
                try:
                    bar = ProgressBar("ask per document", "questions")
                    solo_found: dict[str, bool] = {}
                    report = {"collection": report, "per_document": ev.evaluate_per_document(
                        assistant, items, solo, progress=bar, found=solo_found),
                        "decision_agreement": ev.agreement(found, solo_found)}
                    bar.close()
                finally:
                    solo.close()
        finally:
            assistant.close()
    if args.json:
        print(json.dumps(report, indent=2))
    elif "per_document" in report:
        solo = report["per_document"]
        print("one collection\n" + ev.format_table(report["collection"]))
        print(f"\nper document ({solo['documents']} indexes, {solo['seconds']:.0f} s)\n"
              + ev.format_table(solo))
        print(f"\nsame found/not-found decision both ways: {report['decision_agreement']:.3f}")
    else:
        print(ev.format_table(report))
    return 0


def _eval_format(args: argparse.Namespace) -> int:
    """`eval --format F`: the questions whose document has a file in F, asked through those
    files and through the plain text, scored the same way (eval_formats.py)."""
    import tempfile

    from assistant import eval_formats as ef
    from assistant import evaluate as ev
    from assistant.config import load_settings
    from assistant.service import Assistant

    files = ef.rendered_files(args.file, args.format, args.rendered)
    items = [it for it in ev.load_items(args.file) if it.doc_id in files][: args.limit]
    if not items:
        raise InputError(f"{args.file}: no question is about a document rendered as "
                         f"{args.format}")
    files = {it.doc_id: files[it.doc_id] for it in items}
    report: dict = {"format": args.format, "n": len(items)}
    with tempfile.TemporaryDirectory(prefix="assistant-eval-") as tmp:
        for kind in ("text", args.format):
            root = (args.index or Path(tmp)) / kind
            settings = load_settings(config_file=args.config, index_dir=root,
                                     data_dir=Path(tmp) / "data", llm=args.answerer,
                                     model=args.model,
                                     collection=f"{ev.collection_for(args.file)}-{kind}")
            assistant = Assistant(settings)
            try:
                bar = ProgressBar(f"index {kind}", "sentences")
                if kind == "text":
                    ev.index_items(assistant, items, progress=bar)
                else:
                    ef.index_rendered(assistant, files, settings.max_file_bytes, progress=bar)
                bar.close()
                matcher = ef.FoldedMatcher()
                pages = ef.PageCheck(files, matcher) if kind == "pdf" else None
                bar = ProgressBar(f"ask {kind}", "questions")
                report[kind] = ev.evaluate(assistant, items, progress=bar, matcher=matcher,
                                           observe=pages)
                bar.close()
                if pages is not None:
                    report["pages"] = pages.summary()
            finally:
                assistant.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(ef.format_comparison(report))
    return 0


COMMANDS = {"ingest": cmd_ingest, "ask": cmd_ask, "cite": cmd_cite, "chat": cmd_chat,
            "eval": cmd_eval, "sources": cmd_sources, "remove": cmd_remove,
            "repair": cmd_repair, "mcp": cmd_mcp}


def _damaged(args: argparse.Namespace, exc: Exception) -> Exception:
    from assistant.catalog import damaged
    from assistant.store import catalog_path

    try:
        return damaged(catalog_path(_settings(args)), exc)
    except AssistantError:
        return exc


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["chat", *argv]  # `assistant [--index DIR] [--llm NAME]` opens the chat UI
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except AssistantError as exc:
        print(f"assistant: {safe(str(exc))}", file=sys.stderr)
        return 2
    except sqlite3.DatabaseError as exc:  # a catalog damaged past the pages read on opening
        print(f"assistant: {safe(str(_damaged(args, exc)))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return 0
