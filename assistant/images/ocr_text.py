"""Tidy what the OCR model read, for text in Latin script, and one confidence for a whole read.

The bundled PP-OCRv4 recogniser is trained mostly on Chinese. On English screenshots it sometimes
writes full-width punctuation ("，" for ",") and reads a zero between digits as the letter o
("0x8007o005"). Both are fixed only where the fix cannot be wrong: full-width forms only in lines
without any CJK character, and o only between digits or after a 0x prefix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}  # ！..～ -> !..~
_FULL_WIDTH[0x3000] = 0x20  # ideographic space
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af]")
_O_BETWEEN_DIGITS = re.compile(r"(?<=\d)[oO]+(?=\d)")
_HEX_NUMBER = re.compile(r"(?<![0-9])0[xX][0-9a-fA-FoO]+(?![0-9A-Za-z])")


def tidy_line(text: str) -> str:
    if not _CJK.search(text):
        text = text.translate(_FULL_WIDTH)
    text = _O_BETWEEN_DIGITS.sub(lambda match: "0" * len(match.group()), text)
    text = _HEX_NUMBER.sub(lambda match: match.group()[:2] + re.sub("[oO]", "0", match.group()[2:]), text)
    return text.strip()


def read_confidence(scored: Iterable[tuple[str, float]]) -> float | None:
    """One confidence for a whole read: each line's recogniser confidence weighted by its length in
    characters (a long line says more than a stray mark). None when nothing was read."""
    total = weighted = 0.0
    for text, confidence in scored:
        characters = len(text.strip())
        total += characters
        weighted += characters * confidence
    return round(weighted / total, 4) if total else None
