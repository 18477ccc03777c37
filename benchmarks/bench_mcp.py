"""MCP round trip: a warm `ask` through `assistant mcp` (a real server process over stdio,
driven with the SDK's ClientSession) beside the same question through `Assistant.ask` in
process. Prints p50/p95 over N calls and writes benchmarks/results/mcp.json.

    python benchmarks/bench_mcp.py                 # 50 calls each, over seeds/
    python benchmarks/bench_mcp.py --calls 200 --index DIR

The seeds are indexed into a temporary store first (unless --index). Both sides are warmed
with three calls that are not counted; the server side is timed from the client's
`call_tool` to its result (JSON-RPC over pipes, argument validation, the structured result
and its schema check, the stale marks), so the difference is what MCP adds to an answer.
Numbers measured while other processes use the cores are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import anyio
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
QUESTION = "What did Putin confirm?"
WARM_UP = 3


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1)


def in_process(index: Path, calls: int) -> list[float]:
    from assistant.config import load_settings
    from assistant.service import Assistant

    assistant = Assistant(load_settings(index_dir=index))
    try:
        out = []
        for i in range(WARM_UP + calls):
            t0 = time.perf_counter()
            answer = assistant.ask(QUESTION)
            if i >= WARM_UP:
                out.append((time.perf_counter() - t0) * 1000)
        assert answer.found
        return out
    finally:
        assistant.close()


async def over_mcp(index: Path, calls: int) -> list[float]:
    from mcp import ClientSession, StdioServerParameters, stdio_client

    params = StdioServerParameters(
        command=sys.executable, args=["-m", "assistant", "mcp", "--index", str(index)],
        env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "ANONYMIZED_TELEMETRY": "False",
             "ASSISTANT_CONFIG": os.environ.get("ASSISTANT_CONFIG", "/nonexistent.toml")},
        cwd=str(REPO))
    out = []
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write, read_timeout_seconds=120) as session:
            await session.initialize()
            for i in range(WARM_UP + calls):
                t0 = time.perf_counter()
                result = await session.call_tool("ask", {"question": QUESTION})
                if i >= WARM_UP:
                    out.append((time.perf_counter() - t0) * 1000)
                assert not result.is_error and result.structured_content["found"]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--calls", type=int, default=50)
    ap.add_argument("--index", type=Path, help="an index to use (default: seeds/ indexed "
                    "into a temporary folder)")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "mcp.json")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-mcp-") as tmp:
        index = args.index
        if index is None:
            from assistant.config import default_seeds_dir, load_settings
            from assistant.service import Assistant

            index = Path(tmp) / "index"
            assistant = Assistant(load_settings(index_dir=index))
            with assistant.index.writing():
                assistant.ingestor().ingest_paths([default_seeds_dir()],
                                                  assistant.settings.max_file_bytes)
            assistant.close()
        local = in_process(index, args.calls)
        remote = anyio.run(over_mcp, index, args.calls)

    results = {
        "question": QUESTION, "calls": args.calls,
        "in_process_ms": {"p50": pct(local, 50), "p95": pct(local, 95)},
        "mcp_stdio_ms": {"p50": pct(remote, 50), "p95": pct(remote, 95)},
        "cpus": os.cpu_count(), "date": time.strftime("%Y-%m-%d"),
    }
    print(f"warm ask over {args.calls} calls, p50 / p95:")
    print(f"  Assistant.ask in process:  {results['in_process_ms']['p50']:.1f} / "
          f"{results['in_process_ms']['p95']:.1f} ms")
    print(f"  assistant mcp over stdio:  {results['mcp_stdio_ms']['p50']:.1f} / "
          f"{results['mcp_stdio_ms']['p95']:.1f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
