"""Names and terms from the conversation, so the speech model spells them as the chat already does.

Whisper mishears what it has rarely seen: people's and places' names, product names, code identifiers,
acronyms ("Okafor" → "a copper", "PySide" → "pie side"). Given as `hotwords` (faster-whisper puts them
before the decoder's prompt as "previous text"), the same words become far more likely when they are
said. Only words that look like names or terms are taken, so common words are not pushed on the model:
- a capitalised word that does not start a sentence ("Dr. Okafor", "in Reykjavik");
- a word with a capital inside or a digit ("PySide6", "iPhone", "GPT4"), or an identifier ("read_csv");
- an acronym of 2-6 capitals ("NASA", "HTTP").
The newest messages count first; the list is capped (a long prompt costs decoding time, and Whisper
gives a prompt less weight the longer it is).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_TERMS = 24
MAX_CHARS = 200
_TOKEN = re.compile(r"[A-Za-z][\w'.-]*[\w]|[A-Za-z]")
_SENTENCE_END = re.compile(r"[.!?:]\s*$")
_TITLES = ("Dr", "Mr", "Mrs", "Ms", "Prof", "St")  # "Dr. Okafor": the dot ends no sentence
# Capitalised words that are not names: they start questions and sentences after quotes or lists.
_COMMON = frozenset({
    "i", "i'm", "i've", "i'll", "i'd", "a", "an", "the", "and", "or", "but", "if", "so", "then", "what",
    "when", "where", "who", "whom", "whose", "why", "how", "which", "is", "are", "was", "were", "do",
    "does", "did", "can", "could", "would", "should", "will", "shall", "may", "might", "must", "please",
    "thanks", "thank", "yes", "no", "ok", "okay", "hi", "hello", "hey", "dear", "this", "that", "these",
    "those", "there", "here", "it", "its", "my", "your", "our", "their", "his", "her", "we", "you", "they",
    "he", "she", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "january",
    "february", "march", "april", "june", "july", "august", "september", "october", "november",
    "december", "english", "dr", "mr", "mrs", "ms", "prof", "st",
})


def conversation_terms(texts: Iterable[str], limit: int = MAX_TERMS) -> tuple[str, ...]:
    """Terms from `texts`, newest text last (as a conversation is stored); the newest terms come first."""
    found: list[str] = []
    seen: set[str] = set()
    for text in reversed(list(texts)):
        for term in _terms_in(text):
            key = term.lower()
            if key not in seen:
                seen.add(key)
                found.append(term)
    kept: list[str] = []
    size = 0
    for term in found[:limit]:
        size += len(term) + 1
        if size > MAX_CHARS:
            break
        kept.append(term)
    return tuple(kept)


def _terms_in(text: str) -> list[str]:
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        word = match.group().strip(".-'")
        if not word or word.lower() in _COMMON:
            continue
        before = text[: match.start()]
        ends = _SENTENCE_END.search(before)
        title = ends is not None and before[: ends.start()].split()[-1:] in ([t] for t in _TITLES)
        starts_sentence = not before.strip() or (ends is not None and not title) or before.endswith("\n")
        if _is_term(word, starts_sentence):
            out.append(word)
    return out


def _is_term(word: str, starts_sentence: bool) -> bool:
    if len(word) < 2:
        return False
    if "_" in word or any(c.isdigit() for c in word):
        return any(c.isalpha() for c in word)
    if word.isupper():
        return len(word) <= 6
    if any(c.isupper() for c in word[1:]):  # PySide, iPhone, McDonald
        return True
    return word[0].isupper() and not starts_sentence
