"""What reaches the terminal: text from documents, file names and reasons with every control
character made visible, so that no file can set the window title, clear the screen, hide a
link or reorder a line (bidi overrides) through `ask`, `cite` or the ingest report."""

from __future__ import annotations

import re

_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f" + _BIDI + "\u2028\u2029\ufeff\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\x1b": "\\e"}


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte of a file name that is not UTF-8 (surrogateescape)
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str, keep: str = "") -> str:
    """`text` with control characters (C0, DEL, C1, ESC shown as `\\e`), bidi controls, line
    separators and surrogates (bytes of a name that is not UTF-8: `\\xff`) replaced by visible
    escapes; characters in `keep` (e.g. "\\n" where a printer prints several lines) stay."""
    return _UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()),
                       str(text))


_JSON_UNSAFE = re.compile("[\x7f-\x9f" + _BIDI + "\u2028\u2029\ufeff\ud800-\udfff]")


def safe_json(data: object) -> str:
    """`data` as indented JSON that keeps non-ASCII text readable, with the characters a
    terminal would act on (C1 controls, bidi overrides; C0 is escaped by JSON itself) written
    as `\\uXXXX` escapes: the same JSON to a parser, inert on a screen."""
    import json

    text = json.dumps(data, indent=2, ensure_ascii=False)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def _picture(ch: str) -> str:
    code = ord(ch)
    if ch in "\r\x0b\x0c":
        return " "
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: ␛ for ESC
    return "\u2421" if code == 0x7f else "\ufffd"


def same_length(text: str) -> str:
    """`text` for a screen where offsets into it must stay valid (the document view highlights
    a sentence by its span): each unsafe character becomes one visible character (␛, �), a
    CR a space; newlines and tabs stay."""
    return _UNSAFE.sub(lambda m: m.group() if m.group() in "\n\t" else _picture(m.group()),
                       text)
