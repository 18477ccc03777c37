"""CitedSentenceRetriever inside LlamaIndex's own query engine, sync and async, on the real
model and a real on-disk store; LlamaIndex's global Settings are never consulted."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from llama_index.core import Settings
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import MetadataMode, NodeRelationship

from assistant.errors import ConfigError, EmptyQuestionError
from assistant.llamaindex import CitedSentenceRetriever

from .conftest import SEED_ARTICLE

QUESTION = "What did Putin confirm?"


def _putin(nodes):
    return next(n for n in nodes if "Putin confirmed" in n.node.get_content())


def test_query_engine_returns_the_sentence_with_its_metadata(seeded):
    article = SEED_ARTICLE.read_text(encoding="utf-8")
    retriever = CitedSentenceRetriever(assistant=seeded)
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    response = engine.query(QUESTION)

    best = response.source_nodes[0]
    assert best is _putin(response.source_nodes)
    assert best.score == pytest.approx(max(n.score for n in response.source_nodes))
    node, meta = best.node, best.node.metadata
    assert meta["path"] == str(SEED_ARTICLE) and meta["line"] == 6 and meta["page"] is None
    assert article[meta["char_start"]:meta["char_end"]] == node.text
    assert (node.start_char_idx, node.end_char_idx) == (meta["char_start"], meta["char_end"])
    assert meta["doc_id"] == node.relationships[NodeRelationship.SOURCE].node_id
    assert meta["stale"] is False
    # context: the sentences around it, in document order
    before = node.relationships[NodeRelationship.PREVIOUS].node_id
    assert before != node.node_id and node.text in meta["context"]
    assert meta["context"].index("fake news") < meta["context"].index(node.text)
    # the prompt shows where each sentence is, not ids and spans
    prompt_view = node.get_content(metadata_mode=MetadataMode.LLM)
    assert f"path: {SEED_ARTICLE}" in prompt_view and "char_start" not in prompt_view
    assert Settings._llm is None and Settings._embed_model is None  # no fallback to OpenAI


def test_async_retrieval_and_settings_as_keywords(seeded_dir, tmp_path):
    shutil.copytree(seeded_dir, tmp_path / "seeded")
    index = str(tmp_path / "seeded" / "index")
    retriever = CitedSentenceRetriever(index_dir=Path(index), top_k=3)
    try:
        async def main():
            one, two = await asyncio.gather(
                retriever.aretrieve(QUESTION),
                retriever.aretrieve("Whom will Austin and Blinken meet?"))
            engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
            return one, two, await engine.aquery(QUESTION)

        one, two, response = asyncio.run(main())
        assert len(one) == 3 and one[0] is _putin(one)
        assert _putin(response.source_nodes).node.metadata["line"] == 6
        assert "counterparts" in two[0].node.text
        with pytest.raises(EmptyQuestionError):
            retriever.retrieve("  ")
    finally:
        retriever.assistant.close()
    with pytest.raises(ConfigError, match="unknown setting 'bogus'"):
        CitedSentenceRetriever(index_dir=index, bogus=1)
