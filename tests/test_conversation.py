"""Follow-ups rewritten from the history before retrieval; "explain [n]" resolved to the stored
sentence (offline answerer, real store and encoder)."""

from __future__ import annotations

import pytest

from assistant.conversation import heuristic_rewrite, is_follow_up, resolve
from assistant.errors import InputError
from assistant.types import Turn


def turn_of(answer, question: str) -> Turn:
    return Turn(question, answer.text, answer.citations)


def test_follow_up_detection():
    history = [Turn("What did Yoon Suk-yeol say about the deployment?", "It is a threat.")]
    assert is_follow_up("and what did he call it?", history)
    assert is_follow_up("Why?", history)
    assert not is_follow_up("How many soldiers did North Korea send to Russia?", history)
    assert not is_follow_up("and what did he call it?", [])


def test_heuristic_rewrite_names_the_subject_and_keeps_context():
    history = [Turn("What did Yoon Suk-yeol say about the deployment?", "It is a threat [1].")]
    out = heuristic_rewrite("and what did he call the collaboration?", history)
    assert out == "What did Yoon Suk-yeol call the collaboration?"
    out = heuristic_rewrite("and what did he call it?", history)
    assert out == ("What did Yoon Suk-yeol call it? "
                   "(follow-up to: What did Yoon Suk-yeol say about the deployment?)")


def test_llm_rewrite_is_used_only_when_plausible():
    history = [Turn("What did Yoon Suk-yeol say about the deployment?", "A threat [1].")]
    good = resolve("and what did he call it?", history,
                   lambda prompt: "What did Yoon Suk-yeol call the deployment?")
    assert good.question == "What did Yoon Suk-yeol call the deployment?" and good.rewritten
    bad = resolve("and what did he call the collaboration?", history,
                  lambda prompt: "Sure! Here is a poem.\nRoses are red")
    assert bad.question.startswith("What did Yoon Suk-yeol call the collaboration?")
    echoed = resolve("and what did he call the collaboration?", history,
                     lambda prompt: "What did he call the collaboration?")
    assert echoed.question == "What did Yoon Suk-yeol call the collaboration?"


def test_follow_up_is_rewritten_before_retrieval(seeded):
    first_q = "What did Yoon Suk-yeol think of the deployment?"
    first = seeded.ask(first_q)
    follow = seeded.ask("and what did he call the military collaboration?",
                        history=[turn_of(first, first_q)])
    assert follow.question == "What did Yoon Suk-yeol call the military collaboration?"
    assert any(n.startswith("follow-up understood as") for n in follow.notes)
    # retrieval ran on the rewritten question: the answer cites what that question finds
    top = seeded.retrieve(follow.question)[0]
    assert follow.citations[0].sentence.id == top.sentence.id


def test_explain_n_refers_to_the_stored_sentence(seeded):
    q = "How many North Korean soldiers were sent to Russia?"
    first = seeded.ask(q)
    assert first.citations
    cited = first.citations[0]
    again = seeded.ask(f"explain [{cited.n}]", history=[turn_of(first, q)])
    assert again.question == f'Explain: "{cited.sentence.text}"'
    assert any(cited.sentence.text in n for n in again.notes)
    assert cited.sentence.id in {c.sentence.id for c in again.citations}


def test_explain_an_unknown_number_says_so(seeded):
    with pytest.raises(InputError, match=r"no earlier answer cites \[7\]"):
        seeded.ask("explain [7]", history=[Turn("q", "a", [])])
