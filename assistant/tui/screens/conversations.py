"""The list of saved conversations; Enter reopens one."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

if TYPE_CHECKING:
    from assistant.conversations import ConversationInfo


class ConversationsScreen(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "Close")]

    def __init__(self, conversations: list[ConversationInfo]) -> None:
        super().__init__()
        self.conversations = conversations

    def compose(self):
        with Vertical(id="conversations-box"):
            yield Label("Saved conversations (Enter opens, Escape closes)",
                        id="conversations-title")
            options = [
                Option(Content.assemble(
                    (c.title, "bold"),
                    (f"\n{time.strftime('%Y-%m-%d %H:%M', time.localtime(c.updated))} · "
                     f"{c.entries} {'entry' if c.entries == 1 else 'entries'}", "$text-muted")),
                    id=f"conv-{c.id}")
                for c in self.conversations
            ]
            if not options:
                options = [Option("No saved conversations yet.", disabled=True)]
            yield OptionList(*options, id="conversations-list")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.dismiss(int(event.option.id.split("-")[1]))
