"""Word error rate for checking transcripts (shared by the speech tests): the benchmark's own scoring."""

from __future__ import annotations

from assistant.bench.speech_score import word_error_rate, word_errors, words, written_errors

__all__ = ["word_error_rate", "word_errors", "words", "written_errors"]
