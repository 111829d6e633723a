"""Plain text and source code: the encoding detected (charset-normalizer), the file streamed line by line.

The first 64 KB decide: a byte-order mark names UTF-8/16/32; otherwise NUL bytes mean binary data (a
file named .txt that is not text is skipped, never indexed as garbage); otherwise charset-normalizer
picks the encoding (cp1252, latin-1, Shift-JIS...). The rest is decoded incrementally in 1 MB reads,
so a 2 GB log costs the memory of one read; NUL bytes further in stop the reading with a note.

Blocks are paragraphs (text separated by blank lines) with their exact line range; a paragraph that
never ends (a log) is cut every `PARAGRAPH_CHARS` characters.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from assistant.documents.chunking import Block
from assistant.documents.errors import UnreadableDocument
from assistant.documents.limits import Reading

SAMPLE_BYTES = 64 * 1024
READ_BYTES = 1 << 20
PARAGRAPH_CHARS = 4000
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF8, "utf-8-sig"),
         (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


def detect_encoding(sample: bytes) -> str:
    """The encoding of a file that starts with `sample`; UnreadableDocument when it is not text."""
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return name
    if not sample:
        return "utf-8"
    if b"\x00" in sample:
        raise UnreadableDocument("it holds binary data, not text")
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as error:
        if error.start >= len(sample) - 3:  # a character cut by the sample's end
            return "utf-8"
    from charset_normalizer import from_bytes

    matches = list(from_bytes(sample))
    if not matches:
        raise UnreadableDocument("it holds binary data, not text (no text encoding fits it)")
    best = matches[0]
    # Ties among the single-byte Latin code pages go to Windows-1252, the legacy encoding of most
    # Western text (and HTML's default for unlabelled pages): charset-normalizer ranks cp1250 first for
    # "café à 7 heures", which turns "à" into "ŕ", though both decode it without a single error.
    western = next((m for m in matches if m.encoding == "cp1252"), None)
    if western is not None and western.chaos <= best.chaos + 0.01:
        return "cp1252"
    return best.encoding


def decoded_lines(handle: BinaryIO, reading: Reading) -> Iterator[str]:
    """The file's lines (without line ends), decoded in 1 MB reads."""
    sample = handle.read(SAMPLE_BYTES)
    encoding = detect_encoding(sample)
    if encoding not in ("utf-8", "utf-8-sig", "ascii"):
        reading.note(f"read as {encoding}")
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    offset = 0
    tail = ""
    data = sample
    while data:
        if offset and b"\x00\x00\x00\x00" in data and not encoding.startswith("utf-16") \
                and not encoding.startswith("utf-32"):
            reading.note(f"binary data from byte {offset:,} on was not read")
            break
        text = tail + decoder.decode(data)
        lines = text.split("\n")
        tail = lines.pop()
        for line in lines:
            yield line.rstrip("\r")
        offset += len(data)
        data = handle.read(READ_BYTES)
    tail += decoder.decode(b"", final=True)
    if tail:
        yield tail.rstrip("\r")


def text_blocks(path: Path, reading: Reading, *, code: bool = False) -> Iterator[Block]:
    """Paragraphs (or, for code, blank-line separated runs) with their line ranges."""
    with open(path, "rb") as handle:
        lines: list[str] = []
        first = 1
        size = 0
        number = 0
        for number, line in enumerate(decoded_lines(handle, reading), start=1):
            if not line.strip():
                if lines:
                    yield Block("\n".join(lines), first_line=first, last_line=number - 1)
                lines, size = [], 0
                first = number + 1
                continue
            if not lines:
                first = number
            lines.append(line if code else line.strip())
            size += len(line) + 1
            if size >= PARAGRAPH_CHARS:
                yield Block("\n".join(lines), first_line=first, last_line=number)
                lines, size = [], 0
                first = number + 1
        if lines:
            yield Block("\n".join(lines), first_line=first, last_line=number)
