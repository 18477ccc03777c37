"""`CitedSentenceRetriever`: the assistant's ranked, cited sentences as a LlamaIndex retriever.

    from llama_index.core.llms import MockLLM
    from llama_index.core.query_engine import RetrieverQueryEngine
    from assistant.llamaindex import CitedSentenceRetriever

    engine = RetrieverQueryEngine.from_args(CitedSentenceRetriever(), llm=MockLLM())
    print(engine.query("What did Putin confirm?").source_nodes[0].metadata)

One `TextNode` per sentence: its text is the sentence exactly (`start_char_idx`/`end_char_idx`
are its span in the document), its metadata the fields of `assistant.evidence.evidence` and
`context`, the sentences around it. Nothing here reads LlamaIndex's global `Settings`: the
retriever has no LLM and no embedding model of LlamaIndex's (the assistant embeds and ranks),
so whatever LLM the query engine is given is the only one used."""

from __future__ import annotations

import asyncio
import os
import threading
from typing import Any

from llama_index.core.callbacks import CallbackManager
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import (
    NodeRelationship,
    NodeWithScore,
    QueryBundle,
    RelatedNodeInfo,
    TextNode,
)

from assistant.errors import EmptyIndexError, EmptyQuestionError
from assistant.evidence import evidence, freshness
from assistant.service import Assistant

SHOWN_TO_LLM = ("path", "line", "page", "section", "context")
"""Metadata a response synthesizer puts in the prompt; the rest (ids, spans, scores) is for
the program that reads `source_nodes`."""


class CitedSentenceRetriever(BaseRetriever):
    """Retrieves sentences from the assistant's index, ranked by its hybrid ranker.

    `CitedSentenceRetriever()` opens the default index; keyword arguments are settings
    (`index_dir=`, `chroma_url=`, `top_k=`, ... as in `assistant/config.py`), or pass
    `assistant=` to share an open `Assistant`. `context` is how many sentences on each side
    go into the `context` metadata."""

    def __init__(self, assistant: Assistant | None = None, *, context: int = 1,
                 callback_manager: CallbackManager | None = None, **settings: Any) -> None:
        super().__init__(callback_manager=callback_manager or CallbackManager())
        if assistant is None:
            from assistant.config import _coerce, load_settings

            values = {k: _coerce(k, os.fspath(v) if isinstance(v, os.PathLike) else v,
                                 "CitedSentenceRetriever")
                      for k, v in settings.items() if v is not None}
            assistant = Assistant(load_settings(**values))
        elif settings:
            raise TypeError("pass either assistant= or settings, not both")
        self.assistant = assistant
        self.context = context
        self._lock = threading.Lock()  # one retrieval at a time through one Assistant

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        query = query_bundle.query_str.strip()
        if not query:
            raise EmptyQuestionError("the question is empty: type what you want to know")
        with self._lock:
            a = self.assistant
            a.prepare()
            if a.index.count() == 0:
                raise EmptyIndexError(f"the index at {a.index.location} is empty: run "
                                      "`assistant ingest PATH` first")
            hits = a.retrieve(query)
            fresh = freshness(a, [h.sentence.path for h in hits])
            return [self._node(h, fresh) for h in hits]

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return await asyncio.to_thread(self._retrieve, query_bundle)

    def _node(self, hit, fresh: dict[str, str]) -> NodeWithScore:
        s = hit.sentence
        around = self.assistant.index.neighbours(s, self.context, self.context)
        meta = evidence(hit, fresh)
        del meta["text"], meta["id"]  # the node's own text and id
        meta["context"] = " ".join(n.text for n in around)
        relations = {NodeRelationship.SOURCE: RelatedNodeInfo(node_id=s.doc_id)}
        before = [n for n in around if n.index < s.index]
        after = [n for n in around if n.index > s.index]
        if before:
            relations[NodeRelationship.PREVIOUS] = RelatedNodeInfo(node_id=before[-1].id)
        if after:
            relations[NodeRelationship.NEXT] = RelatedNodeInfo(node_id=after[0].id)
        node = TextNode(
            id_=s.id, text=s.text, metadata=meta, start_char_idx=s.char_start,
            end_char_idx=s.char_end, relationships=relations,
            excluded_llm_metadata_keys=[k for k, v in meta.items()
                                        if k not in SHOWN_TO_LLM or v in (None, "")],
            excluded_embed_metadata_keys=list(meta))
        return NodeWithScore(node=node, score=hit.score)
