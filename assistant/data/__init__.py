"""The model and parameter files shipped with the package, and how each is read: one place for
the one-line errors a missing or unreadable file gives (`ModelError`)."""

from __future__ import annotations

import json
from pathlib import Path

from assistant.errors import ModelError


def read_json(path: Path, what: str) -> dict:
    """The JSON object in `path` (`what` names it in errors: "the ranker file"); ModelError,
    one line, when it is missing, unreadable or not a JSON object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{what} {path} is missing (it ships with the package: "
                         "reinstall it)") from None
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError included
        raise ModelError(f"{what} {path} cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise ModelError(f"{what} {path} cannot be read (not a JSON object)")
    return data
