"""`assistant eval --answerer openai` against a real llama.cpp server (SmolLM2-135M-Instruct,
started here on a free loopback port): the LLM path measured like the offline one (P@1, R@5,
citation precision and recall, not-found rate), plus the share of questions the model's own
answer was kept for and the share of its answer sentences the verifier judged supported.

    python benchmarks/eval_llm.py [--dev ../shared/eval/dev.jsonl] [--every N] [--limit N]
        [--threads 2] [--max-tokens 120] [--json]

`--every 4` asks every fourth question (all three sources; on 2 cores the whole file takes
over 20 minutes).

SmolLM2-135M is a weak model: the point is that the checks hold (what it gets wrong is marked
or replaced by the offline answer), not its figures.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from assistant.cli import main as cli  # noqa: E402
from tests.llm_server import MODEL_NAME, LlamaServer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dev", type=Path, default=REPO.parent / "shared" / "eval" / "dev.jsonl")
    ap.add_argument("--every", type=int, default=1, help="only every N-th question")
    ap.add_argument("--limit", type=int, help="only the first N questions")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=120)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    dev = args.dev
    if args.every > 1:
        lines = [ln for ln in dev.read_text(encoding="utf-8").splitlines() if ln.strip()]
        dev = Path(tempfile.mkdtemp(prefix="eval-llm-")) / dev.name
        dev.write_text("\n".join(lines[:: args.every]) + "\n", encoding="utf-8")
    with LlamaServer(threads=args.threads) as server:
        os.environ["OPENAI_BASE_URL"] = server.base_url
        os.environ["ASSISTANT_MAX_TOKENS"] = str(args.max_tokens)
        os.environ["ASSISTANT_TIMEOUT"] = "600"
        argv = ["eval", str(dev), "--answerer", "openai", "--model", MODEL_NAME]
        if args.limit:
            argv += ["--limit", str(args.limit)]
        if args.json:
            argv.append("--json")
        return cli(argv)


if __name__ == "__main__":
    raise SystemExit(main())
