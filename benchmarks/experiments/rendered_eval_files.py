"""Question files for `assistant eval` through the rendered DOCX/HTML documents.

    python benchmarks/experiments/rendered_eval_files.py OUTDIR
    assistant eval OUTDIR/docx.jsonl  ;  assistant eval OUTDIR/plain-docx.jsonl   # and html

For each format, the dev questions whose document was rendered in it (../shared/eval/docx-html
.json): `<fmt>.jsonl` has each document replaced by what our reader reads from its file, and
each gold sentence by the span of that text it was rendered as (found after normalising both
as the eval README says: ASCII-folded, lower case, letters and digits only);
headings are blanked out, as the index leaves them out of its sentences;
`plain-<fmt>.jsonl` has the same questions over the plain text. Scoring both with the same
command compares the formats with plain text on the same questions and the same pool.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
EVAL = REPO.parent / "shared" / "eval"

from assistant import readers  # noqa: E402


def folded(text: str) -> tuple[str, list[int]]:
    """The normalised text, and for each of its characters the offset it came from."""
    out, where = [], []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKD", ch).encode("ascii", "ignore").decode().lower():
            if c.isalnum():
                out.append(c)
                where.append(i)
    return "".join(out), where


def main() -> None:
    outdir = Path(sys.argv[1])
    outdir.mkdir(parents=True, exist_ok=True)
    mapping = json.loads((EVAL / "docx-html.json").read_text())
    rows = [json.loads(line) for line in (EVAL / "dev.jsonl").open()]
    for fmt in ("docx", "html"):
        texts = {}
        for doc_id, name in mapping.items():
            path = EVAL / fmt / f"{name}.{fmt}"
            if path.exists():
                data = path.read_bytes()
                result = readers.read(data, readers.sniff(data, path.suffix))
                # The headings are not sentences in the index (sentences._body_spans; the eval
                # indexes bare text, without sections): blank them out, offsets kept.
                text = result.text
                for h in result.sections:
                    text = text[: h.start] + " " * len(h.title) + text[h.start + len(h.title):]
                texts[doc_id] = text
        plain, rendered, lost = [], [], 0
        for row in rows:
            if row["doc_id"] not in texts:
                continue
            text = texts[row["doc_id"]]
            norm, where = folded(text)
            golds = []
            for gold in row["gold_sentences"]:
                g = folded(gold)[0]
                at = norm.find(g)
                if at < 0 or not g:
                    lost += 1
                    continue
                golds.append(text[where[at] : where[at + len(g) - 1] + 1])
            plain.append(row)
            rendered.append({**row, "document": text, "gold_sentences": golds})
        for name, items in ((f"plain-{fmt}", plain), (fmt, rendered)):
            with (outdir / f"{name}.jsonl").open("w") as f:
                for item in items:
                    f.write(json.dumps(item, ensure_ascii=False) + "\n")
        print(f"{fmt}: {len(rendered)} questions over {len(texts)} documents; "
              f"{lost} gold sentences not found in the read text")


if __name__ == "__main__":
    main()
