"""PDF: the text layer page by page with pypdfium2 (PDFium, BSD/Apache-2.0); scanned pages through OCR.

Each page is opened, its text read and the page closed before the next, so a 10,000-page PDF costs the
memory of one page; the caller's clock is checked between pages. A page with no text layer but with
images is a scan: it is rendered (at most `OCR_SIDE` pixels on its long side) and read by the engine's
OCR (`page_reader`), up to `Limits.max_ocr_pages` pages. Paragraphs are the page's blank-line separated
runs; a line broken by a hyphen is joined again. Every block carries its 1-based page number.

PDFium's errors become reasons a person understands: an encrypted PDF, a damaged one, not a PDF.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path

from assistant.documents.chunking import Block
from assistant.documents.errors import UnreadableDocument
from assistant.documents.limits import Limits, PageReader, Reading

logger = logging.getLogger(__name__)

OCR_SIDE = 2000
MAX_PAGE_CHARS = 100_000  # a page holds a few thousand characters; more is a generated stream
_BLANK = re.compile(r"\n\s*\n")


def _open(path: Path):  # -> pdfium.PdfDocument
    import pypdfium2 as pdfium

    with open(path, "rb") as handle:
        head = handle.read(1024)
    if b"%PDF" not in head:
        raise UnreadableDocument("it is not a PDF (no %PDF header)")
    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as error:
        text = str(error).lower()
        if "password" in text:
            raise UnreadableDocument("the PDF is encrypted (it needs a password)") from error
        if "format" in text or "file" in text:
            raise UnreadableDocument("the PDF is damaged and cannot be opened") from error
        raise UnreadableDocument(f"the PDF cannot be opened ({error})") from error


def pdf_blocks(path: Path, reading: Reading, limits: Limits, page_reader: PageReader | None,
               out_of_time: Callable[[], bool]) -> Iterator[Block]:
    import pypdfium2 as pdfium

    document = _open(path)
    try:
        total = len(document)
        reading.pages = total
        if total == 0:
            raise UnreadableDocument("the PDF has no pages (it is damaged or empty)")
        if total > limits.max_pages:
            reading.note(f"only the first {limits.max_pages:,} of {total:,} pages were read")
        scanned_skipped = 0
        for index in range(min(total, limits.max_pages)):
            if out_of_time():
                reading.note(f"reading stopped at page {index + 1} after {limits.max_seconds:.0f} s")
                return
            try:
                page = document[index]
            except pdfium.PdfiumError as error:
                reading.note(f"page {index + 1} could not be read ({error})")
                continue
            try:
                text = _page_text(page)
                if not text.strip() and _has_images(page):
                    if page_reader is None or reading.ocr_pages >= limits.max_ocr_pages:
                        scanned_skipped += 1
                        continue
                    text = page_reader(_render(page))
                    reading.ocr_pages += 1
            finally:
                page.close()
            yield from _paragraphs(text, index + 1)
        if reading.ocr_pages:
            reading.note(f"{reading.ocr_pages} scanned page(s) read by OCR")
        if scanned_skipped:
            why = "no OCR" if page_reader is None else f"over {limits.max_ocr_pages} scanned pages"
            reading.note(f"{scanned_skipped} scanned page(s) without text were not read ({why})")
    finally:
        document.close()


def _page_text(page) -> str:
    textpage = page.get_textpage()
    try:
        count = textpage.count_chars()
        text = textpage.get_text_range(0, min(count, MAX_PAGE_CHARS)) if count > 0 else ""
    finally:
        textpage.close()
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _has_images(page) -> bool:
    import pypdfium2.raw as pdfium_c

    return any(True for _ in page.get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE], max_depth=2))


def _render(page):  # -> PIL.Image.Image
    width, height = page.get_size()
    scale = min(200 / 72, OCR_SIDE / max(width, height, 1))
    return page.render(scale=scale).to_pil().convert("RGB")


def _paragraphs(text: str, page: int) -> Iterator[Block]:
    for paragraph in _BLANK.split(text):
        lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
        if not lines:
            continue
        joined = lines[0]
        for line in lines[1:]:
            if joined.endswith("-") and joined[-2:-1].isalpha() and line[:1].islower():
                joined = joined[:-1] + line  # "exam-" + "ple": a word broken at the line's end
            else:
                joined = f"{joined} {line}"
        yield Block(joined, page=page)
