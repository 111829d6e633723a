"""Real documents written by real libraries for the documents tests (ReportLab PDFs, python-docx DOCX),
holding invented facts no model can know, each on a known page or under a known heading."""

from __future__ import annotations

from pathlib import Path


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
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>"]
    kids = " ".join(f"{4 + i} 0 R" for i in range(pages)).encode()
    objects.append(b"<< /Type /Pages /Kids [" + kids + b"] /Count " + str(pages).encode() + b" >>")
    objects.append(b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream")
    font = 4 + pages
    for _ in range(pages):
        objects.append(b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R "
                       b"/Resources << /Font << /F1 " + str(font).encode() + b" 0 R >> >> >>")
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += str(number).encode() + b" 0 obj\n" + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path
