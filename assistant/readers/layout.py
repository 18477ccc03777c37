"""Blocks of a structured document (DOCX, HTML, EPUB) laid out as the canonical text.

Each paragraph, heading, list item and table row is one block; blocks are separated by a blank
line, so the sentence splitter never runs one into the next (a list item without a full stop
does not swallow the item after it). A heading becomes a `Section` starting at its block."""

from __future__ import annotations

from dataclasses import dataclass

from assistant.readers.base import Section


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


def clean_lines(text: str) -> str:
    """Whitespace runs collapsed to one space within each line; empty lines dropped."""
    lines = (" ".join(line.split()) for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
