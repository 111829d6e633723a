"""Markdown: blocks and headings from markdown-it-py's token stream (CommonMark, with tables).

Each top-level block (paragraph, list, fenced code, table, quote) becomes a `Block` holding its own
source lines, so a passage quotes the file as written and its line range is exact; the heading path
above it ("Install › Linux") is its section. A heading's line starts its section's first passage.
The file is parsed whole, so one larger than `Limits.max_markup_bytes` is cut there (with a note).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from assistant.documents.chunking import Block
from assistant.documents.limits import Limits, Reading
from assistant.documents.parsers.text import detect_encoding
from assistant.documents.types import HEADING_SEPARATOR


def read_markup(path: Path, reading: Reading, limits: Limits) -> str:
    """The whole file as text (HTML and Markdown are parsed whole), cut at the limit with a note."""
    with open(path, "rb") as handle:
        data = handle.read(limits.max_markup_bytes + 1)
    if len(data) > limits.max_markup_bytes:
        data = data[: limits.max_markup_bytes]
        reading.note(f"only the first {limits.max_markup_bytes >> 20} MB were read")
    encoding = detect_encoding(data[:65536])
    return data.decode(encoding, errors="replace")


def markdown_blocks(path: Path, reading: Reading, limits: Limits) -> Iterator[Block]:
    from markdown_it import MarkdownIt  # only in the engine process

    source = read_markup(path, reading, limits)
    lines = source.split("\n")
    tokens = MarkdownIt("commonmark").enable("table").parse(source)
    headings: list[tuple[int, str]] = []  # (level, text) from the top
    for index, token in enumerate(tokens):
        if token.level != 0 or token.map is None or token.nesting == -1:
            continue
        start, end = token.map
        if token.type == "heading_open":
            level = int(token.tag[1:])
            text = tokens[index + 1].content.strip() if index + 1 < len(tokens) else ""
            headings = [h for h in headings if h[0] < level] + [(level, text)]
            yield Block(text, heading=_path(headings), first_line=start + 1, last_line=end, is_heading=True)
            continue
        text = "\n".join(lines[start:end]).strip()
        if text:
            yield Block(text, heading=_path(headings), first_line=start + 1, last_line=end)


def _path(headings: list[tuple[int, str]]) -> str:
    return HEADING_SEPARATOR.join(text for _, text in headings if text)
