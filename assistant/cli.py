"""Command line: `assistant [chat|ingest|ask|cite|sources|remove|eval]`. Settings are built
here, once, and domain errors become one-line messages with a non-zero exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from assistant.errors import AssistantError  # noqa: E402
from assistant.progress import ProgressBar  # noqa: E402


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--index", type=Path, help="folder of the index (default: index/ in the "
                   "repository, else the user's data directory)")
    p.add_argument("--chroma-url", help="use a Chroma server, e.g. http://127.0.0.1:8000")
    p.add_argument("--config", type=Path, help="TOML config file (default: user config dir)")


def _llm(p: argparse.ArgumentParser) -> None:
    p.add_argument("--llm", choices=["offline", "openai"], help="which answerer (default offline)")
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

    p = sub.add_parser("eval", help="measure answer quality on a question file (JSONL)")
    p.add_argument("file", type=Path, help="questions in the format of dev.jsonl")
    p.add_argument("--index", type=Path, help="keep the evaluation index in this folder "
                   "(default: a temporary folder)")
    p.add_argument("--answerer", choices=["offline", "openai"], default="offline",
                   help="which answerer is scored (default offline)")
    p.add_argument("--model", help="model name for the OpenAI-compatible endpoint")
    p.add_argument("--config", type=Path, help="TOML config file (default: user config dir)")
    p.add_argument("--unanswerable", action="store_true",
                   help="ask each question with its own document left out; report false answers")
    p.add_argument("--limit", type=int, help="only the first N questions")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    return parser


def _settings(args: argparse.Namespace):
    from assistant.config import load_settings

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
        print(f"assistant: the index is being written by {holder}; waiting up to "
              f"{args.wait:.0f} s", file=sys.stderr, flush=True)

    with assistant.index.writing(wait=args.wait, on_wait=waiting):
        report = assistant.ingestor().ingest_paths(paths, settings.max_file_bytes, progress=bar)
    bar.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        for f in report.files:
            _print_file(f)
        print(report.summary())
    if args.watch:
        return _watch(assistant, paths, args.json)
    return 0


def _print_file(f) -> None:
    from assistant.documents import display_path

    detail = f" ({f.reason})" if f.reason else (f" ({f.sentences} sentences)"
                                               if f.sentences else "")
    print(f"{f.status:<9} {display_path(f.path)}{detail}", flush=True)


def _watch(assistant, paths: list[Path], as_json: bool) -> int:
    """`ingest --watch`: a line per re-indexed document until Ctrl-C."""
    from dataclasses import asdict

    from assistant import watch

    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        print(f"assistant: cannot watch {', '.join(missing)}: not found", file=sys.stderr)
        return 2
    def ready() -> None:
        print(f"watching {', '.join(str(p) for p in paths)} (Ctrl-C ends it)",
              file=sys.stderr, flush=True)

    def show(f) -> None:
        if as_json:
            print(json.dumps(asdict(f), ensure_ascii=False), flush=True)
        else:
            _print_file(f)

    try:
        watch.watch(assistant, paths, show, on_ready=ready)
    except KeyboardInterrupt:
        pass
    print("stopped watching", file=sys.stderr, flush=True)
    return 0


def cmd_sources(args: argparse.Namespace) -> int:
    from assistant.documents import display_path
    from assistant.service import Assistant

    sources = Assistant(_settings(args)).sources()
    if args.json:
        print(json.dumps([s.to_dict() for s in sources], indent=2, ensure_ascii=False))
        return 0
    for s in sources:
        size = "?" if s.size is None else (
            f"{s.size} B" if s.size < 1024 else f"{s.size / 1024:.1f} KB")
        pages = f", {s.pages} pages" if s.pages else ""
        when = (s.indexed_at or "?").replace("T", " ").replace("+00:00", " UTC")
        print(f"{s.state:<10} {display_path(s.path)}  ({s.format}, {size}, "
              f"{s.sentences} sentences{pages}; indexed {when})")
    stale = sum(1 for s in sources if s.state != "up to date")
    print(f"{len(sources)} documents, {stale} changed or missing on disk"
          + ("; run `assistant ingest` to update them" if stale else ""))
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from assistant.documents import display_path
    from assistant.service import Assistant

    assistant = Assistant(_settings(args))
    with assistant.index.writing(wait=args.wait):
        removed, unknown = assistant.remove(args.paths)
    if args.json:
        print(json.dumps({"removed": removed, "not_indexed": unknown}, indent=2,
                         ensure_ascii=False))
    else:
        for path in removed:
            print(f"removed   {display_path(path)}")
        print(f"{len(removed)} document{'s' if len(removed) != 1 else ''} removed")
    for given in unknown:
        print(f"assistant: {given}: not in the index (see `assistant sources`)", file=sys.stderr)
    return 2 if unknown and not removed else 0


def _print_answer(answer) -> None:
    print(answer.text)
    for note in answer.notes:
        print(f"note: {note}")
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            print(f"  [{c.n}] {c.sentence.location}  (score {c.score:.3f})")
            print(f"      {c.sentence.text}")
            _print_stale(c)
    elif answer.nearest:
        print("\nNearest sentences:")
        for c in answer.nearest:
            print(f"  {c.sentence.location}  (score {c.score:.3f})")
            print(f"      {c.sentence.text}")
            _print_stale(c)


def _print_stale(cited) -> None:
    """Under a citation whose document changed or vanished since it was indexed."""
    if cited.stale:
        from assistant.freshness import hint

        print(f"      ! {hint(cited.stale_reason)} (the sentence is shown as indexed)")


def cmd_ask(args: argparse.Namespace) -> int:
    from assistant.service import Assistant

    settings = _settings(args)
    assistant = Assistant(settings)
    streamed = settings.llm != "offline" and not args.json and sys.stdout.isatty()

    shown: list[str] = []

    def on_token(token: str) -> None:
        shown.append(token)
        sys.stdout.write(token)
        sys.stdout.flush()

    if _default_index(args, settings):
        _index_seeds(assistant)
    answer = assistant.ask(args.question, on_token=on_token if streamed else None)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
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

    assistant = Assistant(_settings(args))
    matches = assistant.cite(args.text, k=args.k)
    if args.json:
        print(json.dumps([{
            "exact": m.exact, "score": round(m.score, 4), "id": m.sentence.id,
            "path": m.sentence.path, "line": m.sentence.line,
            "char_start": m.sentence.char_start, "char_end": m.sentence.char_end,
            "text": m.sentence.text, "stale": m.stale, "stale_reason": m.stale_reason}
            for m in matches], indent=2, ensure_ascii=False))
    else:
        for m in matches:
            mark = "exact" if m.exact else f"{m.score:.3f}"
            print(f"[{mark}] {m.sentence.location}\n    {m.sentence.text}")
            _print_stale(m)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from assistant.tui.app import run_app

    return run_app(_settings(args))


def cmd_eval(args: argparse.Namespace) -> int:
    import tempfile

    from assistant import evaluate as ev
    from assistant.config import load_settings
    from assistant.service import Assistant

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
            run = ev.evaluate_unanswerable if args.unanswerable else ev.evaluate
            report = run(assistant, items, progress=bar)
            bar.close()
        finally:
            assistant.close()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(ev.format_table(report))
    return 0


COMMANDS = {"ingest": cmd_ingest, "ask": cmd_ask, "cite": cmd_cite, "chat": cmd_chat,
            "eval": cmd_eval, "sources": cmd_sources, "remove": cmd_remove}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["chat", *argv]  # `assistant [--index DIR] [--llm NAME]` opens the chat UI
    args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except AssistantError as exc:
        print(f"assistant: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        sys.stderr.close()
        return 0
