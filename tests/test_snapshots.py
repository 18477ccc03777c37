"""Snapshots of the main screens (pytest-textual-snapshot). Deterministic: fixed terminal size,
no timings or clock in the status bar, no cursor blink, a fixed index label, storage in tmp.
Update after an intended change with `pytest tests/test_snapshots.py --snapshot-update`, and
look at the report before committing."""

from __future__ import annotations

import time

import pytest

from assistant.answer import ExtractiveAnswerer
from assistant.conversations import ConversationStore
from assistant.retrieve import Retrieval
from assistant.service import Assistant
from assistant.tui.app import ChatApp
from assistant.tui.widgets.input import HistoryInput
from assistant.types import Hit
from tests.conftest import REPO, SEED_ARTICLE

SIZE = (110, 32)

# Fixed hits (sentence words, score) over the real stored article, so that the snapshots show
# the UI, not whatever the ranking currently scores (that is tested elsewhere).
PLAN = {
    "What did Putin confirm?": [("Putin confirmed", 0.83), ("fake news", 0.61),
                                ("Yoon called", 0.55)],
    "fake news": [("Putin confirmed", 0.58), ("fake news", 0.52), ("illegal", 0.35)],
    "Who won the 1921 sailing regatta in Oslo?": [("Rutte", 0.26), ("dramatic", 0.16),
                                                  ("increasingly concerned", 0.15)],
}


class FixedRetriever:
    def __init__(self, index) -> None:
        self.sentences = index.catalog.document_sentences(str(SEED_ARTICLE.resolve()))

    def search(self, question: str, k: int) -> Retrieval:
        hits = [Hit(next(s for s in self.sentences if words in s.text), score)
                for words, score in PLAN[question]]
        return Retrieval(hits[:k], {})


class PlannedAssistant(Assistant):
    @property
    def retriever(self):
        return FixedRetriever(self.index)


@pytest.fixture
def app(seeded, tmp_path, monkeypatch, encoder):
    monkeypatch.chdir(REPO)  # paths are shown relative to the working directory
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    ticks = iter(range(1_764_000_000, 1_764_100_000, 60))  # a fixed clock for saved times
    assistant = PlannedAssistant(seeded.settings, index=seeded.index, encoder=encoder,
                                 answerer=ExtractiveAnswerer(3, 0.42, 0.92))
    return ChatApp(seeded.settings, assistant=assistant,
                   store=ConversationStore(tmp_path / "conversations.sqlite3",
                                           clock=lambda: float(next(ticks))),
                   seed_on_empty=False, show_timings=False, index_label="seeds index",
                   export_dir=tmp_path, cursor_blink=False)


def typing(*lines: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        while not app.ready.is_set():  # the store and model load after the first paint
            await pilot.pause(0.05)
        await app.workers.wait_for_complete()
        for line in lines:
            box = app.query_one("#ask", HistoryInput)
            box.value = line
            await pilot.press("enter")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
            if line != lines[-1]:
                app.clear_notifications()  # toasts time out: keep them out of the pictures
                await pilot.pause()
    return run_before


def test_answer_with_evidence(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=typing("What did Putin confirm?"))


def test_citation_in_its_document(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE,
                        run_before=typing("What did Putin confirm?", "/open 1"))


def test_cite_lookup(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=typing("/cite fake news"))


def test_not_found_shows_nearest(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE,
                        run_before=typing("Who won the 1921 sailing regatta in Oslo?"))


def test_help(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=typing("/help"))


def test_saved_conversations_list(app, snap_compare):
    assert snap_compare(app, terminal_size=SIZE, run_before=typing(
        "What did Putin confirm?", "/clear", "/cite fake news", "/conversations"))
