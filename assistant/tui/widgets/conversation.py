"""The conversation pane: each question with its answer, streamed in as it is written."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from assistant.display import safe
from assistant.tui.widgets.text import entry_body

if TYPE_CHECKING:
    from assistant.conversations import Entry


class EntryView(Vertical):
    """A question (or quote look-up) and its reply. Click it to show its evidence."""

    class Selected(Message):
        def __init__(self, view: EntryView) -> None:
            super().__init__()
            self.view = view

    def __init__(self, question: str, position: int, kind: str = "answer") -> None:
        super().__init__(classes=f"entry -{kind}")
        self.question = question
        self.position = position
        self.kind = kind
        self.entry: Entry | None = None
        self._streamed: list[str] = []
        self._body: Content = Content.styled("…", "$text-muted")
        self._reply: Static | None = None

    def compose(self):
        prefix = "cite ▸ " if self.kind == "cite" else "you ▸ "
        yield Static(Content.assemble((prefix, "bold"), safe(self.question)),
                     classes="question",
                     markup=False)
        self._reply = Static(self._body, classes="reply")
        yield self._reply

    def _show(self, body: Content) -> None:
        self._body = body
        if self._reply is not None:  # composed (maybe not mounted yet): update it
            self._reply.update(body)

    def set_waiting(self, text: str) -> None:
        if not self._streamed:
            self._show(Content.styled(text, "italic $text-muted"))

    def append_token(self, token: str) -> None:
        self._streamed.append(token)
        self._show(Content(safe("".join(self._streamed), keep="\n")))

    def show_entry(self, entry: Entry) -> None:
        self.entry = entry
        self._show(entry_body(entry, self.position))

    def show_error(self, message: str) -> None:
        self.add_class("-failed")
        self._show(Content.styled(f"✗ {message}", "$error"))

    def on_click(self) -> None:
        self.post_message(self.Selected(self))


class ConversationPane(VerticalScroll):
    """All entries, newest at the bottom; one of them is selected."""

    def add_entry(self, question: str, kind: str = "answer") -> EntryView:
        view = EntryView(question, len(self.entries), kind)
        self.mount(view)
        self.call_after_refresh(self.scroll_end, animate=False)
        return view

    @property
    def entries(self) -> list[EntryView]:
        return list(self.query(EntryView))

    def select(self, view: EntryView | None) -> None:
        for v in self.entries:
            v.set_class(v is view, "-selected")
        if view is not None:
            self.call_after_refresh(self.scroll_to_widget, view, animate=False)

    async def clear(self) -> None:
        await self.remove_children()
