"""DOCX: paragraphs and tables in document order with python-docx (MIT), headings as the section path.

Why python-docx rather than docx2python: it is the maintained reference library for the format, and it
exposes each paragraph's style, so "Heading 1".."Heading 9" (and "Title") build the heading path a
citation shows; body paragraphs and tables come in document order (`iter_inner_content`). Its XML
parser does not resolve entities, so an entity bomb inside the zip expands to nothing.

A DOCX is a zip: before python-docx reads it (it inflates every part into memory) the central
directory is checked, so a zip bomb is refused without inflating anything: too many members, a total
uncompressed size over `Limits.max_docx_bytes`, one XML part over `Limits.max_docx_part`, or a part
that claims a compression ratio only a bomb reaches.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

from assistant.documents.chunking import Block
from assistant.documents.errors import UnreadableDocument
from assistant.documents.limits import Limits, Reading
from assistant.documents.types import HEADING_SEPARATOR

MAX_MEMBERS = 10_000
MAX_RATIO = 200  # real XML compresses 5-20x; a bomb of repeated bytes 1000x
_HEADING_STYLE = re.compile(r"^heading (\d)$", re.IGNORECASE)


def check_zip(path: Path, limits: Limits) -> None:
    """Refuses a DOCX whose central directory promises more than it may cost, before inflating it."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as error:
        raise UnreadableDocument("it is not a valid DOCX (the zip container is damaged)") from error
    if len(members) > MAX_MEMBERS:
        raise UnreadableDocument(f"the DOCX has {len(members):,} parts; over {MAX_MEMBERS:,} is refused")
    total = sum(m.file_size for m in members)
    if total > limits.max_docx_bytes:
        raise UnreadableDocument(f"the DOCX would unpack to {total / 1e6:,.0f} MB (a zip bomb?); "
                                 f"over {limits.max_docx_bytes >> 20} MB is refused")
    for member in members:
        is_xml = member.filename.endswith((".xml", ".rels"))
        if is_xml and member.file_size > limits.max_docx_part:
            size_mb = member.file_size / 1e6
            raise UnreadableDocument(f"{member.filename} in the DOCX unpacks to {size_mb:,.0f} MB; "
                                     "that is refused")
        if member.file_size > 1_000_000 and member.file_size > MAX_RATIO * max(member.compress_size, 1):
            ratio = member.file_size // max(1, member.compress_size)
            raise UnreadableDocument(f"{member.filename} in the DOCX is compressed {ratio:,} to 1, as only a "
                                     "zip bomb is; it is refused")
    if "word/document.xml" not in {m.filename for m in members}:
        raise UnreadableDocument("it is not a Word document (no word/document.xml inside)")


def docx_blocks(path: Path, reading: Reading, limits: Limits) -> Iterator[Block]:
    check_zip(path, limits)
    import docx
    from docx.table import Table

    try:
        document = docx.Document(str(path))
    except Exception as error:  # python-docx raises KeyError, ValueError, lxml errors... on bad parts
        raise UnreadableDocument(f"the DOCX cannot be read ({type(error).__name__}: {error})") from error
    headings: list[tuple[int, str]] = []
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            text = _table_text(item)
            if text:
                yield Block(text, heading=_path(headings))
            continue
        text = item.text.strip()
        if not text:
            continue
        level = _heading_level(item.style.name if item.style is not None else "")
        if level is not None:
            headings = [h for h in headings if h[0] < level] + [(level, text)]
        yield Block(text, heading=_path(headings), is_heading=level is not None)


def _heading_level(style: str) -> int | None:
    """0 for the document's title (above every heading), 1-9 for headings, None for body text."""
    if style.lower() == "title":
        return 0
    match = _HEADING_STYLE.match(style)
    return int(match.group(1)) if match else None


def _table_text(table) -> str:
    rows = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):  # a merged cell repeats in each column
                cells.append(text)
        if cells:
            rows.append(" | ".join(cells))
    return "\n".join(rows)


def _path(headings: list[tuple[int, str]]) -> str:
    return HEADING_SEPARATOR.join(text for _, text in headings)
