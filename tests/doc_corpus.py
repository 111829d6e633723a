"""Documents generated for the usage tests: real PDF, DOCX, Markdown and HTML files holding invented facts
that no model can know, each on a known page or under a known heading, plus a long PDF.

The facts are made up (names, numbers, places) so a correct answer can only come from the file; the
questions name them in other words than the passage, so keyword overlap alone is not the whole story.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FILLER = (
    "This section records routine matters of the harbour office: mooring fees were collected on time, the "
    "tide tables were posted at the quay, and the ferry timetable did not change during the period. "
)


@dataclass(frozen=True)
class Fact:
    question: str
    answer: str  # a word the right answer must contain
    file: str  # the file it is in
    where: str  # its locator as the sources list it: "page 2", "“Minutes › Harvest”" (the heading path)


KEEPER = Fact("Who is the keeper of the Vellmoor lighthouse?", "Brandtner", "harbour_report.pdf", "page 2")
BUDGET = Fact("How large is the Quillfeather fund this year?", "4.2", "harbour_report.pdf", "page 3")
CRATES = Fact("How many crates of Blue Wendle apples did the Tamsk orchard harvest?", "812",
              "orchard_minutes.docx", "“Tamsk orchard cooperative, minutes › Harvest”")
CALL_SIGN = Fact("What is the radio call sign of the Kelvaro station?", "ZK-47Q", "field_notes.md",
                 "“Field notes › Station codes”")
SOUP = Fact("How long must Mirelka soup simmer?", "37", "recipes.html", "“Family recipes › Mirelka soup”")
FACTS = (KEEPER, BUDGET, CRATES, CALL_SIGN, SOUP)
UNCOVERED = "Which team won the 1998 football World Cup final?"


def harbour_report(folder: Path) -> Path:
    """Three pages with a text layer: the keeper on page 2, the fund on page 3."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path = folder / "harbour_report.pdf"
    pages = [
        ["Vellmoor Harbour Office", "Annual report", FILLER, FILLER],
        ["Staff", "The keeper of the Vellmoor lighthouse is Orsolya Brandtner, appointed in March.",
         "She replaced the former keeper, who retired to the islands.", FILLER],
        ["Finances", "The Quillfeather fund for this year amounts to 4.2 million krona.",
         "It pays for the breakwater repairs and the new signal lamps.", FILLER],
    ]
    _pdf(path, pages, A4, canvas)
    return path


def long_report(folder: Path, pages: int = 40) -> Path:
    """A PDF far longer than a small context window, with one fact on page 31."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    path = folder / "survey_2031.pdf"
    content = []
    for number in range(1, pages + 1):
        lines = [f"Coastal survey, chapter {number}"]
        lines += [FILLER.replace("harbour office", f"survey team {number}")] * 6
        if number == 31:
            lines.insert(2, "The survey ship Marisdotter measured the Eskelund trench at 2,417 metres deep.")
        content.append(lines)
    _pdf(path, content, A4, canvas)
    return path


LONG_FACT = Fact("How deep is the Eskelund trench?", "2,417", "survey_2031.pdf", "page 31")


def _pdf(path: Path, pages: list[list[str]], size: tuple[float, float], canvas_module) -> None:
    from textwrap import wrap

    pdf = canvas_module.Canvas(str(path), pagesize=size)
    height = size[1]
    for lines in pages:
        y = height - 72
        pdf.setFont("Helvetica-Bold", 16)
        pdf.drawString(72, y, lines[0])
        y -= 28
        pdf.setFont("Helvetica", 11)
        for paragraph in lines[1:]:
            for line in wrap(paragraph, 90):
                pdf.drawString(72, y, line)
                y -= 15
            y -= 8
        pdf.showPage()
    pdf.save()


def orchard_minutes(folder: Path) -> Path:
    import docx

    path = folder / "orchard_minutes.docx"
    document = docx.Document()
    document.add_heading("Tamsk orchard cooperative, minutes", level=1)
    document.add_heading("Attendance", level=2)
    document.add_paragraph("Eleven members attended; the chair opened the meeting at seven.")
    document.add_heading("Harvest", level=2)
    document.add_paragraph("This autumn the Tamsk orchard harvested 812 crates of Blue Wendle apples, "
                           "a record for the cooperative.")
    document.add_heading("Any other business", level=2)
    document.add_paragraph("The fence along the north field will be mended in spring.")
    document.save(str(path))
    return path


def field_notes(folder: Path) -> Path:
    path = folder / "field_notes.md"
    path.write_text(
        "# Field notes\n\nNotes from the northern expedition.\n\n"
        "## Weather\n\nFog most mornings; the wind turned west after the third day.\n\n"
        "## Station codes\n\nThe radio call sign of the Kelvaro station is ZK-47Q. "
        "Calls are answered at dawn and dusk only.\n",
        encoding="utf-8",
    )
    return path


def recipes(folder: Path) -> Path:
    path = folder / "recipes.html"
    path.write_text(
        "<!doctype html><html><head><title>Family recipes</title></head><body>"
        "<h1>Family recipes</h1><h2>Bread</h2><p>Knead the dough for ten minutes.</p>"
        "<h2>Mirelka soup</h2><p>Bring the beet stock to the boil, add the dumplings and let the Mirelka "
        "soup simmer for 37 minutes before serving.</p></body></html>",
        encoding="utf-8",
    )
    return path


def corpus(folder: Path) -> Path:
    """Every document above in `folder` (made if needed); returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    harbour_report(folder)
    orchard_minutes(folder)
    field_notes(folder)
    recipes(folder)
    return folder
