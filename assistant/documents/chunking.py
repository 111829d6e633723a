"""Cutting a document into passages along its structure.

Parsers yield `Block`s: a paragraph, a heading's section text, a code block, a table row group, a PDF
page's paragraph, each with where it is (page, heading path, lines). `chunk_blocks` packs consecutive
blocks of the same place (same page, same heading) into passages of about `TARGET_CHARS`, and splits a
block that is too long at line, then sentence, then word boundaries. A passage never spans two pages or
two sections, so its locator is exact: the citation points at the page or heading it came from.

About 1,000 characters (~200 words, ~250 tokens) per passage: small enough that the embedding model
(which reads 256 tokens) sees all of it and a prompt holds several, large enough to carry a fact with
its context. Streaming: blocks come from a generator and passages leave as soon as they are complete,
so a 2 GB text file needs no more memory than one passage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from assistant.documents.store import ChunkRow
from assistant.documents.types import Locator

TARGET_CHARS = 1000
MAX_CHARS = 1400  # a block longer than this is split
_SENTENCE_END = re.compile(r"(?<=[.!?。])\s+")


@dataclass(frozen=True)
class Block:
    """A piece of a document that belongs together (a paragraph, a list, a code block, a table)."""

    text: str
    page: int | None = None
    heading: str = ""
    first_line: int | None = None
    last_line: int | None = None
    is_heading: bool = False  # the heading's own line, which starts its section's first passage

    @property
    def place(self) -> tuple[int | None, str]:
        return self.page, self.heading


def chunk_blocks(blocks: Iterable[Block], target: int = TARGET_CHARS, limit: int = MAX_CHARS
                 ) -> Iterator[ChunkRow]:
    """Passages of about `target` characters, each within one page and one section."""
    pending: list[Block] = []
    size = 0
    for block in blocks:
        text = block.text.strip()
        if not text:
            continue
        block = Block(text, block.page, block.heading, block.first_line, block.last_line, block.is_heading)
        if pending and (block.place != pending[0].place or size + len(text) + 2 > target):
            if not _only_headings_above(pending, block):
                yield _join(pending)
            pending, size = [], 0
        if len(text) > limit:
            yield from (_join([piece]) for piece in _split(block, target))
            continue
        pending.append(block)
        size += len(text) + 2
    if pending:
        yield _join(pending)


def _only_headings_above(pending: list[Block], following: Block) -> bool:
    """A heading followed at once by a subsection: its title lives on in the subsection's heading path,
    so it makes no passage of its own."""
    return all(b.is_heading for b in pending) and following.heading.startswith(pending[0].heading)


def _join(blocks: list[Block]) -> ChunkRow:
    first = blocks[0]
    lines = [b.first_line for b in blocks if b.first_line is not None]
    lasts = [b.last_line for b in blocks if b.last_line is not None]
    locator = Locator(page=first.page, heading=first.heading, first_line=min(lines) if lines else None,
                      last_line=max(lasts) if lasts else None)
    return ChunkRow(locator, "\n\n".join(b.text for b in blocks))


def _split(block: Block, target: int) -> Iterator[Block]:
    """A long block in pieces of at most about `target` characters: whole lines when the block has
    lines (code, text: the line range stays exact), else sentences, else words."""
    lines = block.text.split("\n")
    if len(lines) > 1:
        yield from _pack_lines(block, lines, target)
        return
    pieces = _SENTENCE_END.split(block.text)
    if max(len(p) for p in pieces) > target:
        pieces = [word for piece in pieces for word in _hard_wrap(piece, target)]
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) + 1 > target:
            yield Block(current, block.page, block.heading, block.first_line, block.last_line)
            current = ""
        current = f"{current} {piece}" if current else piece
    if current:
        yield Block(current, block.page, block.heading, block.first_line, block.last_line)


def _pack_lines(block: Block, lines: list[str], target: int) -> Iterator[Block]:
    start = block.first_line
    current: list[str] = []
    current_first = start
    size = 0
    for offset, line in enumerate(lines):
        number = None if start is None else start + offset
        if current and (size + len(line) + 1 > target or len(line) > target):
            yield _line_block(block, current, current_first, None if number is None else number - 1)
            current, size, current_first = [], 0, number
        if len(line) > target:  # one enormous line (minified code, a CSV without breaks): wrap it
            for piece in _hard_wrap(line, target):
                yield Block(piece, block.page, block.heading, number, number)
            current_first = None if number is None else number + 1
            continue
        if not current:
            current_first = number
        current.append(line)
        size += len(line) + 1
    if current:
        yield _line_block(block, current, current_first, block.last_line)


def _line_block(block: Block, lines: list[str], first: int | None, last: int | None) -> Block:
    return Block("\n".join(lines), block.page, block.heading, first, last)


def _hard_wrap(text: str, width: int) -> list[str]:
    """Words packed into pieces of at most `width`; a word longer than that is cut."""
    out: list[str] = []
    current = ""
    for word in text.split():
        while len(word) > width:
            if current:
                out.append(current)
                current = ""
            out.append(word[:width])
            word = word[width:]
        if current and len(current) + len(word) + 1 > width:
            out.append(current)
            current = ""
        current = f"{current} {word}" if current else word
    if current:
        out.append(current)
    return out
