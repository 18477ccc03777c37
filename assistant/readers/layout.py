"""Blocks of a structured document (DOCX, HTML, EPUB) laid out as the canonical text.

Each paragraph, heading, list item and table row is one block; blocks are separated by a blank
line, so the sentence splitter never runs one into the next (a list item without a full stop
does not swallow the item after it). A heading becomes a `Section` starting at its block."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.types import Section


@dataclass(frozen=True)
class Block:
    text: str
    heading: int = 0  # heading level (1 = top), 0 for body text


def compose(blocks: list[Block], text: list[str], sections: list[Section],
            offset: int) -> int:
    """Append `blocks` to the text pieces and sections; returns the new end offset.

    `offset` is the length of the text laid out so far (so several chapters, as in an EPUB,
    extend one canonical text)."""
    for block in blocks:
        if offset:
            text.append("\n\n")
            offset += 2
        if block.heading:
            sections.append(Section(start=offset, title=" ".join(block.text.split()),
                                    level=block.heading))
        text.append(block.text)
        offset += len(block.text)
    return offset


LAYOUT_CELL = 200
"""A table cell longer than this is prose laid out in a table, not data: its row is not joined."""


def table_row(cells: list[str]) -> list[Block]:
    """A data row as one block, cells joined by " | "; a layout row (one cell, or a cell of
    prose) as one block per cell, so its paragraphs stay sentences of their own."""
    cells = [c for c in cells if c]
    if len(cells) > 1 and all(len(c) <= LAYOUT_CELL for c in cells):
        return [Block(" | ".join(cells))]
    return [Block(c) for c in cells]


def clean_lines(text: str) -> str:
    """Whitespace runs collapsed to one space within each line; empty lines dropped."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
