"""Command line: `assistant [chat|ingest|ask|cite|eval]`. Settings are built here, once, and
domain errors become one-line messages with a non-zero exit code."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from assistant.errors import AssistantError, InputError  # noqa: E402
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
    p.add_argument("--format", choices=["text", "pdf", "docx", "html"], default="text",
                   help="ask through the documents rendered in this format (files named by "
                   "pdf.json / docx-html.json beside FILE), beside plain text on the same "
                   "questions (default text)")
    p.add_argument("--rendered", type=Path, help="folder of the rendered files "
                   "(default: the format's folder beside FILE)")
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
    from assistant.documents import display_path
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
            detail = f" ({f.reason})" if f.reason else (f" ({f.sentences} sentences)"
                                                       if f.sentences else "")
            if f.warnings:
                detail += f"; warning: {'; '.join(f.warnings)}"
            print(f"{f.status:<9} {display_path(f.path)}{detail}")
        print(report.summary())
    return 0


def _print_answer(answer) -> None:
    print(answer.text)
    for note in answer.notes:
        print(f"note: {note}")
    if answer.citations:
        print("\nSources:")
        for c in answer.citations:
            print(f"  [{c.n}] {c.sentence.location}  (score {c.score:.3f})")
            print(f"      {c.sentence.text}")
    elif answer.nearest:
        print("\nNearest sentences:")
        for c in answer.nearest:
            print(f"  {c.sentence.location}  (score {c.score:.3f})")
            print(f"      {c.sentence.text}")


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

    answer = assistant.ask(args.question, on_token=on_token if streamed else None)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
    else:
        if shown:
            print("\n\nChecked against the sources:")
        _print_answer(answer)
    return 0


def cmd_cite(args: argparse.Namespace) -> int:
    from assistant.service import Assistant

    assistant = Assistant(_settings(args))
    matches = assistant.cite(args.text, k=args.k)
    if args.json:
        print(json.dumps([{
            "exact": m.exact, "score": round(m.score, 4), "id": m.sentence.id,
            "path": m.sentence.path, "line": m.sentence.line,
            "char_start": m.sentence.char_start, "char_end": m.sentence.char_end,
            "page": m.sentence.page, "page_end": m.sentence.page_end,
            "page_label": m.sentence.page_label, "section": m.sentence.section,
            "text": m.sentence.text} for m in matches], indent=2, ensure_ascii=False))
    else:
        for m in matches:
            mark = "exact" if m.exact else f"{m.score:.3f}"
            print(f"[{mark}] {m.sentence.location}\n    {m.sentence.text}")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from assistant.tui.app import run_app

    return run_app(_settings(args))


def cmd_eval(args: argparse.Namespace) -> int:
    import tempfile

    from assistant import evaluate as ev
    from assistant.config import load_settings
    from assistant.service import Assistant

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
            "eval": cmd_eval}


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
