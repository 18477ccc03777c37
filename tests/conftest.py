"""Shared fixtures: the real embedding model (loaded once) and real on-disk Chroma stores."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["ANONYMIZED_TELEMETRY"] = "False"

from assistant.config import Settings  # noqa: E402
from assistant.service import Assistant  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SEEDS = REPO / "seeds"
SEED_ARTICLE = SEEDS / "north-korean-troops-sent-to-russia.txt"
EVAL_DEV = REPO.parent / "shared" / "eval" / "dev.jsonl"


@pytest.fixture(scope="session")
def encoder():
    from assistant.embedding import Encoder

    return Encoder()


def make_settings(root: Path, **kw) -> Settings:
    return Settings(index_dir=root / "index", data_dir=root / "data", **kw)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


@pytest.fixture(scope="session")
def seeded_dir(tmp_path_factory, encoder) -> Path:
    """A store with the seed article ingested once per session (copy it before writing)."""
    root = tmp_path_factory.mktemp("seeded")
    assistant = Assistant(make_settings(root), encoder=encoder)
    with assistant.index.writing():
        report = assistant.ingestor().ingest_paths([SEEDS], max_bytes=10 * 2**20)
    assert report.count("indexed") >= 1
    assistant.close()
    return root


@pytest.fixture
def seeded(seeded_dir: Path, tmp_path: Path, encoder) -> Assistant:
    """An Assistant over its own copy of the seeded store."""
    root = tmp_path / "seeded"
    shutil.copytree(seeded_dir, root)
    assistant = Assistant(make_settings(root), encoder=encoder)
    yield assistant
    assistant.close()


@pytest.fixture
def fake():
    """A scripted OpenAI-compatible endpoint on loopback (tests/test_llm_faults.py's FakeLLM)."""
    from tests.test_llm_faults import FakeLLM

    server = FakeLLM()
    yield server
    server.close()
