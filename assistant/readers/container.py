"""Zip containers (DOCX, EPUB) read with bounds: a zip bomb is refused before it is inflated.

Every check that can be made from the central directory (member count, declared sizes,
compression ratio) is made before a byte is decompressed; members are then inflated in chunks
against a running budget, so a member whose header lies about its size cannot blow past it.
The XML parts are parsed with the stdlib (expat refuses entity-expansion bombs), and a part that
declares a DTD is refused outright: no DOCX or EPUB package part needs one."""

from __future__ import annotations

import io
import posixpath
import zipfile
import zlib
from xml.etree import ElementTree

from assistant.readers.base import ReaderError

MAX_MEMBERS = 20_000
MAX_TOTAL_BYTES = 256 * 2**20
"""The most uncompressed bytes read from one container, all members together."""
MAX_RATIO = 200
"""Largest compression ratio accepted for a member over RATIO_FLOOR bytes (text XML deflates
10 to 30 times; zip bombs reach thousands)."""
RATIO_FLOOR = 2**20
CHUNK = 2**16


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


class Container:
    """The members of one zip file, read within MAX_TOTAL_BYTES; `kind` names it in reasons."""

    def __init__(self, data: bytes, kind: str) -> None:
        self.kind = kind
        if not data.startswith(b"PK"):
            raise ReaderError(f"not a {kind} file: its content is not a zip archive "
                              "(is the suffix wrong?)")
        try:
            self.zip = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zip.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError):
            raise ReaderError(f"corrupt or truncated {kind} (not a readable zip archive)") from None
        if len(infos) > MAX_MEMBERS:
            raise ReaderError(f"{kind} has {len(infos)} members (over {MAX_MEMBERS}): not read")
        self.infos = {info.filename: info for info in infos}
        self.read_so_far = 0

    def names(self) -> set[str]:
        return set(self.infos)

    def has(self, name: str) -> bool:
        return name in self.infos

    def read(self, name: str) -> bytes:
        """The bytes of member `name`, checked against the bomb limits before inflating it."""
        info = self.infos.get(name)
        if info is None:
            raise ReaderError(f"corrupt {self.kind}: {name} is missing")
        if info.flag_bits & 0x1:
            raise ReaderError(f"encrypted {self.kind}: needs a password")
        declared = info.file_size
        if self.read_so_far + declared > MAX_TOTAL_BYTES:
            raise ReaderError(f"zip bomb? {name} would inflate to {_mb(declared)}, over the "
                              f"{_mb(MAX_TOTAL_BYTES)} limit: not read")
        if declared > RATIO_FLOOR and declared > MAX_RATIO * max(info.compress_size, 1):
            raise ReaderError(f"zip bomb? {name} inflates {declared // max(info.compress_size, 1)}"
                              f" times ({_mb(info.compress_size)} to {_mb(declared)}): not read")
        out = bytearray()
        try:
            with self.zip.open(info) as member:
                while chunk := member.read(CHUNK):
                    out += chunk
                    if len(out) > declared or self.read_so_far + len(out) > MAX_TOTAL_BYTES:
                        raise ReaderError(f"zip bomb? {name} inflates past its declared size: "
                                          "not read")
        except ReaderError:
            raise
        except NotImplementedError:
            raise ReaderError(f"{self.kind} uses a compression method that cannot be read "
                              f"({name})") from None
        except RuntimeError:  # zipfile: "File ... is encrypted, password required"
            raise ReaderError(f"encrypted {self.kind}: needs a password") from None
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError):
            raise ReaderError(f"corrupt or truncated {self.kind}: {name} cannot be "
                              "decompressed") from None
        self.read_so_far += len(out)
        return bytes(out)

    def xml(self, name: str) -> ElementTree.Element:
        """Member `name` parsed as XML (no DTDs), or ReaderError naming the member."""
        return parse_xml(self.read(name), f"{self.kind} {name}")


def parse_xml(data: bytes, what: str) -> ElementTree.Element:
    if b"<!DOCTYPE" in data[:4096] or b"<!ENTITY" in data[:65536]:
        raise ReaderError(f"corrupt {what}: declares a DTD, which a package part never needs")
    try:
        return ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        line = exc.position[0] if exc.position else "?"
        raise ReaderError(f"corrupt {what}: not well-formed XML (line {line})") from None


def local(tag: object) -> str:
    """An element's tag without its namespace ("{ns}p" -> "p"); "" for comments and PIs."""
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def attr(element: ElementTree.Element, name: str) -> str | None:
    """The attribute `name` in any namespace (w:val, val, opf:idref, ...)."""
    for key, value in element.attrib.items():
        if key == name or key.endswith("}" + name):
            return value
    return None


def resolve(base: str, href: str) -> str:
    """A member name for `href` relative to member `base` (both zip paths, '/'-separated)."""
    from urllib.parse import unquote

    href = unquote(href.split("#", 1)[0])
    return posixpath.normpath(posixpath.join(posixpath.dirname(base), href)).lstrip("/")
