"""The chat UI, driven by Textual's Pilot over a real on-disk Chroma store and the real model."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from textual.widgets import OptionList

from assistant.config import Settings
from assistant.conversations import ConversationStore
from assistant.service import Assistant
from assistant.tui.app import ChatApp
from assistant.tui.screens.document import DocumentScreen
from assistant.tui.widgets.evidence import EvidencePane
from assistant.tui.widgets.input import HistoryInput
from assistant.types import Answer, AnswerSentence, Citation

SIZE = (120, 36)


def make_app(assistant: Assistant, tmp_path: Path, **kw) -> ChatApp:
    kw.setdefault("seed_on_empty", False)
    return ChatApp(assistant.settings, assistant=assistant,
                   store=ConversationStore(tmp_path / "conversations.sqlite3"),
                   show_timings=False, index_label="test index", export_dir=tmp_path,
                   cursor_blink=False, **kw)


async def settle(app: ChatApp, pilot) -> None:
    """Let the startup and every worker finish and the screen catch up."""
    while not app.ready.is_set():  # the store and model load after the first paint
        await pilot.pause(0.05)
    await app.workers.wait_for_complete()
    await pilot.pause()


async def send(app: ChatApp, pilot, text: str) -> None:
    box = app.query_one("#ask", HistoryInput)
    box.focus()
    box.value = text
    await pilot.press("enter")
    await settle(app, pilot)


def run(coro):
    return asyncio.run(coro)


def test_answer_shows_the_putin_sentence_with_its_evidence(seeded, tmp_path):
    app = make_app(seeded, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await send(app, pilot, "What did Putin confirm?")
            view = app.pane.entries[0]
            assert "Putin confirmed the presence of North Korean troops" in view._body.plain
            assert "[1]" in view._body.plain
            clicks = [str(s.style) for s in view._body.spans if "@click" in str(s.style)]
            assert clicks == ["@click=app.open_citation(0,1)"]
            await app.run_action("open_citation(0,1)")  # what a click on [1] runs
            await settle(app, pilot)
            assert isinstance(app.screen, DocumentScreen)
            await pilot.press("escape")
            await pilot.pause()
            pane = app.query_one("#evidence", EvidencePane)
            assert pane.items[0].n == 1
            assert "Putin confirmed" in pane.items[0].sentence.text
            assert pane.items[0].verdict == "supported"
            assert app.query_one("#ask", HistoryInput).value == ""
            status = app.status.render().plain
            assert f"{seeded.index.count():,} sentences" in status
            assert "offline" in status

    run(scenario())


def test_open_citation_shows_it_highlighted_among_its_neighbours(seeded, tmp_path):
    app = make_app(seeded, tmp_path)

    async def scenario():
        async with app.run_test(size=(100, 20)) as pilot:
            await settle(app, pilot)
            await send(app, pilot, "What did Putin confirm?")
            await send(app, pilot, "/open 1")
            screen = app.screen
            assert isinstance(screen, DocumentScreen)
            cited = screen.sentence
            assert "Putin confirmed" in cited.text
            start, end = screen.span
            assert screen.text[start:end] == cited.text
            indexes = {n.index for n in screen.neighbours}
            assert {cited.index - 1, cited.index + 1} <= indexes
            shown = screen.query_one("#doc-text").visual
            highlighted = [s for s in shown.spans if (s.start, s.end) == (start, end)]
            assert highlighted and "$accent" in str(highlighted[0].style)
            shaded = [s for s in shown.spans if "$boost" in str(s.style)]
            assert shaded and shaded[0].start < start and shaded[0].end > end
            scroll = screen.query_one("#doc-scroll")
            assert scroll.scroll_y > 0  # a 20-line terminal must scroll down to line 6
            assert scroll.scroll_y <= screen.sentence_y < scroll.scroll_y + scroll.size.height
            # the chat keeps working behind the document (keys, progress from a worker)
            await pilot.press("alt+up")
            app._progress("indexing", 1, 2)
            app.status.set(sentences=99)
            await pilot.pause()
            assert isinstance(app.screen, DocumentScreen)
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, DocumentScreen)
            assert not app.query_one("#progress-box").has_class("hidden")

    run(scenario())


def test_evidence_list_opens_a_citation_with_keys_and_mouse(seeded, tmp_path):
    app = make_app(seeded, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await send(app, pilot, "What did Putin confirm?")
            app.query_one("#evidence-list", OptionList).focus()
            await pilot.press("enter")
            await settle(app, pilot)
            assert isinstance(app.screen, DocumentScreen)
            assert "Putin confirmed" in app.screen.sentence.text
            await pilot.press("escape")
            await pilot.pause()
            assert await pilot.click("#evidence-list", offset=(4, 1))  # and with the mouse
            await settle(app, pilot)
            assert isinstance(app.screen, DocumentScreen)

    run(scenario())


def test_cite_finds_moscows_fake_news_sentence_first(seeded, tmp_path):
    app = make_app(seeded, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await send(app, pilot, "/cite fake news")
            entry = app.entries[0]
            assert entry.kind == "cite"
            assert entry.matches[0].exact
            assert "Moscow branded the news" in entry.matches[0].sentence.text
            assert not any(m.exact for m in entry.matches[1:])
            pane = app.query_one("#evidence", EvidencePane)
            assert pane.items[0].verdict == "exact"
            await send(app, pilot, "/open 1")
            assert "Moscow branded" in app.screen.sentence.text
            await pilot.press("n")  # the next sentence found for it
            await settle(app, pilot)
            assert app.screen.sentence == entry.matches[1].sentence
            assert app.screen.span == (entry.matches[1].sentence.char_start,
                                       entry.matches[1].sentence.char_end)
            await pilot.press("p")
            await settle(app, pilot)
            assert app.screen.sentence == entry.matches[0].sentence
            await pilot.press("escape")
            await pilot.pause()
            assert not isinstance(app.screen, DocumentScreen)

    run(scenario())


def test_export_writes_markdown_footnotes_and_json_spans(seeded, tmp_path):
    app = make_app(seeded, tmp_path)
    base = tmp_path / "out" / "chat"

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await send(app, pilot, "What did Putin confirm?")
            await send(app, pilot, "/cite fake news")
            await send(app, pilot, f"/export {base}.md")

    run(scenario())
    md = (base.parent / "chat.md").read_text(encoding="utf-8")
    data = json.loads((base.parent / "chat.json").read_text(encoding="utf-8"))
    putin = app.entries[0].answer.citations[0].sentence
    assert f"[^1-1]: “{putin.text}” — `{putin.location}`" in md
    assert "[^1-1]" in md.split("---")[0]  # referenced in the answer text too
    assert "[^2-1]: “At first, Moscow branded" in md
    first = data["entries"][0]["citations"][0]
    text = seeded.index.document(first["path"]).text
    assert text[first["char_start"]:first["char_end"]] == first["text"] == putin.text
    assert data["entries"][1]["kind"] == "cite" and data["entries"][1]["matches"][0]["exact"]


class ScriptedAnswerer:
    """Fault injection: an answerer that streams in pieces and has one unsupported sentence."""

    name = "scripted"
    streams = True
    rewrites = False
    shares_encoder = False

    def answer(self, question, hits, *, history=None, on_token=None):
        text = f"{hits[0].sentence.text} [1] Putin also visited Pyongyang. [1]"
        for piece in (text[:20], text[20:60], text[60:]):
            on_token(piece)
        return Answer(question, text, True, [Citation(1, hits[0].sentence, hits[0].score)],
                      self.name, sentences=[
                          AnswerSentence(hits[0].sentence.text, [1], 0.9, True),
                          AnswerSentence("Putin also visited Pyongyang.", [1], 0.2, False)],
                      notes=["1 sentence is not supported by its sources"])


def test_streamed_answer_marks_unsupported_sentences(seeded, tmp_path, encoder):
    assistant = Assistant(seeded.settings, index=seeded.index, encoder=encoder,
                          answerer=ScriptedAnswerer())
    app = make_app(assistant, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await send(app, pilot, "What did Putin confirm?")
            view = app.pane.entries[0]
            assert len(view._streamed) == 3  # every token reached the pane
            body = view._body
            bad = body.plain.index("Putin also visited Pyongyang.")
            styles = [str(s.style) for s in body.spans if s.start <= bad < s.end]
            assert any("strike" in s and "$error" in s for s in styles)
            assert "note: 1 sentence is not supported" in body.plain
            pane = app.query_one("#evidence", EvidencePane)
            assert pane.items[0].verdict == "unsupported"

    run(scenario())


class OffQuestionAnswerer(ScriptedAnswerer):
    """An answer whose second sentence is what its source says, but not what was asked."""

    def answer(self, question, hits, *, history=None, on_token=None):
        first, other = hits[0].sentence, hits[1].sentence
        text = f"{first.text} [1] {other.text} [2] [off-question]"
        on_token(text)
        return Answer(question, text, True, [Citation(1, first, hits[0].score),
                                             Citation(2, other, hits[1].score)],
                      self.name, sentences=[
                          AnswerSentence(first.text, [1], 0.9, True, addresses=True),
                          AnswerSentence(other.text, [2], 0.9, True, addresses=False)],
                      notes=["1 sentence supported by its citations but not addressing the "
                             "question, marked [off-question]"])


def test_an_off_question_sentence_is_shown_with_its_verdict(seeded, tmp_path, encoder):
    assistant = Assistant(seeded.settings, index=seeded.index, encoder=encoder,
                          answerer=OffQuestionAnswerer())
    app = make_app(assistant, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await send(app, pilot, "What did Putin confirm?")
            answer = app.entries[0].answer
            body = app.pane.entries[0]._body
            off = body.plain.index("⊘ ") + 2
            assert body.plain[off:].startswith(answer.sentences[1].text)
            styles = [str(s.style) for s in body.spans if s.start <= off < s.end]
            assert any("$text-muted" in s for s in styles)
            assert "⊘ " + answer.sentences[0].text not in body.plain
            pane = app.query_one("#evidence", EvidencePane)
            assert [item.verdict for item in pane.items] == ["supported", "off-question"]

    run(scenario())


@pytest.mark.llm
def test_llm_answer_streams_in_with_verdicts(seeded, tmp_path, encoder):
    """The LLM path against a real OpenAI-compatible server (llama.cpp, SmolLM2-135M)."""
    from dataclasses import replace

    llm_server = pytest.importorskip("tests.llm_server")
    if llm_server.available():
        pytest.skip(llm_server.available())
    with llm_server.LlamaServer() as server:
        settings = replace(seeded.settings, llm="openai", model=llm_server.MODEL_NAME,
                           base_url=server.base_url, api_key="sk-local-test")
        app = make_app(Assistant(settings, index=seeded.index, encoder=encoder), tmp_path)

        async def scenario():
            async with app.run_test(size=SIZE) as pilot:
                await settle(app, pilot)
                assert "openai · smollm2" in app.status.render().plain
                await send(app, pilot, "What did Putin confirm?")
                view = app.pane.entries[0]
                assert len(view._streamed) > 1  # tokens arrived one by one
                answer = app.entries[0].answer
                shown = view._body.plain
                for seg in answer.sentences:
                    assert seg.supported is not None  # every sentence was verified
                    struck = [s for s in view._body.spans if "strike" in str(s.style)]
                    if seg.supported is False:
                        assert any(shown[s.start:s.end] == seg.text.strip() for s in struck)
                verdicts = {ev.verdict for ev in app.query_one("#evidence", EvidencePane).items}
                allowed = {"supported", "off-question", "unsupported", "unverified", "nearest"}
                assert verdicts and verdicts <= allowed
                assert "sk-local-test" not in shown

        run(scenario())


def test_an_error_is_a_notification_and_the_question_stays(settings, encoder, tmp_path):
    app = make_app(Assistant(settings, encoder=encoder), tmp_path)  # an empty index

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await send(app, pilot, "What did Putin confirm?")
            assert app.query_one("#ask", HistoryInput).value == "What did Putin confirm?"
            messages = [n.message for n in app._notifications]
            assert any("is empty" in m for m in messages)
            assert app.pane.entries[0].has_class("-failed")
            app.query_one("#ask", HistoryInput).value = ""
            await send(app, pilot, "/open 3")
            assert app.query_one("#ask", HistoryInput).value == "/open 3"
            assert not isinstance(app.screen, DocumentScreen)

    run(scenario())


def test_a_store_that_cannot_open_is_a_notification(tmp_path, encoder):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    settings = Settings(index_dir=blocker, data_dir=tmp_path / "data")
    app = make_app(Assistant(settings, encoder=encoder), tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            assert [n.title for n in app._notifications] == ["Cannot start"]
            assert "not ready" in app.status.render().plain
            await send(app, pilot, "What did Putin confirm?")  # still usable: says why
            assert app.query_one("#ask", HistoryInput).value == "What did Putin confirm?"
            assert len(app._notifications) == 2

    run(scenario())


def test_first_run_indexes_the_seeds_with_a_progress_bar(settings, encoder, tmp_path):
    app = make_app(Assistant(settings, encoder=encoder), tmp_path, seed_on_empty=True)
    shown: list[tuple] = []
    original = app._progress
    app._progress = lambda *a: (shown.append(a), original(*a))

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            assert app.assistant.index.count() > 0
            assert any(label and total for label, _, total in shown)
            assert shown[-1][0] is None  # the bar is hidden again
            assert app.query_one("#progress-box").has_class("hidden")
            assert "ready" in app.status.render().plain

    run(scenario())


def test_ingest_command_adds_a_document_that_can_then_be_cited(seeded, tmp_path):
    doc = tmp_path / "docs" / "lighthouse.txt"
    doc.parent.mkdir()
    doc.write_text("The old lighthouse on Skerry Point was painted blue in 1921. "
                   "Its keeper, Ada Brennan, kept the lamp lit for forty years.\n",
                   encoding="utf-8")
    app = make_app(seeded, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            before = seeded.index.count()
            await send(app, pilot, f"/ingest {doc.parent}")
            assert seeded.index.count() == before + 2
            assert any("1 indexed" in n.message for n in app._notifications)
            await send(app, pilot, "Who kept the lighthouse lamp lit?")
            cited = app.entries[-1].answer.citations[0].sentence
            assert "Ada Brennan" in cited.text and cited.path == str(doc.resolve())

    run(scenario())


def test_ingest_process_reports_errors(tmp_path):
    from assistant.tui import ingest_job

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x", encoding="utf-8")
    doc = tmp_path / "a.txt"
    doc.write_text("One sentence here.", encoding="utf-8")
    settings = Settings(index_dir=blocker, data_dir=tmp_path / "data")
    messages = list(ingest_job.run(settings, [doc]))
    assert "error" in messages[-1] and "report" not in messages[-1]


def test_questions_are_answered_while_an_ingest_runs(seeded, tmp_path):
    import json as _json

    from tests.conftest import EVAL_DEV

    if not EVAL_DEV.is_file():
        pytest.skip("needs the dev set documents")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    seen: set[str] = set()
    for line in EVAL_DEV.read_text(encoding="utf-8").splitlines():
        row = _json.loads(line)
        if row["doc_id"] not in seen and len(seen) < 12:
            seen.add(row["doc_id"])
            (corpus / f"doc{len(seen)}.txt").write_text(row["document"], encoding="utf-8")
    app = make_app(seeded, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            before = seeded.index.count()
            box = app.query_one("#ask", HistoryInput)
            box.value = f"/ingest {corpus}"
            await pilot.press("enter")
            box.value = "What did Putin confirm?"
            await pilot.press("enter")
            await settle(app, pilot)
            answer = app.entries[0].answer
            assert answer.found and "Putin confirmed" in answer.citations[0].sentence.text
            assert seeded.index.count() > before
            assert any("12 indexed" in n.message for n in app._notifications)

    run(scenario())


def test_explain_a_citation_of_the_previous_answer(seeded, tmp_path):
    """Follow-ups see the earlier turns with their citations: "explain [1]" finds the sentence
    shown as [1] in the previous answer."""
    app = make_app(seeded, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await send(app, pilot, "What did Putin confirm?")
            cited = app.entries[0].answer.citations[0].sentence
            await send(app, pilot, "explain [1]")
            follow = app.entries[1].answer
            assert follow.found and follow.citations[0].sentence.id == cited.id

    run(scenario())


def test_input_history_walks_with_up_and_down(seeded, tmp_path):
    app = make_app(seeded, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await send(app, pilot, "What did Putin confirm?")
            await send(app, pilot, "/cite fake news")
            box = app.query_one("#ask", HistoryInput)
            box.value = "draft"
            await pilot.press("up")
            assert box.value == "/cite fake news"
            await pilot.press("up")
            assert box.value == "What did Putin confirm?"
            await pilot.press("down", "down")
            assert box.value == "draft"

    run(scenario())


def test_palette_offers_the_commands(seeded, tmp_path):
    app = make_app(seeded, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            titles = [c.title for c in app.get_system_commands(app.screen)]
            for title in ("Open citation…", "Cite…", "Ingest…", "Export conversation",
                          "Saved conversations", "Clear", "Help"):
                assert title in titles
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"Cite…")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await pilot.pause()
            assert app.query_one("#ask", HistoryInput).value == "/cite "
            await send(app, pilot, "/cite fake news")
            assert len(app.pane.entries) == 1
            await pilot.press("ctrl+p")
            await pilot.pause()
            await pilot.press(*"Clear")
            await pilot.pause(0.3)
            await pilot.press("enter")
            await settle(app, pilot)
            assert app.pane.entries == [] and app.entries == []

    run(scenario())


def test_conversation_is_saved_and_reopened_from_the_list(seeded, tmp_path):
    first = make_app(seeded, tmp_path)

    async def ask():
        async with first.run_test(size=SIZE) as pilot:
            await settle(first, pilot)
            await send(first, pilot, "What did Putin confirm?")
            await send(first, pilot, "/cite fake news")
            await send(first, pilot, "/clear")
            assert first.pane.entries == []

    run(ask())
    second = make_app(seeded, tmp_path)

    async def reopen():
        async with second.run_test(size=SIZE) as pilot:
            await settle(second, pilot)
            await send(second, pilot, "/conversations")
            await pilot.press("enter")
            await settle(second, pilot)
            assert [e.kind for e in second.entries] == ["answer", "cite"]
            assert "Putin confirmed" in second.pane.entries[0]._body.plain
            await send(second, pilot, "/open 1")  # the reopened look-up is selected
            assert "Moscow branded" in second.screen.sentence.text

    run(reopen())


@pytest.mark.parametrize("command", ["/bogus", "/open x", "/cite", "/ingest"])
def test_bad_commands_explain_and_keep_the_text(seeded, tmp_path, command):
    app = make_app(seeded, tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await send(app, pilot, command)
            assert app.query_one("#ask", HistoryInput).value == command
            assert app._notifications

    run(scenario())


def test_stale_citation_and_commits_by_another_process_show(tmp_path, encoder):
    """An edited file's citation says so in the evidence pane; a commit made by another
    process (here another Assistant on the same index, as `ingest --watch` would) shows in
    the status bar without any action in the UI."""
    from .conftest import make_settings

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "rivers.txt").write_text("The Danube flows into the Black Sea.\n")
    writer = Assistant(make_settings(tmp_path), encoder=encoder)
    with writer.index.writing():
        writer.ingestor().ingest_paths([docs], 2**20)
    app = make_app(Assistant(make_settings(tmp_path), encoder=encoder), tmp_path)

    async def scenario():
        async with app.run_test(size=SIZE) as pilot:
            await settle(app, pilot)
            await pilot.pause(2.5)  # the first look at the catalog's generation
            await app.workers.wait_for_complete()
            (docs / "rivers.txt").write_text("The Danube flows east.\n")
            await send(app, pilot, "Where does the Danube flow?")
            pane = app.query_one("#evidence", EvidencePane)
            assert pane.items[0].stale_reason == "changed"
            (docs / "lakes.txt").write_text("Lake Baikal is the deepest lake on Earth.\n")
            with writer.index.writing():
                writer.ingestor().ingest_paths([docs / "lakes.txt"], 2**20)
            for _ in range(60):
                await pilot.pause(0.1)
                if "re-indexed" in app.status.render().plain:
                    break
            assert "re-indexed docs/lakes.txt" in app.status.render().plain.replace(
                str(tmp_path) + "/", "")

    run(scenario())
    writer.close()
