"""Word error rate for transcripts: by words (what was heard) and as written (how numbers were written)."""

from __future__ import annotations

import re
from collections.abc import Sequence

_EDGE = ".,!?;:\"'()[]"


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, so "Paris." and "paris" compare equal."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()


def written_words(text: str) -> list[str]:
    """Like `words`, but a token with a digit keeps its inner signs: "7:30", "$12.50", "15%" stay whole."""
    out: list[str] = []
    for token in text.lower().split():
        token = token.strip(_EDGE)
        out.extend([token] if any(c.isdigit() for c in token) else words(token))
    return out


def edit_distance(reference: Sequence[str], hypothesis: Sequence[str]) -> int:
    """Levenshtein distance over tokens: substitutions + insertions + deletions."""
    row = list(range(len(hypothesis) + 1))
    for i, ref_word in enumerate(reference, 1):
        diagonal, row[0] = row[0], i
        for j, hyp_word in enumerate(hypothesis, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref_word != hyp_word))
    return row[-1]


def word_errors(reference: str, hypothesis: str) -> int:
    return edit_distance(words(reference), words(hypothesis))


def written_errors(reference: str, hypothesis: str) -> int:
    return edit_distance(written_words(reference), written_words(hypothesis))


def word_error_rate(reference: str, hypothesis: str) -> float:
    return word_errors(reference, hypothesis) / len(words(reference))
