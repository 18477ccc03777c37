"""Settings: built once at the edge (CLI or UI) from defaults, a TOML file, the environment
and command-line flags, in that order, then passed down. No module-level state."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

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
    llm: str = "offline"
    """Which answerer: `offline` (extractive, no network) or `openai` (any compatible server)."""
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
        if self.llm not in ("offline", "openai"):
            raise ConfigError(f"llm: unknown answerer {self.llm!r}; use 'offline' or 'openai'")
        if self.top_k < 1:
            raise ConfigError(f"top_k: must be at least 1, not {self.top_k}")
        if self.timeout <= 0:
            raise ConfigError(f"timeout: must be positive, not {self.timeout}")

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with the given non-None values set (for command-line flags)."""
        return replace(self, **{k: v for k, v in overrides.items() if v is not None})


def _coerce(name: str, value: Any, source: str) -> Any:
    kinds = {f.name: f.type for f in fields(Settings)}
    if name not in kinds:
        raise ConfigError(f"{source}: unknown setting {name!r}")
    kind = str(kinds[name])
    try:
        if "Path" in kind:
            return Path(os.path.expanduser(str(value)))
        if kind.startswith("int"):
            return int(value)
        if kind.startswith("float"):
            return float(value)
    except ValueError:
        raise ConfigError(f"{source}: {name} must be a number, not {value!r}") from None
    return None if value == "" else str(value)


def load_settings(
    config_file: Path | None = None,
    env: dict[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Defaults, then the TOML file, then ASSISTANT_* and OPENAI_* variables, then `overrides`."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    path = config_file or Path(env.get(ENV_PREFIX + "CONFIG", "") or default_config_file())
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
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
            values[name] = _coerce(name, value, key)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return Settings(**values)
