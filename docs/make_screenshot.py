"""Regenerate docs/screenshot.svg (and .png when the optional `resvg-py` is importable) from
the real app: the seed article indexed in a temporary store, one question, one quote look-up.

    python docs/make_screenshot.py
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

from assistant.config import Settings  # noqa: E402
from assistant.conversations import ConversationStore  # noqa: E402
from assistant.tui.app import ChatApp  # noqa: E402

DOCS = Path(__file__).resolve().parent
SIZE = (120, 34)


async def shoot(root: Path) -> Path:
    settings = Settings(index_dir=root / "index", data_dir=root / "data")
    app = ChatApp(settings, store=ConversationStore(root / "c.sqlite3"), show_timings=True,
                  index_label="index/", cursor_blink=False)
    async with app.run_test(size=SIZE) as pilot:
        while not app.ready.is_set():
            await pilot.pause(0.1)
        await app.workers.wait_for_complete()
        for line in ("/cite fake news", "What did Putin confirm?"):
            app.query_one("#ask").value = line
            await pilot.press("enter")
            await pilot.pause()
            await app.workers.wait_for_complete()
            await pilot.pause()
        app.query_one("#ask").value = "/open 1"
        app.query_one("#ask").cursor_position = len("/open 1")
        await pilot.pause()
        return Path(app.save_screenshot(filename="screenshot.svg", path=str(DOCS)))


def main() -> None:
    os.chdir(DOCS.parent)  # paths shown relative to the repository
    with tempfile.TemporaryDirectory() as tmp:
        svg = asyncio.run(shoot(Path(tmp)))
    print(f"wrote {svg}")
    try:
        import resvg_py
    except ImportError:
        print("resvg-py is not installed: no PNG (pip install resvg-py to make one)")
        return
    png = svg.with_suffix(".png")
    png.write_bytes(bytes(resvg_py.svg_to_bytes(svg_path=str(svg),
                                                monospace_family="DejaVu Sans Mono")))
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
