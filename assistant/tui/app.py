"""The terminal chat UI: ask, read the cited answer, open each citation in its document.

The window paints first; the store, the model and any first-run ingest load in a worker. Every
call into the assistant (answering, looking up, ingesting) runs in a thread worker, one at a
time, and posts its result back to the UI thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Label, ProgressBar

from assistant import answerers
from assistant.tui.widgets.conversation import ConversationPane, EntryView
from assistant.tui.widgets.evidence import EvidencePane
from assistant.tui.widgets.input import HistoryInput
from assistant.tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from assistant.config import Settings
    from assistant.conversations import ConversationStore, Entry
    from assistant.service import Assistant

COMMIT_POLL_S = 2.0
"""How often the UI looks for commits made by other processes (`ingest --watch`, /ingest)."""
HISTORY_TURNS = 4  # earlier exchanges passed to the answerer


class ChatApp(App):
    """`assistant` / `assistant chat`."""

    CSS_PATH = "app.tcss"
    TITLE = "cited-assistant"
    SUB_TITLE = "answers from your documents, with their sentences"
    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help"),
        Binding("alt+up", "select_entry(-1)", "Prev answer"),
        Binding("alt+down", "select_entry(1)", "Next answer"),
        Binding("ctrl+l", "conversations", "Conversations"),
    ]

    def __init__(self, settings: Settings, assistant: Assistant | None = None, *,
                 store: ConversationStore | None = None, seed_on_empty: bool = True,
                 show_timings: bool = True, index_label: str | None = None,
                 export_dir: Path | None = None, cursor_blink: bool = True) -> None:
        super().__init__()
        self.settings = settings
        self._assistant = assistant
        self._store = store
        self.seed_on_empty = seed_on_empty
        self.show_timings = show_timings
        self.index_label = index_label
        self.export_dir = export_dir
        self.cursor_blink = cursor_blink
        self.lock = threading.Lock()  # one call into the assistant at a time
        self.entries: list[Entry | None] = []
        self.selected: int | None = None
        self.conversation_id: int | None = None
        self.ready = threading.Event()
        self._ingest_proc = None  # the running /ingest process, stopped if the app quits
        self._generation: int | None = None  # the catalog's, when last looked at
        self._docs: dict[str, str] | None = None
        self._generation_check = None

    # -- layout ------------------------------------------------------------------------------
    def compose(self):
        yield Header(show_clock=False, icon="§")
        with Horizontal(id="main"):
            yield ConversationPane(id="conversation")
            yield EvidencePane(id="evidence")
        with Vertical(id="progress-box", classes="hidden"):
            yield Label("", id="progress-label")
            yield ProgressBar(id="progress", show_eta=False)
        box = HistoryInput(placeholder="Ask about your documents, or type /help", id="ask")
        box.cursor_blink = self.cursor_blink
        yield box
        yield StatusBar(id="status")
        yield Footer()

    def on_mount(self) -> None:
        s = self.settings
        answerer = answerers.get(s.llm).label(s)
        where = s.chroma_url or str(s.index_dir)
        self.status.set(answerer=answerer, index=self.index_label or where)
        self.main.query_one("#ask", HistoryInput).focus()
        # Paint first: importing the store and the model in a thread would hold the GIL.
        self.call_after_refresh(self.startup)
        self.set_interval(COMMIT_POLL_S, self._watch_commits)

    @property
    def main(self):
        """The chat screen, also while a document or a dialog is shown over it."""
        return self.screen_stack[0]

    def _to_main(self) -> None:
        while len(self.screen_stack) > 1:
            self.pop_screen()

    @property
    def status(self) -> StatusBar:
        return self.main.query_one("#status", StatusBar)

    @property
    def pane(self) -> ConversationPane:
        return self.main.query_one("#conversation", ConversationPane)

    @property
    def assistant(self) -> Assistant:
        if self._assistant is None:
            from assistant.service import Assistant

            self._assistant = Assistant(self.settings)
        return self._assistant

    @property
    def store(self) -> ConversationStore:
        if self._store is None:
            from assistant.conversations import ConversationStore

            self._store = ConversationStore.for_data_dir(self.settings.data_dir)
        return self._store

    # -- startup -----------------------------------------------------------------------------
    @work(thread=True, group="assistant", exit_on_error=False)
    def startup(self) -> None:
        from assistant.errors import AssistantError

        try:
            with self.lock:
                self.call_from_thread(self.status.set, state="opening the index…")
                index = self.assistant.index
                count = index.count()
                self.call_from_thread(self.status.set, sentences=count)
                if count == 0 and self.seed_on_empty:
                    self._index_seeds("indexing the seed documents")
                self.call_from_thread(self.status.set, state="loading the model…")
                self.assistant.encoder.encode_one("warm up")
                self.assistant.answerer  # noqa: B018 - build it now, not on the first question
        except Exception as exc:  # noqa: BLE001 - shown, and every question will say it too
            message = str(exc) if isinstance(exc, AssistantError) else f"unexpected: {exc!r}"
            self.call_from_thread(self.notify, message, title="Cannot start",
                                  severity="error", timeout=10, markup=False)
            self.call_from_thread(self.status.set, state="not ready")
            return
        finally:
            self.ready.set()
        self.call_from_thread(self.status.set, state="ready")

    # -- input -------------------------------------------------------------------------------
    def on_input_submitted(self, event: HistoryInput.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        box = self.main.query_one("#ask", HistoryInput)
        box.remember(text)
        box.value = ""
        if text.startswith("/"):
            self.run_command(text)
        else:
            self.ask(text)

    def run_command(self, text: str) -> None:
        name, _, arg = text[1:].partition(" ")
        arg = arg.strip()
        name = name.lower()
        if name == "open":
            if not arg.isdigit():
                return self.fail("usage: /open N (a citation number of the selected answer)",
                                 text)
            self.action_open_citation(self.selected, int(arg))
        elif name == "cite":
            if not arg:
                return self.fail("usage: /cite TEXT (a quote or a claim to look up)", text)
            self.cite(arg)
        elif name == "ingest":
            if not arg:
                return self.fail("usage: /ingest PATH (a file or folder)", text)
            self.ingest(Path(arg).expanduser())
        elif name == "sources":
            self.action_sources()
        elif name == "clear":
            self.call_next(self.action_clear)
        elif name == "export":
            self.action_export(arg or None)
        elif name == "help":
            self.action_help()
        elif name in ("conversations", "history", "load"):
            self.action_conversations()
        else:
            self.fail(f"unknown command /{name}; type /help for the list", text)

    def fail(self, message: str, text: str | None = None, title: str = "") -> None:
        """An error is a notification, and what the user typed goes back into the input."""
        self.notify(message, title=title, severity="error", timeout=8, markup=False)
        box = self.main.query_one("#ask", HistoryInput)
        if text is not None and not box.value:
            box.value = text
            box.cursor_position = len(text)

    # -- asking ------------------------------------------------------------------------------
    def ask(self, question: str) -> None:
        view = self.pane.add_entry(question, "answer")
        self.entries.append(None)
        self._select(view.position)
        self._ask_worker(question, view)

    def _history(self):
        from assistant.types import Turn

        done = [e for e in self.entries if e is not None and e.kind == "answer" and e.answer]
        return [Turn(e.question, e.answer.text, list(e.answer.citations),
                     e.answer.question if e.answer.question != e.question else "")
                for e in done[-HISTORY_TURNS:]]

    @work(thread=True, group="assistant", exit_on_error=False)
    def _ask_worker(self, question: str, view: EntryView) -> None:
        from assistant.conversations import Entry

        history = self.call_from_thread(self._history)
        if not self.lock.acquire(blocking=False):
            self.call_from_thread(view.set_waiting, "waiting for the index…")
            self.lock.acquire()
        try:
            self.call_from_thread(view.set_waiting, "thinking…")

            def on_token(token: str) -> None:
                self.call_from_thread(view.append_token, token)

            answer = self.assistant.ask(question, history=history, on_token=on_token)
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a crash
            self.call_from_thread(self._failed, view, question, exc)
            return
        finally:
            self.lock.release()
        self.call_from_thread(self._done, view, Entry("answer", question, answer=answer))

    def _failed(self, view: EntryView, text: str, exc: Exception) -> None:
        from assistant.errors import AssistantError

        message = str(exc) if isinstance(exc, AssistantError) else f"unexpected error: {exc!r}"
        if not view.is_attached:
            return self.notify(message, severity="error", timeout=8, markup=False)
        view.show_error(message)
        self.fail(message, text if view.kind == "answer" else f"/cite {text}")

    def _done(self, view: EntryView, entry: Entry) -> None:
        if not view.is_attached:  # the conversation was cleared or another one opened
            return
        self.entries[view.position] = entry
        view.show_entry(entry)
        if entry.answer and entry.answer.timings and self.show_timings:
            t = entry.answer.timings
            self.status.set(timings=f"last answer {t.get('total_ms', 0):.0f} ms "
                            f"(retrieve {t.get('retrieve_ms', 0):.0f}, "
                            f"answer {t.get('answer_ms', 0):.0f})")
        self._select(view.position)
        self._save(entry)

    def _save(self, entry: Entry) -> None:
        try:
            if self.conversation_id is None:
                self.conversation_id = self.store.create(entry.question)
            self.store.add(self.conversation_id, entry)
        except Exception as exc:  # noqa: BLE001 - saving must not lose the answer on screen
            self.notify(f"could not save the conversation: {exc}", severity="warning",
                        markup=False)

    # -- /cite -------------------------------------------------------------------------------
    def cite(self, text: str) -> None:
        view = self.pane.add_entry(text, "cite")
        self.entries.append(None)
        self._select(view.position)
        self._cite_worker(text, view)

    @work(thread=True, group="assistant", exit_on_error=False)
    def _cite_worker(self, text: str, view: EntryView) -> None:
        from assistant.conversations import Entry

        try:
            with self.lock:
                matches = self.assistant.cite(text)
        except Exception as exc:  # noqa: BLE001
            self.call_from_thread(self._failed, view, text, exc)
            return
        self.call_from_thread(self._done, view, Entry("cite", text, matches=matches))

    # -- /ingest -----------------------------------------------------------------------------
    @work(thread=True, group="ingest", exit_on_error=False)
    def ingest(self, path: Path) -> None:
        """In another process (see ingest_job): questions can still be asked meanwhile."""
        from assistant.tui import ingest_job

        again = f"/ingest {path}"
        if not path.exists():
            self.call_from_thread(self.fail, f"no such file or folder: {path}", again)
            return
        label = f"indexing {path}"
        self.call_from_thread(self._progress, label, 0, None)
        try:
            for message in ingest_job.run(self.settings, [path.resolve()],
                                          on_start=self._ingest_started):
                if "progress" in message:
                    done, total, _ = message["progress"]
                    self.call_from_thread(self._progress, label, done, total)
                elif "waiting" in message:
                    self.call_from_thread(self._progress, f"waiting for {message['waiting']}",
                                          0, None)
                elif "error" in message:
                    self.call_from_thread(self.fail, message["error"], again, "Ingest failed")
                elif "summary" in message:
                    self.call_from_thread(self.notify, message["summary"], title="Ingest done",
                                          timeout=8, markup=False)
        except OSError as exc:
            self.call_from_thread(self.fail, f"cannot start the ingest: {exc}", again)
        finally:
            self._ingest_proc = None
            self.call_from_thread(self._progress, None, 0, None)
        self.ready.wait()  # the index is opened by the startup worker
        count = self.assistant.index.count()
        self.call_from_thread(self.status.set, sentences=count)

    def _ingest_started(self, proc) -> None:
        self._ingest_proc = proc

    def _index_seeds(self, label: str):
        """A first run: index seeds/ with the progress bar showing (the same code as the first
        `assistant ask`: Assistant.index_seeds_if_empty); the caller holds `self.lock`."""
        index = self.assistant.index
        self.call_from_thread(self._progress, label, 0, None)

        def progress(done: int, total: int, current: str) -> None:
            self.call_from_thread(self._progress, label, done, total)

        try:
            report = self.assistant.index_seeds_if_empty(progress=progress)
        finally:
            self.call_from_thread(self._progress, None, 0, None)
        self.call_from_thread(self.status.set, sentences=index.count())
        return report

    def _progress(self, label: str | None, done: int, total: int | None) -> None:
        box = self.main.query_one("#progress-box")
        if label is None:
            box.add_class("hidden")
            return
        box.remove_class("hidden")
        self.main.query_one("#progress-label", Label).update(f"{label}: {done:,} sentences")
        self.main.query_one("#progress", ProgressBar).update(total=total, progress=done)

    # -- selection and citations -------------------------------------------------------------
    def _select(self, position: int | None) -> None:
        views = self.pane.entries
        if position is None or not (0 <= position < len(views)):
            return
        self.selected = position
        self.pane.select(views[position])
        entry = self.entries[position]
        pane = self.main.query_one("#evidence", EvidencePane)
        if entry is None:
            pane.show(position, [], "Evidence")
            return
        if entry.kind == "cite":
            title = f"Sentences stating it ({len(entry.matches)})"
        elif entry.answer and not entry.answer.citations:
            title = "Nearest sentences (not found)"
        else:
            title = f"Evidence for answer {position + 1}"
        pane.show(position, entry.evidence(), title)

    def on_entry_view_selected(self, event: EntryView.Selected) -> None:
        self._select(event.view.position)

    def on_evidence_pane_open(self, event: EvidencePane.Open) -> None:
        self.action_open_citation(event.position, event.n)

    def action_select_entry(self, step: int) -> None:
        if not self.entries:
            return
        current = self.selected if self.selected is not None else len(self.entries)
        self._select(max(0, min(len(self.entries) - 1, current + step)))

    def action_open_citation(self, position: int | None, n: int) -> None:
        from assistant.tui.screens.document import DocumentScreen

        if position is None or not (0 <= position < len(self.entries)):
            return self.fail("no answer selected: ask a question first", f"/open {n}")
        entry = self.entries[position]
        if entry is None:
            return self.fail("that answer is not ready yet", f"/open {n}")
        found = [ev for ev in entry.evidence() if ev.n == n]
        if not found:
            count = len(entry.evidence())
            return self.fail(f"answer {position + 1} has no citation [{n}]"
                             + (f" (it has 1 to {count})" if count else ""), f"/open {n}")
        if self.selected != position:
            self._select(position)
        others = [(f"[{ev.n}]", ev.sentence) for ev in entry.evidence()]
        at = next(i for i, ev in enumerate(entry.evidence()) if ev.n == n)
        self.push_screen(DocumentScreen(self.assistant, found[0].sentence, f"[{n}]", others, at))

    # -- other actions -----------------------------------------------------------------------
    async def action_clear(self) -> None:
        await self.pane.clear()
        self.entries = []
        self.selected = None
        self.conversation_id = None
        self.main.query_one("#evidence", EvidencePane).show(None, [], "Evidence")
        self.notify("New conversation (the previous one is saved: Ctrl+L)")

    def action_export(self, target: str | None = None) -> None:
        from assistant.export import export

        done = [e for e in self.entries if e is not None]
        if not done:
            return self.fail("nothing to export yet", "/export" + (f" {target}" if target else ""))
        if target:
            base = Path(target).expanduser()
            if base.suffix.lower() in (".md", ".json"):
                base = base.with_suffix("")
        else:
            name = time.strftime("conversation-%Y%m%d-%H%M%S")
            base = (self.export_dir or Path.cwd()) / name
        try:
            md, js = export(done, base, title=done[0].question)
        except OSError as exc:
            return self.fail(f"cannot export: {exc.strerror or exc}", f"/export {target or ''}")
        self.last_export = (md, js)
        self.notify(f"{md}\n{js}", title="Exported", timeout=8, markup=False)

    def action_help(self) -> None:
        from assistant.tui.screens.help import HelpScreen

        self.push_screen(HelpScreen())

    def action_conversations(self) -> None:
        from assistant.tui.screens.conversations import ConversationsScreen

        try:
            listed = self.store.list()
        except Exception as exc:  # noqa: BLE001
            return self.fail(f"cannot read saved conversations: {exc}")
        self.push_screen(ConversationsScreen(listed), self._open_conversation)

    async def _open_conversation(self, conversation_id: int | None) -> None:
        if conversation_id is None:
            return
        try:
            entries = self.store.load(conversation_id)
        except Exception as exc:  # noqa: BLE001
            return self.fail(f"cannot open the conversation: {exc}")
        self._to_main()
        await self.pane.clear()
        self.entries = list(entries)
        views = [EntryView(e.question, i, e.kind) for i, e in enumerate(entries)]
        await self.pane.mount_all(views)
        for view, entry in zip(views, entries, strict=True):
            view.show_entry(entry)
        self.conversation_id = conversation_id
        self._select(len(entries) - 1 if entries else None)

    def get_system_commands(self, screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)

        def prefill(text: str):
            def run() -> None:
                self._to_main()
                box = self.main.query_one("#ask", HistoryInput)
                box.value = text
                box.cursor_position = len(text)
                box.focus()
            return run

        yield SystemCommand("Open citation…", "/open N: show citation N in its document",
                            prefill("/open "))
        yield SystemCommand("Cite…", "/cite TEXT: where do the documents state this?",
                            prefill("/cite "))
        yield SystemCommand("Ingest…", "/ingest PATH: add files or folders to the index",
                            prefill("/ingest "))
        yield SystemCommand("Export conversation", "/export: Markdown with footnotes, and JSON",
                            self.action_export)
        yield SystemCommand("Saved conversations", "/conversations: reopen one",
                            self.action_conversations)
        yield SystemCommand("Sources", "/sources: the indexed documents and their state",
                            self.action_sources)
        yield SystemCommand("Clear", "/clear: start a new conversation", self.action_clear)
        yield SystemCommand("Help", "/help: commands and keys", self.action_help)

    # -- freshness ---------------------------------------------------------------------------
    @work(thread=True, group="sources", exit_on_error=False)
    def action_sources(self) -> None:
        """The indexed documents and their state on disk, as a notification."""
        from assistant.types import display_path

        self.ready.wait()
        sources = self.assistant.sources()
        stale = [s for s in sources if s.state != "up to date"]
        lines = [f"{len(sources)} documents indexed, {len(stale)} changed or missing on disk"]
        shown = (stale or sources)[:12]
        lines += [f"{s.state}: {display_path(s.path)} ({s.sentences} sentences)" for s in shown]
        if len(stale or sources) > len(shown):
            lines.append(f"… and {len(stale or sources) - len(shown)} more: `assistant sources`")
        if stale:
            lines.append("run `assistant ingest` (or /ingest) to update them")
        self.call_from_thread(self.notify, "\n".join(lines), title="Sources", timeout=15)

    def _watch_commits(self) -> None:
        """Every few seconds: has another process (`ingest --watch`, /ingest) committed?"""
        if self._generation_check is None and self.ready.is_set() and \
                self.assistant._index is not None:
            self._generation_check = self._check_commits()

    @work(thread=True, group="commits", exit_on_error=False)
    def _check_commits(self) -> None:
        try:
            index = self.assistant.index
            generation = index.generation()
            if generation == self._generation:
                return
            docs = {p: r.content_hash for p, r in index.documents().items()}
            before, self._generation, self._docs = self._docs, generation, docs
            if before is None:
                return
            from assistant.types import display_path

            changed = [display_path(p) for p, h in docs.items() if before.get(p) != h]
            gone = [display_path(p) for p in before if p not in docs]
            parts = []
            if changed:
                parts.append("re-indexed " + ", ".join(changed[:3])
                             + (f" (+{len(changed) - 3})" if len(changed) > 3 else ""))
            if gone:
                parts.append(f"removed {len(gone)}")
            if parts:
                self.call_from_thread(self.status.set, state="; ".join(parts),
                                      sentences=index.count())
        finally:
            self._generation_check = None

    def on_unmount(self) -> None:
        proc = self._ingest_proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # each document is committed whole; the rest is simply not done
        if self._store is not None:
            self._store.close()


def run_app(settings: Settings) -> int:
    ChatApp(settings).run()
    return 0
