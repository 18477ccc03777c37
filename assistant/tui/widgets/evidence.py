"""The evidence pane: the sentences behind the selected entry, with path:line, score and
verdict. Selecting one (Enter or a click) opens it in its document."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from assistant.tui.widgets.text import evidence_prompt

if TYPE_CHECKING:
    from assistant.conversations import Evidence


class EvidencePane(Vertical):
    class Open(Message):
        """Open citation `n` of entry `position`."""

        def __init__(self, position: int, n: int) -> None:
            super().__init__()
            self.position = position
            self.n = n

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.position: int | None = None
        self.items: list[Evidence] = []

    def compose(self):
        yield Label("Evidence", id="evidence-title")
        yield OptionList(id="evidence-list")

    def show(self, position: int | None, items: list[Evidence], title: str = "Evidence") -> None:
        self.position = position
        self.items = items
        self.query_one("#evidence-title", Label).update(Content(title))  # never markup
        options = self.query_one(OptionList)
        options.clear_options()
        rows: list[Option | None] = []
        for ev in items:
            rows += [Option(evidence_prompt(ev), id=f"ev-{ev.n}"), None]
        options.add_options(rows[:-1])
        if items:
            options.highlighted = 0

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if self.position is not None and event.option.id:
            self.post_message(self.Open(self.position, int(event.option.id.split("-")[1])))
