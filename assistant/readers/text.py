"""Plain text and Markdown: the file's decoded text is the canonical text.

Encodings: UTF-8 (with or without a byte order mark), and UTF-16 or UTF-32 when the file
starts with their byte order mark. The contract for spans: offsets count characters of the
decoded text *without* the BOM, with the file's own line endings (LF, CRLF or CR: the splitter
treats them alike), so `text[char_start:char_end]` of the file decoded that way is the cited
sentence."""

from __future__ import annotations

import codecs

from assistant.readers.base import ReaderError, ReadResult

_BOMS = (  # longest first: a UTF-32-LE BOM starts with the UTF-16-LE one
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16"),
)


def decode_text(data: bytes) -> str:
    """Bytes of a text file as str (without its BOM), or ReaderError with the reason."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            body = data[len(bom):]
            try:
                text = body.decode(codec)
            except UnicodeDecodeError as exc:
                raise ReaderError(f"not valid {name}: bad bytes at offset "
                                  f"{exc.start + len(bom)}") from None
            if "\x00" in text:
                raise ReaderError("binary file (contains NUL characters)")
            return text
    if b"\x00" in data[:8192]:
        raise ReaderError("binary file (contains NUL bytes)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReaderError(
            f"not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None
    return text


def read(data: bytes, fmt: str) -> ReadResult:
    return ReadResult(text=decode_text(data), format=fmt)
