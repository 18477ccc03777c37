"""The status bar: the answerer and model, the index and its size, the last answer's timings."""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static


class StatusBar(Static):
    def __init__(self, **kw) -> None:
        super().__init__("", markup=False, **kw)
        self.answerer = ""
        self.index = ""
        self.sentences: int | None = None
        self.state = "starting…"
        self.timings = ""

    def set(self, **values) -> None:
        for key, value in values.items():
            setattr(self, key, value)
        parts: list[tuple[str, str] | str] = [(self.answerer, "bold"), " │ index ", self.index]
        if self.sentences is not None:
            parts.append(f" · {self.sentences:,} sentences")
        if self.state:
            parts += [" │ ", (self.state, "italic")]
        if self.timings:
            parts += [" │ ", self.timings]
        self.update(Content.assemble(*parts))
