"""Real documents written by real libraries for the documents tests (ReportLab PDFs, python-docx DOCX),
holding invented facts no model can know, each on a known page or under a known heading."""

from __future__ import annotations

from pathlib import Path

from assistant.bench.fault_files import raw_pdf_bytes


def write_pdf(path: Path, pages: list[list[str]], *, encrypt: str | None = None) -> Path:
    """A PDF with a text layer: one list of lines per page."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    sheet = canvas.Canvas(str(path), pagesize=A4, encrypt=encrypt)
    for lines in pages:
        text = sheet.beginText(60, 790)
        text.setFont("Helvetica", 10)
        for line in lines:
            text.textLine(line)
        sheet.drawText(text)
        sheet.showPage()
    sheet.save()
    return path


def write_docx(path: Path, sections: list[tuple[int, str, list[str]]], title: str = "") -> Path:
    """A DOCX of (heading level, heading, paragraphs) sections, with a table after the first."""
    import docx

    document = docx.Document()
    if title:
        document.add_heading(title, 0)
    for index, (level, heading, paragraphs) in enumerate(sections):
        document.add_heading(heading, level)
        for paragraph in paragraphs:
            document.add_paragraph(paragraph)
        if index == 0:
            table = document.add_table(rows=2, cols=2)
            table.cell(0, 0).text, table.cell(0, 1).text = "Ledger item", "Amount"
            table.cell(1, 0).text, table.cell(1, 1).text = "Quorvane levy", "613 crowns"
    document.save(str(path))
    return path


FILLER = ("The committee noted that routine matters were handled as usual, that the minutes of the previous "
          "meeting were read and approved, and that no further correspondence had arrived. ")


def fact_pdf(path: Path) -> Path:
    """Three pages: the lighthouse keeper on page 2 only."""
    return write_pdf(path, [
        ["Harbour report, first page.", FILLER[:90], "Ferries ran on time all season."],
        ["Harbour report, second page.", "The keeper of the Vellmoor lighthouse is Ottilie Brandtner.",
         "She relieved the previous keeper in the spring."],
        ["Harbour report, third page.", "The Quillfeather fund holds 4.2 million crowns this year."],
    ])


def raw_pdf(path: Path, content: bytes, pages: int = 1) -> Path:
    """A PDF written by hand: `pages` pages sharing one content stream (a huge stream, many pages)."""
    path.write_bytes(raw_pdf_bytes(content, pages))
    return path
