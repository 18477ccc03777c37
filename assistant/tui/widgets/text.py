"""Building styled text for the chat: answers with clickable citation markers, evidence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content, Span

from assistant.display import safe

if TYPE_CHECKING:
    from assistant.conversations import Entry, Evidence

VERDICT_MARK = {
    "supported": ("✓ supported", "$success"),
    "off-question": ("⊘ off-question", "$warning"),
    "unsupported": ("✗ unsupported", "bold $error"),
    "unverified": ("· unverified", "$text-muted"),
    "nearest": ("~ nearest", "$warning"),
    "exact": ("= exact", "bold $success"),
    "similar": ("≈ similar", "$text-muted"),
}


class Builder:
    """Appends text pieces, each with its own styles, into one Content."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.length = 0

    def add(self, text: str, *styles: str) -> Builder:
        text = safe(text, keep="\n")  # document text and file names: never raw controls
        for style in styles:
            if style and text:
                self.spans.append(Span(self.length, self.length + len(text), style))
        self.parts.append(text)
        self.length += len(text)
        return self

    def content(self) -> Content:
        return Content("".join(self.parts), spans=self.spans)


def entry_body(entry: Entry, position: int) -> Content:
    """The reply part of an entry: the answer with its markers, or the quote look-up results."""
    from assistant.conversations import answer_segments

    b = Builder()
    if entry.kind == "cite":
        if not entry.matches:
            return b.add("No sentence in your documents states this.", "$text-muted").content()
        for i, m in enumerate(entry.matches, start=1):
            label, style = VERDICT_MARK["exact" if m.exact else "similar"]
            b.add(f"[{i}]", "bold $accent", f"@click=app.open_citation({position},{i})")
            b.add(f" {label} ", style).add(f"{m.score:.2f}  ", "$text-muted")
            b.add(m.sentence.text)
            b.add("\n" if i < len(entry.matches) else "")
        return b.content()
    answer = entry.answer
    if answer is None:
        return b.content()
    if not answer.found:
        b.add(answer.text, "italic")
        if answer.nearest:
            b.add("\nNearest sentences, not an answer:", "$text-muted")
            for c in answer.nearest:
                b.add("\n  ")
                b.add(f"[{c.n}]", "$warning", f"@click=app.open_citation({position},{c.n})")
                b.add(f" {c.sentence.text}", "$text-muted")
    else:
        for k, seg in enumerate(answer_segments(answer)):
            if k:
                b.add(" ")
            if seg.mark == "unsupported":
                b.add("✗ ", "bold $error").add(seg.text, "strike $error")
            elif seg.mark == "off-question":  # supported, but it answers another question
                b.add("⊘ ", "bold $warning").add(seg.text, "italic $text-muted")
            else:
                b.add(seg.text)
            for n in seg.citations:
                style = {"unsupported": "bold $error",
                         "off-question": "bold $warning"}.get(seg.mark, "bold $accent")
                b.add(" ").add(f"[{n}]", style, f"@click=app.open_citation({position},{n})")
    for note in answer.notes:
        b.add(f"\nnote: {note}", "italic $warning")
    if answer.partial:
        b.add("\n(the answer was cut short)", "italic $warning")
    return b.content()


def evidence_prompt(ev: Evidence) -> Content:
    """One evidence item: number, path:line, score and verdict, then the sentence."""
    label, style = VERDICT_MARK.get(ev.verdict, (ev.verdict, ""))
    b = Builder()
    b.add(f"[{ev.n}] ", "bold $accent").add(label, style)
    b.add(f"  score {ev.score:.2f}", "$text-muted")
    b.add("\n").add(ev.sentence.location, "underline $text-secondary")
    b.add("\n" + ev.sentence.text)
    if ev.stale_reason:
        from assistant.freshness import hint

        b.add("\n" + hint(ev.stale_reason), "$warning")
    return b.content()
