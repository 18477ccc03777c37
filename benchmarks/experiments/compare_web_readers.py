"""How the DOCX and HTML readers were chosen: fidelity and speed of each candidate on the
pandoc-rendered eval documents (../shared/eval/docx, ../shared/eval/html).

    pip install selectolax python-docx   # the candidates not shipped (both MIT)
    python benchmarks/experiments/compare_web_readers.py

Fidelity: of the dev questions whose document was rendered in the format, the fraction of gold
sentences found whole in the extracted text (both normalised as the eval README says:
ASCII-folded, lower case, letters and digits only), and the fraction of documents whose whole
plain text is found. Speed: documents per second, parsing only, best of 3. trafilatura was not
measured: its tree (courlan -> tld, MPL/GPL/LGPL) is outside the licences we accept.
"""

from __future__ import annotations

import io
import json
import re
import sys
import time
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
EVAL = REPO.parent / "shared" / "eval"


def norm(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", text.lower())


def ours(data: bytes, fmt: str) -> str:
    from assistant import readers

    return readers.read(data, fmt).text


def python_docx(data: bytes, fmt: str) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    return "\n\n".join(p.text for p in document.paragraphs)


def selectolax(data: bytes, fmt: str) -> str:
    from selectolax.lexbor import LexborHTMLParser

    tree = LexborHTMLParser(data)
    for node in tree.css("script, style, nav, header, footer, noscript"):
        node.decompose()
    return tree.body.text(separator="\n") if tree.body else ""


CANDIDATES = {"docx": {"stdlib (ours)": ours, "python-docx": python_docx},
              "html": {"stdlib html.parser (ours)": ours, "selectolax": selectolax}}


def main() -> None:
    mapping = json.loads((EVAL / "docx-html.json").read_text())
    rows = [json.loads(line) for line in (EVAL / "dev.jsonl").open()]
    docs = {r["doc_id"]: r["document"] for r in rows}
    for fmt, candidates in CANDIDATES.items():
        files = {d: EVAL / fmt / f"{name}.{fmt}" for d, name in mapping.items()
                 if (EVAL / fmt / f"{name}.{fmt}").exists()}
        datas = {d: f.read_bytes() for d, f in files.items()}
        for label, fn in candidates.items():
            try:
                texts = {d: norm(fn(b, fmt)) for d, b in datas.items()}
            except ImportError as exc:
                print(f"{fmt:5} {label:28} not installed ({exc.name})")
                continue
            golds = [(r["doc_id"], g) for r in rows if r["doc_id"] in texts
                     for g in r["gold_sentences"]]
            found = sum(norm(g) in texts[d] for d, g in golds) / len(golds)
            whole = sum(norm(docs[d]) in texts[d] for d in texts) / len(texts)
            best = float("inf")
            for _ in range(3):
                t0 = time.perf_counter()
                for b in datas.values():
                    fn(b, fmt)
                best = min(best, time.perf_counter() - t0)
            print(f"{fmt:5} {label:28} gold sentences found {found:.3f}  whole documents "
                  f"{whole:.3f}  {len(datas) / best:7.0f} docs/s  ({len(datas)} files)")


if __name__ == "__main__":
    main()
