"""Each parser on real files written by real libraries: text in the right order, locators that point at
the right page, heading or lines, encodings detected, invisible HTML left out."""

from __future__ import annotations

import codecs
import itertools
from pathlib import Path

import pytest
from doc_files import fact_pdf, write_docx

from assistant.documents.chunking import Block, chunk_blocks
from assistant.documents.errors import UnreadableDocument
from assistant.documents.formats import kind_of
from assistant.documents.limits import Reading
from assistant.documents.reading import read_blocks

pytest.importorskip("reportlab")


def passages(path: Path) -> tuple[list, Reading]:
    kind = kind_of(path)
    assert kind is not None
    reading = Reading(kind)
    return list(chunk_blocks(read_blocks(path, kind, reading))), reading


def test_pdf_pages_are_known_and_each_passage_names_its_page(tmp_path: Path) -> None:
    chunks, reading = passages(fact_pdf(tmp_path / "harbour.pdf"))
    assert reading.pages == 3
    assert [c.locator.page for c in chunks] == [1, 2, 3]
    keeper = next(c for c in chunks if "Brandtner" in c.text)
    assert keeper.locator.page == 2 and keeper.locator.label() == "page 2"
    assert "Vellmoor lighthouse is Ottilie Brandtner" in keeper.text


def test_docx_headings_become_the_heading_path_and_tables_are_read(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "minutes.docx", [
        (1, "Orchard", ["The Tamsk orchard meeting opened at noon."]),
        (2, "Harvest", ["The orchard harvested 812 crates of Blue Wendle apples."]),
        (1, "Finance", ["The treasurer reported nothing unusual."]),
    ], title="Minutes")
    chunks, _ = passages(path)
    by_text = {c.text: c.locator.heading for c in chunks}
    harvest = next(c for c in chunks if "812 crates" in c.text)
    assert harvest.locator.heading == "Minutes › Orchard › Harvest"
    assert harvest.locator.label() == "“Minutes › Orchard › Harvest”"
    table = next(c for c in chunks if "Quorvane levy | 613 crowns" in c.text)
    assert table.locator.heading == "Minutes › Orchard"
    assert any(h == "Minutes › Finance" for h in by_text.values())
    # A heading followed at once by a subsection makes no passage of its own.
    assert all(c.text.strip() != "Minutes" for c in chunks)


def test_markdown_blocks_keep_headings_and_exact_line_ranges(tmp_path: Path) -> None:
    path = tmp_path / "notes.md"
    path.write_text("# Field notes\n\nIntro line.\n\n## Station codes\n\n"
                    "The Kelvaro station calls as ZK-47Q.\nSecond line of it.\n\n"
                    "```python\nprint('code kept')\n```\n", encoding="utf-8")
    chunks, _ = passages(path)
    code = next(c for c in chunks if "ZK-47Q" in c.text)
    assert code.locator.heading == "Field notes › Station codes"
    assert code.locator.first_line == 5 and code.locator.last_line == 12
    assert "print('code kept')" in code.text
    lines = path.read_text().split("\n")
    assert lines[code.locator.first_line - 1] == "## Station codes"


def test_html_text_without_scripts_styles_or_head(tmp_path: Path) -> None:
    path = tmp_path / "recipes.html"
    path.write_text("<!doctype html><html><head><title>Kitchen</title><style>p{color:red}</style>"
                    "<script>document.write('INJECTED')</script></head><body><h1>Soups</h1>"
                    "<h2>Mirelka soup</h2><p>Simmer the Mirelka soup for 37 minutes.<br>Salt &amp; serve."
                    "</p><noscript>NOSCRIPT</noscript><p>Second &eacute;tape.</p></body></html>")
    chunks, _ = passages(path)
    text = "\n".join(c.text for c in chunks)
    assert "INJECTED" not in text and "color:red" not in text and "NOSCRIPT" not in text
    soup = next(c for c in chunks if "37 minutes" in c.text)
    assert soup.locator.heading == "Soups › Mirelka soup"
    assert "Salt & serve." in text and "Second étape." in text


@pytest.mark.parametrize(("encoding", "text"), [
    ("cp1252", "Le café de Zürich ouvre à 7 heures; la crème brûlée coûte 9 francs."),
    ("utf-16", "Grüße aus Köln: der Bäcker öffnet um 6 Uhr."),
    ("shift_jis", "東京の図書館は午前九時に開きます。" * 4),
    ("utf-8-sig", "Ελληνικά κείμενα διαβάζονται σωστά."),
])
def test_text_encodings_are_detected(tmp_path: Path, encoding: str, text: str) -> None:
    path = tmp_path / "note.txt"
    path.write_bytes(text.encode(encoding))
    chunks, _ = passages(path)
    assert chunks[0].text == text
    assert chunks[0].locator.first_line == 1


def test_a_binary_file_named_txt_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "photo.txt"
    path.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(UnreadableDocument, match="binary"):
        passages(path)


def test_code_keeps_indentation_and_line_ranges(tmp_path: Path) -> None:
    path = tmp_path / "tool.py"
    body = "def first():\n    return 1\n\n\ndef second():\n    return 2\n"
    path.write_text(body)
    chunks, _ = passages(path)
    assert [c.text for c in chunks] == ["def first():\n    return 1\n\ndef second():\n    return 2"]
    assert chunks[0].locator.first_line == 1 and chunks[-1].locator.last_line == 6


def test_long_text_is_cut_at_line_and_sentence_boundaries() -> None:
    lines = [f"Line {i} of the log says the pump ran." for i in range(200)]
    chunks = list(chunk_blocks([Block("\n".join(lines), first_line=1, last_line=200)]))
    assert len(chunks) > 3 and all(len(c.text) <= 1000 for c in chunks)
    assert chunks[0].locator.first_line == 1 and chunks[-1].locator.last_line == 200
    for before, after in itertools.pairwise(chunks):
        assert after.locator.first_line == before.locator.last_line + 1
    sentence = "The reservoir holds water for the valley. " * 80
    pieces = list(chunk_blocks([Block(sentence, page=4)]))
    assert all(p.text.endswith(".") and p.locator.page == 4 for p in pieces)


def test_utf16_bom_is_not_mistaken_for_binary(tmp_path: Path) -> None:
    path = tmp_path / "wide.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + "plain words".encode("utf-16-le"))
    chunks, _ = passages(path)
    assert chunks[0].text == "plain words"
