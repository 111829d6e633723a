"""Word error rate for checking transcripts (shared by the speech tests)."""

from __future__ import annotations

import re


def words(text: str) -> list[str]:
    """Lower-case words without punctuation, so "Paris." and "paris" compare equal."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()


def word_errors(reference: str, hypothesis: str) -> int:
    """Levenshtein distance over words: substitutions + insertions + deletions."""
    ref, hyp = words(reference), words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, ref_word in enumerate(ref, 1):
        diagonal, row[0] = row[0], i
        for j, hyp_word in enumerate(hyp, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (ref_word != hyp_word))
    return row[-1]


def word_error_rate(reference: str, hypothesis: str) -> float:
    return word_errors(reference, hypothesis) / len(words(reference))
