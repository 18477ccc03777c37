"""A cited sentence in its document: the text scrolled to it, the sentence highlighted and its
neighbours shaded; for a paged format (PDF) the text of its page (or pages, when the sentence
crosses a break). Escape goes back to the chat."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Footer, Static

from assistant.display import safe, same_length
from assistant.freshness import MISSING, UP_TO_DATE

if TYPE_CHECKING:
    from assistant.service import Assistant
    from assistant.types import Sentence

CONTEXT = 2  # sentences shaded on each side


class DocumentScreen(Screen):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back to chat"),
        Binding("q", "app.pop_screen", "Back", show=False),
        Binding("n", "step(1)", "Next citation"),
        Binding("p", "step(-1)", "Previous citation"),
    ]

    def __init__(self, assistant: Assistant, sentence: Sentence, label: str = "",
                 others: list[tuple[str, Sentence]] | None = None, at: int = 0) -> None:
        """`others`: every (label, sentence) of the same answer, to step through; `at`: this."""
        super().__init__()
        self.assistant = assistant
        self.sentence = sentence
        self.label = label
        self.others = others or [(label, sentence)]
        self.at = at
        self.span: tuple[int, int] | None = None
        self.neighbours: list[Sentence] = []
        self.text = ""
        self.sentence_y = 0
        self.state: str | None = None
        """The document's state on disk (assistant.freshness), once loaded."""

    def compose(self):
        s = self.sentence
        count = (f"  ({self.at + 1} of {len(self.others)}: n / p for the others)"
                 if len(self.others) > 1 else "")
        yield Static(Content.assemble((f"{self.label} ", "bold $accent"), (s.location, "bold"),
                                      "  ", (s.title, "italic"), (count, "$text-muted")),
                     id="doc-header")
        with VerticalScroll(id="doc-scroll"):
            yield Static(Content.styled("loading the document…", "$text-muted"), id="doc-text")
        yield Static("", id="doc-note")
        yield Footer()

    def action_step(self, step: int) -> None:
        at = self.at + step
        if not 0 <= at < len(self.others):
            self.notify("no more citations this way", timeout=3)
            return
        label, sentence = self.others[at]
        self.app.switch_screen(DocumentScreen(self.assistant, sentence, label, self.others, at))

    def on_mount(self) -> None:
        self.query_one("#doc-scroll").focus()
        self.load()

    @work(thread=True, exit_on_error=False)
    def load(self) -> None:
        index = self.assistant.index
        record = index.document(self.sentence.path)
        neighbours = index.neighbours(self.sentence, CONTEXT, CONTEXT) if record else []
        self.state = self.assistant.freshness([self.sentence.path]).get(self.sentence.path)
        window = self._page_window(index) if record else None
        self.app.call_from_thread(self.show, record.text if record else None, neighbours, window)

    def _page_window(self, index) -> tuple[int, int] | None:
        """The span of the sentence's page(s) in the document text, from the sentences on them
        (None for formats without pages)."""
        s = self.sentence
        if s.page is None:
            return None
        last = s.page_end or s.page
        on_page = [x for x in index.document_sentences(s.path)
                   if x.doc_hash == s.doc_hash and x.page is not None
                   and s.page <= x.page <= last]
        if not on_page:
            return None
        return min(x.char_start for x in on_page), max(x.char_end for x in on_page)

    def show(self, text: str | None, neighbours: list[Sentence],
             window: tuple[int, int] | None = None) -> None:
        s = self.sentence
        note = self.query_one("#doc-note", Static)
        if text is None:
            self.query_one("#doc-text", Static).update(
                Content.styled("This document is no longer in the index.", "$error"))
            note.update(Content.assemble(("cited sentence: ", "bold"), safe(s.text)))
            return
        start, end = s.char_start, s.char_end
        if text[start:end] != s.text:  # the file changed since: look for the sentence
            found = text.find(s.text)
            start, end = (found, found + len(s.text)) if found >= 0 else (-1, -1)
            neighbours, window = [], None
            note.update(Content.styled(
                "The document changed since this citation was made."
                + ("" if found >= 0 else " The sentence is no longer in it."), "$warning"))
        elif self.state not in (None, UP_TO_DATE):
            gone = "is missing" if self.state == MISSING else "changed"
            note.update(Content.styled(
                f"Shown as it was indexed: the file {gone} since; run `assistant ingest`",
                "$warning"))
        base = 0
        if window is not None and start >= 0 and window[0] <= start and end <= window[1]:
            base = window[0]  # show the page: offsets below are relative to its start
            text = text[window[0]:window[1]]
            start, end = start - base, end - base
            if self.state in (None, UP_TO_DATE):
                pages = f"pages {s.page}–{s.page_end}" if s.page_end else f"page {s.page}"
                note.update(Content.styled(f"showing {pages} of the document", "$text-muted"))
        self.text = text
        spans = []
        if neighbours:
            spans.append((max(min(n.char_start for n in neighbours) - base, 0),
                          min(max(n.char_end for n in neighbours) - base, len(text)),
                          "on $boost"))
        self.neighbours = [n for n in neighbours if n.id != s.id]
        if start >= 0:
            self.span = (start, end)
            spans.append((start, end, "bold $text on $accent 40%"))
        content = Content(same_length(text))  # one character for one: the spans stay valid
        for a, b, style in spans:
            content = content.stylize(style, a, b)
        self.query_one("#doc-text", Static).update(content)
        self.call_after_refresh(self.scroll_to_sentence)

    def scroll_to_sentence(self) -> None:
        if self.span is None:
            return
        view = self.query_one("#doc-text", Static)
        width = max(view.content_region.width, 10)
        self.sentence_y = len(Content(self.text[: self.span[0]] + "x").wrap(width)) - 1
        scroll = self.query_one("#doc-scroll", VerticalScroll)
        scroll.scroll_to(y=max(0, self.sentence_y - 3), animate=False)
