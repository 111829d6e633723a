"""What reading one file may cost (`Limits`) and what the parser found out while reading it (`Reading`).

Shared by the parsers and `reading.read_blocks`, which picks them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from assistant.documents.formats import Kind

# Reads the text in a rendered page (an RGB PIL image): the engine's OCR (`protocols.TextReader.read`
# returns ReadText; only its `.text` is used). None: scanned pages are skipped with a note.
PageReader = Callable[[Any], str]


@dataclass(frozen=True)
class Limits:
    """What one file may cost. Past a limit the file is cut, with a note, never refused whole."""

    max_chars: int = 8_000_000  # text kept per file (~8,000 passages)
    max_pages: int = 20_000  # PDF pages read
    max_ocr_pages: int = 100  # scanned PDF pages sent to OCR (about a second each)
    max_seconds: float = 300.0  # reading stops between pages/blocks past this
    max_docx_bytes: int = 256 << 20  # uncompressed size of all parts of a DOCX
    max_docx_part: int = 64 << 20  # uncompressed size of one XML part
    max_markup_bytes: int = 32 << 20  # Markdown and HTML are parsed whole: larger ones are cut


@dataclass
class Reading:
    """What a parser found out while reading (filled in as blocks are yielded)."""

    kind: Kind
    pages: int = 0
    chars: int = 0
    ocr_pages: int = 0
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)
