"""`/ingest` in its own process, so the chat stays responsive: embedding and Chroma's writes
(which hold the GIL) run there, and the UI only reads progress lines. The store is built for
this: one writer process holds the write lock, readers opened before see its documents after.

The UI starts `python -m assistant.tui.ingest_job`, writes the settings as JSON on stdin
(never the API key: ingest does not need it) and reads JSON lines from stdout:
  {"waiting": HOLDER} · {"progress": [DONE, TOTAL, PATH]} · {"report": {...}, "summary": TEXT}
  · {"error": MESSAGE}"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from assistant.config import Settings

WAIT_S = 600.0  # for another writer to finish
_KEPT_BACK = ("api_key",)  # ingest never needs the key, so it never leaves this process


def settings_to_json(settings: Settings, paths: list[Path]) -> str:
    values = {f.name: getattr(settings, f.name) for f in dataclasses.fields(Settings)
              if f.name not in _KEPT_BACK}
    return json.dumps({"settings": {k: str(v) if isinstance(v, Path) else v
                                    for k, v in values.items()},
                       "paths": [str(p) for p in paths]})


def _settings_from(data: dict) -> Settings:
    kinds = {f.name: f for f in dataclasses.fields(Settings)}
    values = {k: Path(v) if "Path" in str(kinds[k].type) and v is not None else v
              for k, v in data.items() if k in kinds}
    return Settings(**values)


def _emit(**message) -> None:
    sys.stdout.write(json.dumps(message, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def main() -> int:
    try:
        os.nice(10)  # a background job: the interactive UI gets the CPU first
    except OSError:
        pass
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    from assistant.errors import AssistantError
    from assistant.service import Assistant

    try:
        job = json.loads(sys.stdin.read())
        settings = _settings_from(job["settings"])
        paths = [Path(p) for p in job["paths"]]
        assistant = Assistant(settings)
        with assistant.index.writing(wait=WAIT_S, on_wait=lambda who: _emit(waiting=who)):
            report = assistant.ingestor().ingest_paths(
                paths, settings.max_file_bytes,
                progress=lambda done, total, path: _emit(progress=[done, total, path]))
        assistant.close()
    except AssistantError as exc:
        _emit(error=str(exc))
        return 2
    except Exception as exc:  # noqa: BLE001 - reported to the UI, which shows it
        _emit(error=f"unexpected error: {exc!r}")
        return 1
    _emit(report=report.to_dict(), summary=report.summary())
    return 0


def run(settings: Settings, paths: list[Path],
        on_start: Callable[[subprocess.Popen], None] | None = None) -> Iterator[dict]:
    """Start the job and yield its messages as they come."""
    import tempfile

    errors = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # never a full pipe
    proc = subprocess.Popen([sys.executable, "-m", "assistant.tui.ingest_job"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors,
                            text=True, encoding="utf-8")
    if on_start:
        on_start(proc)
    assert proc.stdin and proc.stdout
    proc.stdin.write(settings_to_json(settings, paths))
    proc.stdin.close()
    ended = False
    for line in proc.stdout:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue  # a library printing to stdout
        ended = ended or "report" in message or "error" in message
        yield message
    code = proc.wait()
    errors.seek(0)
    err = errors.read()
    errors.close()
    if not ended:
        tail = err.strip().splitlines()[-1:] or [f"exit status {code}"]
        yield {"error": f"the ingest process stopped: {tail[0]}"}


if __name__ == "__main__":
    raise SystemExit(main())
