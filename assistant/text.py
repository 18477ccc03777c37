"""Words of a text as the full-text index sees them: tokens, stop words, stems, content terms.

The catalog's FTS5 table tokenizes with `porter unicode61`: unicode61 splits on anything that
is not a letter or a digit, folds case and removes diacritics, and the porter tokenizer stems
each token of 3 to 64 bytes with the original Porter algorithm (M. F. Porter, "An algorithm
for suffix stripping", 1980, with the "-logi" and "-bli" rules of his own later code). `stem`
here is that algorithm as SQLite implements it (`fts5_tokenize.c`), so a term's document
frequency (`Catalog.term_counts`, read from the index itself) and the retriever's overlap
features count the same words; tests/test_text.py checks the stems against what FTS5 stores.
"""

from __future__ import annotations

import functools
import re
import unicodedata

TOKEN = re.compile(r"(?:[^\W_]|[\u0300-\u036f])+")
"""A token as unicode61 cuts one: letters, digits and combining diacritics (an underscore
separates)."""

STOP_WORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing done down during each few for from further
had has have having he her here hers herself him himself his how i if in into is it its itself
just me more most my myself no nor not now of off on once one only or other our ours out over own
same she should so some such than that the their theirs them themselves then there these they
this those through to too under until up upon very was we were what when where which while who
whom whose why will with would yes you your yours shall may might must many much s
""".split())
"""English function words: they say little about what a sentence is about. Left out of the
lexical query (they match nearly every sentence, which makes BM25 slow on a big index), of the
retriever's overlap features and of the verifier's word coverage."""

ANSWER_WORDS = frozenset("""
according answer document documents evidence mention mentioned mentions said say says sentence
source sources state stated states text
""".split())
"""Words an answer uses to speak of its sources ("according to the document"): the verifier
leaves them out of a claim's content words too."""

_VOWELS = frozenset("aeiou")


def fold(token: str) -> str:
    """Lower case, and Latin letters without their diacritics, as unicode61 folds a token
    ("Café" -> "cafe"; "½" and Arabic letters stay as they are)."""
    low = token.lower()
    return low if low.isascii() else "".join(_fold_char(c) for c in low)


@functools.lru_cache(maxsize=4096)
def _fold_char(c: str) -> str:
    if unicodedata.combining(c):
        return ""
    base = unicodedata.normalize("NFD", c)
    return base[0] if len(base) > 1 and ord(base[0]) < 0x250 else c


def tokens(text: str) -> list[str]:
    """The folded tokens of `text`, in order."""
    return [fold(t) for t in TOKEN.findall(text)]


# -- the Porter stemmer, as SQLite's fts5 porter tokenizer runs it ------------------------------

def _vowel(c: str, y_is_vowel: bool) -> bool:
    return c in _VOWELS or (y_is_vowel and c == "y")


def _vc(stem: str, previous_consonant: bool = False) -> int:
    """Length of the stem's first vowels-then-consonant run (0 when it has none): one "VC" of
    Porter's measure. A "y" after a consonant is a vowel."""
    cons = previous_consonant
    i, n = 0, len(stem)
    while i < n:
        cons = not _vowel(stem[i], cons)
        if not cons:
            break
        i += 1
    i += 1
    while i < n:
        cons = not _vowel(stem[i], cons)
        if cons:
            return i + 1
        i += 1
    return 0


def _m_gt0(stem: str) -> bool:
    return _vc(stem) > 0


def _m_gt1(stem: str) -> bool:
    n = _vc(stem)
    return n > 0 and _vc(stem[n:], True) > 0


def _m_eq1(stem: str) -> bool:
    n = _vc(stem)
    return n > 0 and _vc(stem[n:], True) == 0


def _cvc(stem: str) -> bool:
    """*o: the stem ends consonant-vowel-consonant, the last not w, x or y."""
    if not stem or stem[-1] in "wxy":
        return False
    kinds, cons = [], False
    for c in stem:
        cons = not _vowel(c, cons)
        kinds.append(cons)
    return kinds[-3:] == [True, False, True]


def _has_vowel(stem: str) -> bool:
    """*v*: SQLite counts a "y" as a vowel anywhere but first."""
    return any(_vowel(c, i > 0) for i, c in enumerate(stem))


def _s_or_t_m_gt1(stem: str) -> bool:
    return stem[-1:] in ("s", "t") and _m_gt1(stem)


# (suffix, condition on the stem, replacement), grouped by the suffix's second-last letter as
# SQLite dispatches them: within a group the first suffix that matches is the only one tried.
_STEP2 = {
    "a": (("ational", _m_gt0, "ate"), ("tional", _m_gt0, "tion")),
    "c": (("enci", _m_gt0, "ence"), ("anci", _m_gt0, "ance")),
    "e": (("izer", _m_gt0, "ize"),),
    "g": (("logi", _m_gt0, "log"),),
    "l": (("bli", _m_gt0, "ble"), ("alli", _m_gt0, "al"), ("entli", _m_gt0, "ent"),
          ("eli", _m_gt0, "e"), ("ousli", _m_gt0, "ous")),
    "o": (("ization", _m_gt0, "ize"), ("ation", _m_gt0, "ate"), ("ator", _m_gt0, "ate")),
    "s": (("alism", _m_gt0, "al"), ("iveness", _m_gt0, "ive"), ("fulness", _m_gt0, "ful"),
          ("ousness", _m_gt0, "ous")),
    "t": (("aliti", _m_gt0, "al"), ("iviti", _m_gt0, "ive"), ("biliti", _m_gt0, "ble")),
}
_STEP3 = {
    "a": (("ical", _m_gt0, "ic"),),
    "s": (("ness", _m_gt0, ""),),
    "t": (("icate", _m_gt0, "ic"), ("iciti", _m_gt0, "ic")),
    "u": (("ful", _m_gt0, ""),),
    "v": (("ative", _m_gt0, ""),),
    "z": (("alize", _m_gt0, "al"),),
}
_STEP4 = {
    "a": (("al", _m_gt1, ""),),
    "c": (("ance", _m_gt1, ""), ("ence", _m_gt1, "")),
    "e": (("er", _m_gt1, ""),),
    "i": (("ic", _m_gt1, ""),),
    "l": (("able", _m_gt1, ""), ("ible", _m_gt1, "")),
    "n": (("ant", _m_gt1, ""), ("ement", _m_gt1, ""), ("ment", _m_gt1, ""),
          ("ent", _m_gt1, "")),
    "o": (("ion", _s_or_t_m_gt1, ""), ("ou", _m_gt1, "")),
    "s": (("ism", _m_gt1, ""),),
    "t": (("ate", _m_gt1, ""), ("iti", _m_gt1, "")),
    "u": (("ous", _m_gt1, ""),),
    "v": (("ive", _m_gt1, ""),),
    "z": (("ize", _m_gt1, ""),),
}


def _apply(word: str, rules: dict) -> tuple[str, bool]:
    """The word after the first rule of its group whose suffix it ends with (when that rule's
    condition holds), and whether the suffix matched."""
    for suffix, condition, replacement in rules.get(word[-2:-1], ()):
        if len(word) > len(suffix) and word.endswith(suffix):
            stem = word[: -len(suffix)]
            return (stem + replacement if condition(stem) else word), True
    return word, False


def _step1b(word: str) -> tuple[str, bool]:
    """-eed, -ed, -ing; True when -ed or -ing was removed (then step 1b's tidying runs)."""
    if word[-2:-1] == "e":
        if len(word) > 3 and word.endswith("eed"):
            return (word[:-1] if _m_gt0(word[:-3]) else word), False
        if word.endswith("ed") and _has_vowel(word[:-2]):
            return word[:-2], True
    elif word[-2:-1] == "n" and len(word) > 3 and word.endswith("ing") \
            and _has_vowel(word[:-3]):
        return word[:-3], True
    return word, False


def _porter(w: str) -> str:
    # step 1a: plurals
    if w.endswith("s"):
        if w.endswith("es") and ((len(w) > 4 and w.endswith("sses"))
                                 or (len(w) > 3 and w.endswith("ies"))):
            w = w[:-2]
        elif w.endswith("es") or not w.endswith("ss"):
            w = w[:-1]
    # step 1b: -ed, -ing
    w, removed = _step1b(w)
    if removed and len(w) >= 2:
        if w[-2:] in ("at", "bl", "iz") and len(w) > 2:
            w += "e"
        elif not _vowel(w[-1], False) and w[-1] not in "lsz" and w[-1] == w[-2]:
            w = w[:-1]
        elif _m_eq1(w) and _cvc(w):
            w += "e"
    # step 1c: y -> i after a vowel
    if w.endswith("y") and _has_vowel(w[:-1]):
        w = w[:-1] + "i"
    # steps 2 to 4: derivational suffixes
    for rules in (_STEP2, _STEP3, _STEP4):
        w, _ = _apply(w, rules)
    # step 5: a final -e, a double l
    if w.endswith("e") and (_m_gt1(w[:-1]) or (_m_eq1(w[:-1]) and not _cvc(w[:-1]))):
        w = w[:-1]
    if len(w) > 1 and w.endswith("ll") and _m_gt1(w[:-1]):
        w = w[:-1]
    return w


@functools.lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """The term FTS5's porter tokenizer stores for `token` (one unicode61 token): folded, then
    Porter-stemmed when it is 3 to 64 bytes long in UTF-8 (shorter and longer pass as they are).
    """
    w = fold(token)
    if w.isascii():
        return _porter(w) if 3 <= len(w) <= 64 else w
    # SQLite stems the UTF-8 bytes: each byte of a non-ASCII letter counts as a consonant
    raw = w.encode("utf-8")
    if not 3 <= len(raw) <= 64:
        return w
    return _porter(raw.decode("latin-1")).encode("latin-1").decode("utf-8", "replace")


def content_terms(text: str) -> set[str]:
    """The stems of `text`'s tokens that are not stop words."""
    return {stem(t) for t in tokens(text) if t not in STOP_WORDS}


def content_words(text: str) -> list[str]:
    """`text`'s tokens that are not stop words, unstemmed, in order (a lexical query: FTS5
    stems them itself); all of its tokens when every one is a stop word."""
    words = tokens(text)
    return [w for w in words if w not in STOP_WORDS] or words


def lexical_query(text: str) -> str:
    """`text`'s content words for a BM25 query (see `content_words`)."""
    return " ".join(content_words(text))
