"""Plain text and Markdown: the file's decoded text is the canonical text."""

from __future__ import annotations

from assistant.readers.base import ReaderError, ReadResult


def decode_text(data: bytes) -> str:
    """Bytes of a text file as str, or ReaderError with the reason."""
    if b"\x00" in data[:8192]:
        raise ReaderError("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReaderError(
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None
    return text.removeprefix("\ufeff")


def read(data: bytes, fmt: str) -> ReadResult:
    return ReadResult(text=decode_text(data), format=fmt)
