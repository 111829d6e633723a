"""The value types of the documents library: where a passage sits in its file, and what a search returns.

Everything here is a small frozen dataclass of plain values: passages travel from the engine process
to the window over the pipe (pickled), and the window, the command line and the prompt code all read
them. No parser, no SQLite, no numpy: importing this module costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

# How one file came out of an indexing run (one DocumentIndexed event each).
FileStatus = Literal["indexed", "unchanged", "skipped", "removed"]
# What a search ranked by: both halves fused, or one alone ('bm25' is what runs without an embedding model).
SearchMode = Literal["hybrid", "bm25", "vector"]

HEADING_SEPARATOR = " › "


@dataclass(frozen=True)
class FileEvent:
    """How one file came out of an indexing run: `reason` says why it was skipped, in words (encrypted
    PDF, not text, ...); `done` of `total` files so far."""

    path: str
    status: FileStatus
    reason: str = ""
    chunks: int = 0
    pages: int = 0
    done: int = 0
    total: int = 0


@dataclass(frozen=True)
class Locator:
    """Where a passage is in its file: a PDF page, else a heading path, else a line range.

    `page` is 1-based (what a PDF viewer shows as the page number); `heading` is the path of headings
    above the passage ("Install › Linux"); `first_line`/`last_line` are 1-based and inclusive. A passage
    of a Markdown file has a heading and lines; a DOCX paragraph has only a heading (Word has no lines).
    """

    page: int | None = None
    heading: str = ""
    first_line: int | None = None
    last_line: int | None = None

    def label(self) -> str:
        """What a citation shows after the file name: 'page 3', '“Install › Linux”', 'lines 10–42'."""
        if self.page is not None:
            return f"page {self.page}"
        if self.heading:
            return f"“{self.heading}”"
        if self.first_line is not None:
            last = self.last_line or self.first_line
            return f"line {self.first_line}" if last == self.first_line else f"lines {self.first_line}–{last}"
        return "whole file"


@dataclass(frozen=True)
class Passage:
    """One retrieved chunk of a document, ready to be quoted to the model and cited to the user.

    `score` is the reciprocal-rank-fusion score (higher is better; only comparable within one search);
    `bm25_rank` and `vector_rank` are its 1-based ranks in each half (None: that half did not find it).
    `similarity` is the cosine between query and passage (None without vectors); `relevant` is the
    engine's verdict that the passage is about the question at all (see `documents.search`): when no
    passage is relevant the answer should say the documents do not cover it.
    """

    chunk_id: int  # stable while the file is unchanged; 0 for a file read for one question
    path: str  # absolute path of the file
    locator: Locator
    text: str
    score: float = 0.0
    bm25_rank: int | None = None
    vector_rank: int | None = None
    similarity: float | None = None
    relevant: bool = True

    @property
    def name(self) -> str:
        return Path(self.path).name

    def citation(self) -> str:
        """'report.pdf, page 3': what the Sources block lists."""
        return f"{self.name}, {self.locator.label()}"


@dataclass(frozen=True)
class SourceInfo:
    """A file or folder the user added (the window's Documents panel lists these)."""

    source_id: int
    path: str  # absolute, as added
    is_folder: bool
    added_at: float  # Unix time
    files: int  # files indexed under it
    chunks: int
    skipped: int  # files that could not be read (see FileInfo.reason)
    last_scan: float | None  # when it was last compared with the disk; None: not yet


@dataclass(frozen=True)
class FileInfo:
    """One file under a source, as the last indexing run left it."""

    path: str
    source_id: int
    size: int
    mtime: float
    status: Literal["indexed", "skipped"]
    reason: str  # why it was skipped ("" when indexed)
    chunks: int
    pages: int  # PDF pages (0 for other kinds)
    kind: str  # 'pdf', 'docx', 'markdown', 'text', 'html', 'code'
    indexed_at: float
