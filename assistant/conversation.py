"""Follow-up questions: rewritten into a standalone question before retrieval, and "explain [2]"
resolved to the sentence cited as [2] in an earlier answer.

Offline the rewrite is a heuristic (pronouns replaced by the name the conversation is about, the
earlier question added as context); with an LLM the model rewrites it, and its rewrite is kept
only when it looks like a question about the same thing."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from assistant.errors import AssistantError, InputError
from assistant.types import Sentence, Turn

_REFERENCE = re.compile(r"\[\s*[Ss]?(\d{1,3})\s*\]")
_EXPLAIN = re.compile(r"^\s*(?:please\s+)?(?:explain|expand on|elaborate on|tell me more about|"
                      r"more on|more about|what does|what is|what's|why|source of|context for)?"
                      r"\s*(?:sentence|source|citation)?\s*\[\s*[Ss]?(\d{1,3})\s*\]"
                      r"\s*(?:mean|say)?\s*[?.!]?\s*$", re.I)
_PRONOUNS = re.compile(r"\b(he|she|they|him|her|them|his|hers|their|theirs|it|its|this|that|"
                       r"these|those|there|then)\b", re.I)
_PERSON_PRONOUNS = re.compile(r"\b(he|she|him|her)\b", re.I)
_LEAD = re.compile(r"^\s*(?:and|but|so|also|ok(?:ay)?|then|what about|how about)\b[\s,]*", re.I)
_NAME = re.compile(r"\b([A-Z][\w'’\-]+(?:\s+(?:[A-Z][\w'’\-]+|of|de|von|van|al|bin))*)")
_QUESTION_WORDS = {"What", "Who", "Whom", "Which", "When", "Where", "Why", "How", "Is", "Are",
                   "Was", "Were", "Did", "Does", "Do", "Can", "Could", "Should", "Would", "Will",
                   "The", "A", "An", "And", "But", "So", "In", "On", "I", "According"}


@dataclass
class Resolved:
    """The question to retrieve and answer with, and what it came from."""

    question: str
    original: str
    rewritten: bool = False
    sentence: Sentence | None = None

    @property
    def note(self) -> str | None:
        if self.sentence is not None:
            return f"\"{self.original.strip()}\" refers to: {self.sentence.text}"
        if self.rewritten:
            return f"follow-up understood as: {self.question}"
        return None


def find_reference(question: str, history: list[Turn] | None) -> Sentence | None:
    """For "explain [2]" (and the like): the sentence cited as [2] in the latest answer that
    cited a [2]. None when the question is not such a reference; InputError when no answer did."""
    m = _EXPLAIN.match(question)
    if not m:
        return None
    n = int(m.group(1))
    for turn in reversed(history or []):
        for c in getattr(turn, "citations", None) or []:
            if c.n == n:
                return c.sentence
    raise InputError(f"no earlier answer cites [{n}]: ask about a number shown under Sources")


def is_follow_up(question: str, history: list[Turn] | None) -> bool:
    """Whether the question leans on the conversation ("and what did he call it?")."""
    if not history:
        return False
    words = re.findall(r"\w+", question)
    return bool(_LEAD.match(question) or _PRONOUNS.search(question) or len(words) <= 3)


def _subject(turn: Turn) -> str | None:
    """The name a turn is about: the first multi-word name in its question, else its answer."""
    for text in (turn.question, turn.answer):
        names = [n for n in _NAME.findall(text) if n.split()[0] not in _QUESTION_WORDS]
        names += [" ".join(n.split()[1:]) for n in _NAME.findall(text)
                  if n.split()[0] in _QUESTION_WORDS and len(n.split()) > 1]
        names = [n for n in names if n]
        if names:
            names.sort(key=lambda n: -len(n.split()))
            return names[0]
    return None


def heuristic_rewrite(question: str, history: list[Turn]) -> str:
    """Offline rewrite: drop the leading "and"/"what about", put the conversation's subject in
    place of he/she, and add the earlier question as context when something is still open."""
    last = history[-1]
    previous = (getattr(last, "standalone", "") or last.question).strip()
    body = _LEAD.sub("", question).strip() or question.strip()
    subject = _subject(last)
    count = 0
    if subject:
        body, count = _PERSON_PRONOUNS.subn(subject, body, count=1)
    body = body[0].upper() + body[1:] if body else body
    if count and not _PRONOUNS.search(body):
        return body  # the subject named, nothing left unresolved
    return f"{body} (follow-up to: {previous})"


def _plausible(rewrite: str, question: str) -> bool:
    rewrite = rewrite.strip()
    if not rewrite or "\n" in rewrite or len(rewrite) > 300:
        return False
    words = {w.lower() for w in re.findall(r"[A-Za-z]{4,}", question)}
    got = {w.lower() for w in re.findall(r"[A-Za-z]{4,}", rewrite)}
    if words and not words & got:
        return False  # about something else
    # a question that leaned on the conversation must have gained something from it
    return not _PRONOUNS.search(question) or bool(got - words)


def resolve(question: str, history: list[Turn] | None,
            llm_rewrite: Callable[[str], str] | None = None) -> Resolved:
    """The standalone question for `question` asked after `history`."""
    sentence = find_reference(question, history)
    if sentence is not None:
        return Resolved(f"Explain: \"{sentence.text}\"", question, True, sentence)
    if not is_follow_up(question, history):
        return Resolved(question, question)
    assert history
    if llm_rewrite is not None:
        from assistant.prompting import render

        lines = []
        for turn in history[-3:]:
            said = re.sub(r"\s+", " ", turn.answer)[:400]
            lines.append(f"User: {turn.question}")
            lines.append(f"Assistant: {said}")
        try:
            out = llm_rewrite(render("rewrite", history="\n".join(lines), question=question))
        except AssistantError:  # the rewrite is a nicety: on failure, the heuristic
            out = ""
        lines = out.strip().strip('"').splitlines()  # a reply of '""' has no lines
        out = lines[0].strip() if lines else ""
        if _plausible(out, question):
            return Resolved(out, question, True)
    return Resolved(heuristic_rewrite(question, history), question, True)
