"""Reading one file into blocks: the parser for its kind, under limits that bound time and memory.

`read_blocks` is the one entry point (the indexer and a question's attached document both use it). It
yields `Block`s as the parser produces them and fills in a `Reading` (pages, notes, characters) as it
goes; a file that cannot be read raises `UnreadableDocument` with the reason in words.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

from assistant.documents.chunking import Block
from assistant.documents.errors import UnreadableDocument
from assistant.documents.formats import Kind
from assistant.documents.limits import Limits, PageReader, Reading


def read_blocks(path: Path, kind: Kind, reading: Reading, *, limits: Limits | None = None,
                page_reader: PageReader | None = None) -> Iterator[Block]:
    """The file's blocks, in document order, cut at `limits.max_chars` characters."""
    limits = limits or Limits()
    started = time.monotonic()

    def out_of_time() -> bool:
        return time.monotonic() - started > limits.max_seconds

    if kind == "pdf":
        from assistant.documents.parsers.pdf import pdf_blocks

        blocks = pdf_blocks(path, reading, limits, page_reader, out_of_time)
    elif kind == "docx":
        from assistant.documents.parsers.docx import docx_blocks

        blocks = docx_blocks(path, reading, limits)
    elif kind == "markdown":
        from assistant.documents.parsers.markdown import markdown_blocks

        blocks = markdown_blocks(path, reading, limits)
    elif kind == "html":
        from assistant.documents.parsers.html import html_blocks

        blocks = html_blocks(path, reading, limits)
    elif kind in ("text", "code"):
        from assistant.documents.parsers.text import text_blocks

        blocks = text_blocks(path, reading, code=kind == "code")
    else:
        raise UnreadableDocument(f"{kind} files are not read")
    for block in blocks:
        reading.chars += len(block.text)
        yield block
        if reading.chars >= limits.max_chars:
            reading.note(f"only the first {limits.max_chars // 1_000_000} million characters were indexed")
            return
        if out_of_time():
            reading.note(f"reading stopped after {limits.max_seconds:.0f} s; the rest was not indexed")
            return
