"""`assistant eval --format pdf|docx|html`: the dev questions asked through rendered files.

Every document of the question file that has a rendered file in the format (maps `pdf.json`
and `docx-html.json` beside the question file, files in `pdf/`, `docx/`, `html/`) is read
with the reader of its format (the code path of `assistant ingest`) and indexed under its
`doc_id`; the questions about those documents are asked and scored, and the plain-text
figures on the SAME questions are measured beside them.

A rendered file's text is not the plain text (hyphenation joined, quotes folded to ASCII), so
a returned sentence matches a gold sentence when it comes from the same document and, both
ASCII-folded, lower-cased and reduced to letters and digits, a common run covers at least half
of the shorter one (shared/eval/README.md). For PDF, each matched citation is also checked for
its page: the page where the gold sentence starts, found in pdfium's per-page text."""

from __future__ import annotations

import dataclasses
import json
import re
import unicodedata
from difflib import SequenceMatcher
from pathlib import Path

from assistant.errors import InputError
from assistant.evaluate import EvalItem, Progress

FORMATS = ("pdf", "docx", "html")
_MAPS = {"pdf": "pdf.json", "docx": "docx-html.json", "html": "docx-html.json"}
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")


def fold(text: str) -> str:
    """ASCII-folded, lower case, letters and digits only."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _NOT_ALNUM.sub("", ascii_text.lower())


def folded_match(a: str, b: str) -> bool:
    """A common run of two folded strings covers at least half of the shorter one."""
    if not a or not b:
        return False
    run = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
    return run.size >= 0.5 * min(len(a), len(b))


class FoldedMatcher:
    """Same document, and the folded texts share a run of half of the shorter one."""

    def __init__(self) -> None:
        self._folded: dict[str, str] = {}

    def _fold(self, sentence) -> str:
        got = self._folded.get(sentence.id)
        if got is None:
            got = self._folded[sentence.id] = fold(sentence.text)
        return got

    def golds(self, item: EvalItem) -> list:
        return [fold(g) for g in item.gold_sentences]

    def matches(self, sentence, item: EvalItem, golds: list) -> bool:
        if sentence.path != item.doc_id:
            return False
        text = self._fold(sentence)
        return any(folded_match(text, g) for g in golds)


def rendered_files(question_file: Path, fmt: str, folder: Path | None = None) -> dict[str, Path]:
    """doc_id -> rendered file of that format, for the documents that have one."""
    base = question_file.parent
    map_path = base / _MAPS[fmt]
    folder = folder or base / fmt
    try:
        mapping = json.loads(map_path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{map_path}: cannot read the map of rendered files "
                         f"({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{map_path}: not JSON ({exc})") from None
    out: dict[str, Path] = {}
    for doc_id, name in mapping.items():
        path = folder / (name if fmt == "pdf" else f"{name}.{fmt}")
        if path.is_file():
            out[str(doc_id)] = path
    if not out:
        raise InputError(f"{folder}: no rendered .{fmt} files named in {map_path.name}")
    return out


def index_rendered(assistant, files: dict[str, Path], max_bytes: int,
                   progress: Progress | None = None):
    """Read every rendered file with its format's reader and index it under its doc_id."""
    from assistant.documents import read_document

    docs = []
    for doc_id, path in sorted(files.items()):
        try:
            doc = read_document(path, max_bytes)
        except InputError as exc:
            raise InputError(f"{path}: {exc}") from None
        docs.append(dataclasses.replace(doc, path=doc_id))
    with assistant.index.writing():
        return assistant.ingestor().ingest_documents(docs, progress=progress)


def gold_pages(path: Path, golds: list[str]) -> list[int | None]:
    """The page (1-based) where each folded gold sentence starts in the PDF's per-page text."""
    from assistant.readers.pdf import page_texts

    folded = [fold(t) for t in page_texts(path.read_bytes())]
    whole = "".join(folded)
    ends, total = [], 0
    for t in folded:
        total += len(t)
        ends.append(total)
    out: list[int | None] = []
    for g in golds:
        at = whole.find(g)
        if at < 0:  # located by its longest common run, shifted back to its start
            run = SequenceMatcher(None, whole, g, autojunk=False).find_longest_match(
                0, len(whole), 0, len(g))
            at = run.a - run.b if run.size >= 0.5 * len(g) else -1
        out.append(None if at < 0 else next(i + 1 for i, e in enumerate(ends) if max(at, 0) < e))
    return out


class PageCheck:
    """Counts matched PDF citations whose page is the page where their gold sentence starts."""

    def __init__(self, files: dict[str, Path], matcher: FoldedMatcher) -> None:
        self.files = files
        self.matcher = matcher
        self.matched = 0
        self.right = 0
        self.wrong: list[dict] = []
        self._pages: dict[str, list[int | None]] = {}

    def __call__(self, item: EvalItem, answer) -> None:
        golds = self.matcher.golds(item)
        if item.id not in self._pages:
            self._pages[item.id] = gold_pages(self.files[item.doc_id], golds)
        pages = self._pages[item.id]
        for c in answer.citations:
            hit = [p for g, p in zip(golds, pages, strict=True)
                   if self.matcher.matches(c.sentence, item, [g])]
            if not hit:
                continue
            self.matched += 1
            if c.sentence.page in hit:
                self.right += 1
            elif len(self.wrong) < 20:
                self.wrong.append({"id": item.id, "page": c.sentence.page, "gold_pages": hit,
                                   "text": c.sentence.text[:80]})

    def summary(self) -> dict:
        share = self.right / self.matched if self.matched else 0.0
        return {"matched_citations": self.matched, "page_right": self.right,
                "page_right_rate": round(share, 4), "wrong": self.wrong}


def format_comparison(report: dict) -> str:
    """Plain text and the format side by side, overall and per source."""
    fmt = report["format"]
    head = (f"{'source':<10} {'n':>5} {'P@1 text':>9} {'P@1 ' + fmt:>9} {'delta':>7} "
            f"{'R@5 text':>9} {'R@5 ' + fmt:>9} {'MRR text':>9} {'MRR ' + fmt:>9}")
    lines = [head, "-" * len(head)]
    text, other = report["text"], report[fmt]
    rows = [("overall", text["overall"], other["overall"])]
    rows += [(k, text["by_source"][k], other["by_source"][k]) for k in other["by_source"]]
    for name, a, b in rows:
        lines.append(
            f"{name:<10} {b['n']:>5} {a['p_at_1']:>9.3f} {b['p_at_1']:>9.3f} "
            f"{b['p_at_1'] - a['p_at_1']:>+7.3f} {a['r_at_5']:>9.3f} {b['r_at_5']:>9.3f} "
            f"{a['mrr']:>9.3f} {b['mrr']:>9.3f}")
    if "pages" in report:
        p = report["pages"]
        lines.append(f"\npage right: {p['page_right']} of {p['matched_citations']} matched "
                     f"citations ({p['page_right_rate']:.3f})")
    return "\n".join(lines)
