"""The answerer seams (issue 13, item 5): the grounding layer over a scripted chat backend, the
OpenAI-compatible backend's own deadline, and the one registry of answerers read by the
settings, the CLI and the chat UI."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import pytest

from assistant import answerers
from assistant.answer import ExtractiveAnswerer
from assistant.answerers import make_answerer
from assistant.chat import Completion, OpenAIChat
from assistant.cli import build_parser
from assistant.config import Settings
from assistant.documents import content_hash
from assistant.errors import ConfigError, LLMError
from assistant.llm import STOP, UNSUPPORTED_MARK, GroundedAnswerer, OpenAIAnswerer
from assistant.sentences import split_document
from assistant.types import Document, Hit, Turn

from .test_llm_faults import GOOD, SEED, FakeLLM


class ScriptedChat:
    """A chat backend that plays canned replies and records what it was asked."""

    def __init__(self, *replies: Completion) -> None:
        self.replies = list(replies)
        self.calls: list[dict] = []

    def complete(self, messages, on_token=None, *, deadline: float | None = None,
                 max_tokens: int | None = None, stop: Sequence[str] | None = None) -> Completion:
        self.calls.append({"messages": messages, "max_tokens": max_tokens, "stop": stop,
                           "deadline": deadline})
        reply = self.replies.pop(0)
        if on_token:
            for word in reply.text.split(" "):
                on_token(word + " ")
        return reply


@pytest.fixture(scope="module")
def hits() -> list[Hit]:
    text = SEED.read_text(encoding="utf-8")
    sentences = split_document(Document(str(SEED), text, content_hash(text), "North Korean troops"))
    return [Hit(s, 0.9 - 0.01 * i) for i, s in enumerate(sentences[:6])]


def settings_for(tmp_path: Path, **kw) -> Settings:
    kw.setdefault("base_url", "http://127.0.0.1:9/v1")  # nothing listens: scripted backends
    return Settings(index_dir=tmp_path / "index", data_dir=tmp_path / "data", llm="openai",
                    model="scripted", **kw)


def test_grounding_over_a_scripted_backend_verifies_and_marks(tmp_path, encoder, hits):
    chat = ScriptedChat(Completion(
        "The Pentagon said about 10,000 North Korean soldiers had been sent to Russia [1]. "
        "The troops were paid 2,000 dollars a month by Kim Jong Un [2].", total_ms=12.0,
        first_token_ms=3.0))
    answerer = GroundedAnswerer(chat, settings_for(tmp_path), encoder=encoder)
    tokens: list[str] = []
    answer = answerer.answer("How many soldiers were sent?", hits, on_token=tokens.append)
    (call,) = chat.calls
    assert call["stop"] == STOP and call["deadline"] is None
    assert "<evidence>" in call["messages"][-1]["content"]
    assert hits[0].sentence.text in call["messages"][-1]["content"]
    assert tokens  # the backend's tokens reach the caller untouched
    first, second = answer.sentences
    assert first.supported and first.citations == [1]
    assert second.supported is False and UNSUPPORTED_MARK in answer.text
    assert answer.answerer == "grounded" and answer.timings["llm_ms"] == 12.0
    assert answer.timings["first_token_ms"] == 3.0


def test_grounding_falls_back_and_never_calls_the_backend_on_weak_hits(tmp_path, encoder, hits):
    chat = ScriptedChat(Completion("The moon is made of cheese [3]."))
    answerer = GroundedAnswerer(chat, settings_for(tmp_path), encoder=encoder)
    fallen = answerer.answer("How many soldiers?", hits)
    assert fallen.answerer == "offline" and fallen.found
    assert any("showing the offline extractive answer" in n for n in fallen.notes)
    weak = [Hit(h.sentence, 0.0) for h in hits]
    assert not answerer.answer("Who won the 1930 World Cup?", weak).found
    assert len(chat.calls) == 1  # the second question never reached the backend


def test_the_verification_seam_is_one_call_per_answer_sentence(tmp_path, encoder, hits):
    seen: list[str] = []

    class Counting(GroundedAnswerer):
        def verify_part(self, part, evidence, question):
            seen.append(part.text)
            return super().verify_part(part, evidence, question)

    chat = ScriptedChat(Completion(GOOD))
    answer = Counting(chat, settings_for(tmp_path), encoder=encoder).answer("How many?", hits)
    assert len(seen) == len(answer.sentences) == 2


def test_rewrite_is_a_short_completion_from_the_same_backend(tmp_path, encoder):
    chat = ScriptedChat(Completion("What did Yoon Suk-yeol call the deployment?"))
    answerer = GroundedAnswerer(chat, settings_for(tmp_path), encoder=encoder)
    assert answerer.rewrite("rewrite this") == "What did Yoon Suk-yeol call the deployment?"
    assert chat.calls[0]["max_tokens"] == 60
    assert chat.calls[0]["messages"] == [{"role": "user", "content": "rewrite this"}]


@pytest.mark.timeout(20)  # the fake server hangs for 30 s: ending before proves the deadline
def test_the_backend_ends_at_the_deadline_it_is_given(tmp_path):
    fake = FakeLLM()
    try:
        fake.script = [("hang", "")]
        chat = OpenAIChat(settings_for(tmp_path, timeout=30.0, base_url=fake.url), backoff=0.01)
        started = time.monotonic()
        with pytest.raises(LLMError, match=r"did not answer within 1 s \(timeout\)"):
            chat.complete([{"role": "user", "content": "hi"}], deadline=started + 1.0)
        assert time.monotonic() - started < 10  # its own 30 s timeout did not apply
    finally:
        fake.close()


def test_the_backend_needs_an_endpoint(tmp_path):
    settings = Settings(index_dir=tmp_path / "i", data_dir=tmp_path / "d", llm="openai")
    with pytest.raises(ConfigError, match="OPENAI_API_KEY.*OPENAI_BASE_URL.*--llm offline"):
        OpenAIChat(settings)


def test_one_registry_names_the_answerers_everywhere(tmp_path):
    names = answerers.names()
    assert names[0] == answerers.DEFAULT == Settings().llm == "offline"
    parser = build_parser()
    for argv in (["ask", "q"], ["chat"], ["mcp"]):
        action = next(a for a in parser._subparsers._group_actions[0].choices[argv[0]]._actions
                      if a.dest == "llm")
        assert list(action.choices) == names
    ev = next(a for a in parser._subparsers._group_actions[0].choices["eval"]._actions
              if a.dest == "answerer")
    assert list(ev.choices) == names and ev.default == answerers.DEFAULT
    with pytest.raises(ConfigError, match="unknown answerer 'gpt'; use 'offline' or 'openai'"):
        Settings(index_dir=tmp_path / "i", data_dir=tmp_path / "d", llm="gpt")
    with pytest.raises(ConfigError, match="unknown answerer"):
        answerers.get("gpt")


def test_each_registered_answerer_declares_its_capabilities(tmp_path):
    settings = settings_for(tmp_path)
    for name in answerers.names():
        spec = answerers.get(name)
        cls = spec.load()
        for capability in ("streams", "rewrites", "shares_encoder"):
            assert isinstance(getattr(cls, capability), bool), (name, capability)
        built = make_answerer(replace(settings, llm=name))
        assert isinstance(built, cls) and built.name == name
        assert isinstance(spec.label(settings), str) and spec.label(settings)
    offline, llm = answerers.get("offline"), answerers.get("openai")
    assert offline.load() is ExtractiveAnswerer and not offline.needs_network
    assert llm.load() is OpenAIAnswerer and llm.needs_network
    assert OpenAIAnswerer.streams and OpenAIAnswerer.rewrites and OpenAIAnswerer.shares_encoder
    assert not (ExtractiveAnswerer.streams or ExtractiveAnswerer.rewrites)
    assert llm.label(settings) == "openai · scripted"
    assert offline.label(settings) == "offline (extractive)"


def test_an_offline_assistant_keeps_the_heuristic_rewrite(tmp_path, encoder):
    from assistant.conversation import heuristic_rewrite
    from assistant.service import Assistant

    settings = Settings(index_dir=tmp_path / "i", data_dir=tmp_path / "d")
    history = [Turn("What did Yoon Suk-yeol say about the deployment?", "A threat [1].")]
    got = Assistant(settings, encoder=encoder).resolve("and what did he call it?", history)
    assert got.question == heuristic_rewrite("and what did he call it?", history)


def test_reading_the_registry_loads_no_answerer():
    import subprocess
    import sys

    code = ("import sys, assistant.config, assistant.answerers as a; a.names(); "
            "assistant.config.Settings(llm='openai'); "
            "print(sorted(m for m in ('assistant.llm', 'assistant.chat', 'assistant.answer', "
            "'openai') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.strip() == "[]"
