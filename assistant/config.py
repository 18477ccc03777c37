"""Settings: built once at the edge (CLI or UI) from defaults, a TOML file, the environment
and command-line flags, in that order, then passed down. No module-level state."""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from assistant import answerers
from assistant.errors import ConfigError

APP_NAME = "assistant"
REPO_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "ASSISTANT_"


def _in_repository() -> bool:
    """True when running from a checkout (the seeds and the pyproject sit beside the package)."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "seeds").is_dir()


def default_index_dir() -> Path:
    """`index/` in the repository, else the user's data directory."""
    if _in_repository():
        return REPO_ROOT / "index"
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME)) / "index"


def default_seeds_dir() -> Path:
    return REPO_ROOT / "seeds"


def default_config_file() -> Path:
    from platformdirs import user_config_dir

    return Path(user_config_dir(APP_NAME)) / "config.toml"


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir(APP_NAME))


@dataclass(frozen=True)
class Settings:
    """Everything the assistant can be told. Each field: its meaning, then where it comes from."""

    index_dir: Path = field(default_factory=default_index_dir)
    """Folder of the embedded Chroma store and its lexical index (`--index`, ASSISTANT_INDEX)."""
    chroma_url: str | None = None
    """A Chroma server to use instead of the embedded store (`--chroma-url`)."""
    collection: str = "sentences"
    """Name of the Chroma collection that holds the sentences."""
    llm: str = answerers.DEFAULT
    """Which answerer: `offline` (extractive, no network) or `openai` (any compatible server);
    the names are those of assistant.answerers (`--llm`, ASSISTANT_LLM)."""
    model: str = "gpt-4o-mini"
    """Model name sent to the OpenAI-compatible endpoint (`--model`)."""
    base_url: str | None = None
    """Endpoint of the OpenAI-compatible server (OPENAI_BASE_URL); None means OpenAI's own."""
    api_key: str | None = field(default=None, repr=False)
    """API key (OPENAI_API_KEY). Never printed or logged."""
    timeout: float = 60.0
    """Seconds before a request to the LLM endpoint is abandoned."""
    max_retries: int = 3
    """Retries, with backoff, on 429, 5xx and dropped connections."""
    max_tokens: int = 400
    """Longest answer, in tokens, the LLM may write."""
    answer_sentences: int = 3
    """Most sentences the offline answerer cites."""
    top_k: int = 8
    """Evidence sentences retrieved per question (`-k`)."""
    ingest_batch: int = 1024
    """Sentences encoded together and committed together at ingest (bigger: less padding,
    faster; smaller: more frequent commits and progress updates)."""
    max_file_mb: float = 10.0
    """Files larger than this are skipped at ingest, with a reason."""
    data_dir: Path = field(default_factory=default_data_dir)
    """Where conversations are saved."""

    def __post_init__(self) -> None:
        for f in fields(self):
            problem = _problem(f.name, getattr(self, f.name))
            if problem:
                raise ConfigError(f"{f.name}: {problem}")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given non-None values set (for command-line flags)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


_MINIMUM: dict[str, tuple[float, bool]] = {
    # name: (bound, whether the bound itself is allowed)
    "top_k": (1, True), "max_tokens": (1, True), "answer_sentences": (1, True),
    "ingest_batch": (1, True), "max_retries": (0, True), "timeout": (0, False),
    "max_file_mb": (0, False),
}


def _problem(name: str, value: Any) -> str | None:
    """What is wrong with a setting's value (None when it can be used)."""
    if name == "llm" and value not in answerers.REGISTRY:
        return answerers.unknown(value)
    if name in _MINIMUM:
        bound, inclusive = _MINIMUM[name]
        if not isinstance(value, int | float) or isinstance(value, bool):
            return f"must be a number, not {value!r}"
        if value != value or value < bound or (value == bound and not inclusive):
            word = "at least" if inclusive else "more than"
            return f"must be {word} {bound:g}, not {value!r}"
    return None


def _coerce(name: str, value: Any, source: str) -> Any:
    """A value from the TOML file (typed) or the environment (a string) as its field's type,
    or ConfigError naming the field and where it came from."""
    kinds = {f.name: str(f.type) for f in fields(Settings)}
    if name not in kinds:
        raise ConfigError(f"{source}: unknown setting {name!r}")
    kind = kinds[name]
    from_text = isinstance(value, str)
    if kind.startswith(("int", "float")):
        number: Any = value
        if from_text:
            try:
                number = int(value) if kind.startswith("int") else float(value)
            except ValueError:
                number = None
        whole = kind.startswith("int")
        if isinstance(number, bool) or not isinstance(number, int | float) or (
                whole and not isinstance(number, int)) or number != number:
            what = "a whole number" if whole else "a number"
            raise ConfigError(f"{source}: {name} must be {what}, not {value!r}")
        value = float(number) if not whole else number
    elif not from_text:
        raise ConfigError(f"{source}: {name} must be a string, not {value!r}")
    elif "Path" in kind:
        if not value.strip():
            raise ConfigError(f"{source}: {name} must name a folder, not an empty string")
        value = Path(os.path.expanduser(value))
    elif value == "" and "None" in kind:
        value = None
    problem = _problem(name, value)
    if problem:
        raise ConfigError(f"{source}: {name} {problem}")
    return value


_FIELDS = {f.name for f in fields(Settings)}


def _warn(message: str) -> None:
    print(f"assistant: warning: {message}", file=sys.stderr)


def load_settings(
    config_file: Path | None = None,
    env: dict[str, str] | None = None,
    warn: Callable[[str], None] = _warn,
    **overrides: Any,
) -> Settings:
    """Defaults, then the TOML file, then ASSISTANT_* and OPENAI_* variables, then `overrides`.

    A config file that does not exist counts as empty (ASSISTANT_CONFIG=/nonexistent isolates
    a run from the user's file; the CLI refuses a `--config` that is not there); an ASSISTANT_*
    variable that names no setting is a warning (`warn`), not an error."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    path = config_file or Path(env.get(ENV_PREFIX + "CONFIG", "") or default_config_file())
    if path.exists():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the config file "
                              f"({exc.strerror or exc})") from None
        for key, value in data.items():
            values[key] = _coerce(key, value, str(path))
    if env.get("OPENAI_API_KEY"):
        values["api_key"] = env["OPENAI_API_KEY"]
    if env.get("OPENAI_BASE_URL"):
        values["base_url"] = env["OPENAI_BASE_URL"]
    for key, value in env.items():
        if key.startswith(ENV_PREFIX) and key != ENV_PREFIX + "CONFIG":
            name = key[len(ENV_PREFIX):].lower()
            if name == "index":
                name = "index_dir"
            if name not in _FIELDS:
                warn(f"{key} is not a setting of this assistant; it is ignored")
                continue
            values[name] = _coerce(name, value, key)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
