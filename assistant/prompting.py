"""Prompt templates: plain-text files in `prompts/` (installed as the package `assistant.prompts`),
each with `{named}` placeholders. Rendering is strict: every placeholder must be given and nothing
else may be, and values are inserted in one pass, so braces inside document text stay data."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

from assistant.errors import ConfigError

PACKAGE = "assistant.prompts"
_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


@cache
def load_template(name: str) -> str:
    """The text of `prompts/<name>.txt`."""
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ConfigError(f"prompt template name {name!r} is not valid")
    try:
        return resources.files(PACKAGE).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"prompt template {name!r} is missing from {PACKAGE}") from None


def template_names() -> list[str]:
    """Every template shipped in the package, by name."""
    return sorted(p.name[:-4] for p in resources.files(PACKAGE).iterdir()
                  if p.name.endswith(".txt"))


def placeholders(template: str) -> set[str]:
    """The `{name}` placeholders a template uses."""
    return set(_PLACEHOLDER.findall(template))


def render_text(template: str, **values: object) -> str:
    """Fill `template`; raises ConfigError when a placeholder is missing or a value is unused."""
    wanted = placeholders(template)
    missing = wanted - values.keys()
    extra = values.keys() - wanted
    if missing or extra:
        parts = []
        if missing:
            parts.append("missing " + ", ".join(sorted(missing)))
        if extra:
            parts.append("unexpected " + ", ".join(sorted(extra)))
        raise ConfigError("prompt placeholders: " + "; ".join(parts))
    return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)


def render(name: str, **values: object) -> str:
    """Render the template `prompts/<name>.txt` with named values."""
    return render_text(load_template(name), **values)
