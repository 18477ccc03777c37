"""Snapshots of the main screens (pytest-textual-snapshot). Deterministic: fixed terminal size,
no timings or clock in the status bar, no cursor blink, a fixed index label, storage in tmp.
Update after an intended change with `pytest tests/test_snapshots.py --snapshot-update`, and
look at the report before committing."""

from __future__ import annotations

import pytest

from assistant.conversations import ConversationStore
from assistant.tui.app import ChatApp
from assistant.tui.widgets.input import HistoryInput
from tests.conftest import REPO

SIZE = (110, 32)


@pytest.fixture
def app(seeded, tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)  # paths are shown relative to the working directory
    return ChatApp(seeded.settings, assistant=seeded,
                   store=ConversationStore(tmp_path / "conversations.sqlite3"),
                   seed_on_empty=False, show_timings=False, index_label="seeds index",
                   export_dir=tmp_path, cursor_blink=False)


def typing(*lines: str):
    async def run_before(pilot) -> None:
        app = pilot.app
        await pilot.pause()
        await app.workers.wait_for_complete()
        for line in lines:
            box = app.query_one("#ask", HistoryInput)
            box.value = line
            await pilot.press("enter")
            await pilot.pause()
            await app.workers.wait_for_complete()
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
