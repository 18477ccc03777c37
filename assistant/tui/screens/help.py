"""Help: the commands and keys."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

HELP = """\
[b]Ask[/b] a question about your documents and press Enter. Every answer cites the exact
sentences it comes from: [b]\\[n][/b] markers in the text, listed in the evidence pane.

[b]Commands[/b] (also in the command palette, Ctrl+P)
  /open N          open citation N of the selected answer in its document
  /cite TEXT       find where your documents state a quote or a claim
  /ingest PATH     add or update .txt and .md files or folders in the index
  /conversations   reopen a saved conversation
  /clear           start a new conversation (the current one stays saved)
  /export \\[PATH]   save the conversation: PATH.md (footnotes), PATH.json (spans)
  /help            this help

[b]Keys[/b]
  Enter            send; Up / Down walk through earlier questions
  Alt+Up, Alt+Down select the previous / next answer and show its evidence
  Tab              move to the evidence list; Enter or a click opens a citation
  click on \\[n]     open that citation in its document; Escape comes back
  n / p            in a document: the next / previous citation of the same answer
  Ctrl+L           saved conversations
  Ctrl+Q           quit

Press Escape to close this help."""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape", "dismiss", "Close"), Binding("q", "dismiss", "Close")]

    def compose(self):
        with VerticalScroll(id="help-box"):
            yield Static(HELP, id="help-text")
