"""HTML: the visible text by blocks and headings, with Python's own `html.parser` (no network, no scripts).

The standard library's parser is maintained with CPython, tolerant of broken markup, and only
tokenises: nothing is fetched, no script runs, no entity expands beyond HTML's named characters.
Script, style and other invisible elements are dropped; block elements (p, li, td, pre, div...) end a
block; h1–h6 open a section, and the heading path ("Guide › Setup") is each block's locator. The
title is the top heading when the page has no h1.
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

from assistant.documents.chunking import Block
from assistant.documents.limits import Limits, Reading
from assistant.documents.parsers.markdown import read_markup
from assistant.documents.types import HEADING_SEPARATOR

INVISIBLE = {"script", "style", "noscript", "template", "head", "svg", "math", "iframe", "object", "canvas"}
BLOCKS = {"p", "div", "li", "dt", "dd", "td", "th", "tr", "pre", "blockquote", "section", "article", "main",
          "header", "footer", "nav", "aside", "figcaption", "table", "ul", "ol", "dl", "form", "br", "hr",
          "address", "details", "summary", "caption", "body"}
HEADINGS = {"h1", "h2", "h3", "h4", "h5", "h6"}


class _TextCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self.title = ""
        self._in_title = False
        self._hidden = 0  # depth inside invisible elements
        self._pre = 0
        self._text: list[str] = []
        self._heading_level = 0
        self._heading_text: list[str] = []
        self._headings: list[tuple[int, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        if tag in INVISIBLE:
            self._hidden += 1
        elif tag in HEADINGS:
            self._flush()
            self._heading_level, self._heading_text = int(tag[1]), []
        elif tag in BLOCKS:
            self._flush()
            self._pre += tag == "pre"

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in INVISIBLE:
            self._hidden = max(0, self._hidden - 1)
        elif tag in HEADINGS and self._heading_level:
            text = " ".join("".join(self._heading_text).split())
            level = self._heading_level
            self._heading_level = 0
            if text:
                self._headings = [h for h in self._headings if h[0] < level] + [(level, text)]
                self.blocks.append(Block(text, heading=self.heading(), is_heading=True))
        elif tag in BLOCKS:
            self._flush()
            self._pre = max(0, self._pre - (tag == "pre"))

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._hidden:
            return
        if self._heading_level:
            self._heading_text.append(data)
        else:
            self._text.append(data)

    def heading(self) -> str:
        return HEADING_SEPARATOR.join(text for _, text in self._headings)

    def _flush(self) -> None:
        raw = "".join(self._text)
        self._text = []
        text = raw.strip("\n") if self._pre else " ".join(raw.split())
        if text.strip():
            self.blocks.append(Block(text, heading=self.heading()))

    def close(self) -> None:
        super().close()
        self._flush()


def html_blocks(path: Path, reading: Reading, limits: Limits) -> Iterator[Block]:
    collector = _TextCollector()
    collector.feed(read_markup(path, reading, limits))
    collector.close()
    title = " ".join(collector.title.split())
    for block in collector.blocks:
        if title and not block.heading:
            block = Block(block.text, heading=title, is_heading=block.is_heading)
        yield block
