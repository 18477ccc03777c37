"""Export a conversation: Markdown with a footnote quoting every cited sentence with its
`path:line`, and JSON with the character spans, so anyone can check each citation."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.conversations import Entry, answer_segments
from assistant.types import Sentence


def _location(s: Sentence) -> str:
    """`path:line`, or `path p. 3, line 12` for a paged format (see Sentence.location)."""
    return s.location


def _quote(text: str) -> str:
    return "“" + " ".join(text.split()) + "”"


def to_markdown(entries: list[Entry], title: str = "Conversation") -> str:
    """The conversation as Markdown; footnote `[^E-N]` is citation N of entry E."""
    body: list[str] = [f"# {title}", ""]
    notes: list[str] = []

    def ref(e: int, n: int, sentence: Sentence) -> str:
        label = f"{e}-{n}"
        notes.append(f"[^{label}]: {_quote(sentence.text)} — `{_location(sentence)}`, "
                     f"characters {sentence.char_start}–{sentence.char_end}")
        return f"[^{label}]"

    for e, entry in enumerate(entries, start=1):
        if entry.kind == "cite":
            body += [f"## Where is it stated: {_quote(entry.question)}", ""]
            if not entry.matches:
                body += ["No sentence found.", ""]
            for i, m in enumerate(entry.matches, start=1):
                kind = "exact match" if m.exact else f"score {m.score:.3f}"
                body.append(f"{i}. {m.sentence.text} ({kind}){ref(e, i, m.sentence)}")
            body.append("")
            continue
        answer = entry.answer
        body += [f"## {entry.question}", ""]
        if answer is None:
            continue
        by_n = {c.n: c for c in answer.citations}
        parts = []
        for seg in answer_segments(answer):
            refs = "".join(ref(e, n, by_n[n].sentence) for n in seg.citations if n in by_n)
            mark = {"unsupported": " *(not supported by its sources)*",
                    "off-question": " *(does not address the question)*"}.get(seg.mark, "")
            parts.append(f"{seg.text}{mark}{refs}")
        body += [" ".join(parts), ""]
        for note in answer.notes:
            body += [f"> Note: {note}", ""]
        if not answer.citations and answer.nearest:
            body += ["Nearest sentences (not cited as an answer):", ""]
            for c in answer.nearest:
                body.append(f"- {c.sentence.text} (score {c.score:.3f}) "
                            f"— `{_location(c.sentence)}`")
            body.append("")
    if notes:
        body += ["---", "", *notes, ""]
    return "\n".join(body)


def to_json(entries: list[Entry], title: str = "Conversation") -> dict:
    """The conversation as data: every cited sentence with its path, line and character span."""
    out = []
    for entry in entries:
        if entry.kind == "cite":
            out.append({"kind": "cite", "query": entry.question, "matches": [
                {"n": i, **m.to_dict()} for i, m in enumerate(entry.matches, start=1)]})
        elif entry.answer is not None:
            out.append({"kind": "answer", **entry.answer.to_dict()})
    return {"title": title, "entries": out}


def export(entries: list[Entry], base: Path, title: str = "Conversation") -> tuple[Path, Path]:
    """Write `base`.md and `base`.json; returns both paths."""
    base.parent.mkdir(parents=True, exist_ok=True)
    md = base.with_name(base.name + ".md")
    js = base.with_name(base.name + ".json")
    md.write_text(to_markdown(entries, title), encoding="utf-8")
    js.write_text(json.dumps(to_json(entries, title), indent=2, ensure_ascii=False) + "\n",
                  encoding="utf-8")
    return md, js
