"""The domain types' one home (assistant.types): one serialisation each, and a package without
import cycles."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from assistant.types import (
    Answer,
    AnswerSentence,
    Citation,
    CiteMatch,
    Sentence,
)

PACKAGE = Path(__file__).resolve().parent.parent / "assistant"

PDF_SENTENCE = Sentence(id="d:h:3", doc_id="d", path="/docs/a.pdf", index=3, char_start=10,
                        char_end=42, line=7, text="Prices rose in May.", doc_hash="h",
                        title="A", page=2, page_end=3, page_label="ii", section="Results")
TEXT_SENTENCE = Sentence(id="e:g:0", doc_id="e", path="notes.txt", index=0, char_start=0,
                         char_end=5, line=1, text="Hello", doc_hash="g")


def _json(d: dict) -> dict:
    return json.loads(json.dumps(d))


def test_each_type_round_trips_through_its_dict():
    for s in (PDF_SENTENCE, TEXT_SENTENCE):
        assert Sentence.from_dict(_json(s.to_dict())) == s
    c = Citation(2, PDF_SENTENCE, 0.8125, stale=True, stale_reason="changed")
    assert Citation.from_dict(_json(c.to_dict())) == c
    m = CiteMatch(TEXT_SENTENCE, 0.5, exact=True)
    assert CiteMatch.from_dict(_json(m.to_dict())) == m
    a = Answer("q", "Prices rose in May. [2]", True, [c], "offline",
               sentences=[AnswerSentence("Prices rose in May.", [2], 0.9, True, True)],
               nearest=[Citation(1, TEXT_SENTENCE, 0.25)], timings={"total_ms": 12.5},
               notes=["n"], partial=True)
    assert Answer.from_dict(_json(a.to_dict())) == a


def test_answer_sentences_saved_before_the_off_question_check_still_load():
    """Stored conversations and `ask --json` output from before `addresses` existed."""
    from assistant.conversations import citation_verdict

    old = {"text": "Prices rose in May.", "citations": [2], "support": 0.9, "supported": True}
    s = AnswerSentence.from_dict(old)
    assert s == AnswerSentence("Prices rose in May.", [2], 0.9, True) and s.addresses is None
    answer = Answer.from_dict({"question": "q", "answer": "Prices rose in May. [2]",
                               "found": True, "answerer": "openai", "sentences": [old],
                               "citations": [Citation(2, PDF_SENTENCE, 0.5).to_dict()]})
    assert citation_verdict(answer, 2) == "supported"  # not judged is not off-question
    off = AnswerSentence("Prices rose in May.", [2], 0.9, True, addresses=False)
    assert _json(off.to_dict())["addresses"] is False
    assert AnswerSentence.from_dict(_json(off.to_dict())) == off


def test_a_citation_is_its_sentence_dict_plus_number_score_and_freshness():
    d = Citation(1, PDF_SENTENCE, 0.5).to_dict()
    assert d == {"n": 1, **PDF_SENTENCE.to_dict(), "score": 0.5, "stale": False,
                 "stale_reason": None}
    assert set(PDF_SENTENCE.to_dict()) == set(Sentence.__dataclass_fields__)


def test_the_types_are_defined_once():
    """No other module of the package defines a class of the same name as a domain type."""
    names = {"Document", "FileState", "Page", "Section", "Sentence", "Hit", "Citation",
             "CiteMatch", "AnswerSentence", "Answer", "Turn"}
    for path in PACKAGE.rglob("*.py"):
        if path.name == "types.py" and path.parent == PACKAGE:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
        assert not defined & names, f"{path.relative_to(PACKAGE.parent)}: {defined & names}"


def _imports(path: Path, module: str) -> set[str]:
    """The package modules `module` imports anywhere (function-level imports included)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            base = node.module
            if node.level:  # relative import
                base = ".".join(module.split(".")[: -node.level] + ([base] if base else []))
            out |= {base} | {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return {m for m in out if m.startswith("assistant")}


def test_the_package_has_no_import_cycles():
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {m: {t for t in _imports(p, m) if t in modules and t != m
                 and not m.startswith(t + ".")}  # a submodule naming its own package
             for m, p in modules.items()}
    cycles = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for t in sorted(graph[m]):
            if state.get(t) == 1:
                cycles.append(path[path.index(t):] + [t])
            elif t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, " ; ".join(" -> ".join(c) for c in cycles)


def test_naming_an_answer_type_does_not_load_the_retriever():
    code = ("import sys, assistant.answer, assistant.conversations; "
            "print(sorted(m for m in ('numpy', 'assistant.retrieve', 'assistant.store') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=PACKAGE.parent)
    assert out.stdout.strip() == "[]"
