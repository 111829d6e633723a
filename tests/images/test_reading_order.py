"""Reading order from line boxes alone (no model): columns of prose one after the other, forms and
dialogs in rows."""

from __future__ import annotations

from assistant.images.reading_order import reading_order_text, reading_rows
from assistant.protocols import TextLine

PITCH, HEIGHT = 40, 56  # a 300-dpi page's 10 pt lines: the detector's boxes overlap their neighbours


def _line(text: str, left: float, top: float, width: float, height: float = HEIGHT) -> TextLine:
    box = ((left, top), (left + width, top), (left + width, top + height), (left, top + height))
    return TextLine(text, box, 0.95)  # type: ignore[arg-type]


def _column(prefix: str, left: float, top: float, count: int, width: float = 900) -> list[TextLine]:
    return [_line(f"{prefix} line {i} of a paragraph set in a column", left, top + i * PITCH, width)
            for i in range(count)]


def _texts(lines: list[TextLine]) -> list[str]:
    return [line.text for line in lines]


def test_two_columns_whose_lines_are_level_read_one_column_after_the_other() -> None:
    title = _line("A title across the page", 300, 100, 1900, 80)
    intro = [_line(f"intro line {i} runs across the whole width of the page", 300, 260 + i * PITCH, 1900)
             for i in range(3)]
    left, right = _column("left", 300, 500, 8), _column("right", 1300, 500, 8)  # level, 100 px gutter
    footer = _line("A footer line across the page, small print", 300, 900, 1900, 40)
    lines = [title, *intro, *[ln for pair in zip(left, right, strict=True) for ln in pair], footer]
    assert reading_order_text(lines).splitlines() == _texts([title, *intro, *left, *right, footer])


def test_a_heading_below_both_columns_is_read_after_them_and_a_longer_column_keeps_its_tail() -> None:
    left, right = _column("left", 300, 500, 10), _column("right", 1300, 500, 7)
    heading = _line("Additional Features", 300, 500 + 10 * PITCH + 60, 400)  # after a section gap
    bullets = [_line(f"bullet {i} runs across the whole width of the page", 300, 1000 + i * PITCH, 1900)
               for i in range(2)]
    lines = [*right, *bullets, heading, *left]  # the detector's order does not matter
    assert reading_order_text(lines).splitlines() == _texts([*left, *right, heading, *bullets])


def test_columns_offset_by_half_a_line_are_still_columns() -> None:
    left, right = _column("left", 300, 500, 6), _column("right", 1300, 520, 6)
    assert _texts([ln for row in reading_rows([*left, *right]) for ln in row]) == _texts([*left, *right])


def test_three_columns() -> None:
    names = ("one", "two", "three")
    columns = [_column(name, 100 + i * 800, 300, 5, width=700) for i, name in enumerate(names)]
    lines = [ln for trio in zip(*columns, strict=True) for ln in trio]
    assert reading_order_text(lines).splitlines() == _texts([ln for column in columns for ln in column])


def test_a_form_of_labels_and_values_reads_row_by_row() -> None:
    pairs = [("Name:", "Anna Berg"), ("Email:", "anna@example.com"), ("Phone:", "+46 8 123 456"),
             ("City:", "Uppsala")]
    lines = []
    for row, (label, value) in enumerate(pairs):
        lines += [_line(label, 20, 20 + row * 30, 60, 24), _line(value, 200, 20 + row * 30, 180, 24)]
    assert reading_order_text(lines).splitlines() == [f"{label} {value}" for label, value in pairs]


def test_a_dialog_reads_title_message_then_buttons() -> None:
    lines = [
        _line("OK", 560, 215, 40, 26), _line("Show details", 420, 214, 110, 26),
        _line("Setup - Contoso Photo Manager", 20, 10, 260, 24),
        _line("The installation could not be completed.", 90, 60, 360, 24),
        _line("Error 0x80070643: Fatal error during installation.", 90, 88, 420, 24),
    ]
    assert reading_order_text(lines).splitlines() == [
        "Setup - Contoso Photo Manager", "The installation could not be completed.",
        "Error 0x80070643: Fatal error during installation.", "Show details OK"]


def test_a_sidebar_of_short_items_beside_prose_is_not_split_into_columns_of_cells() -> None:
    """Short cells on one side (a toolbar or list) keep rows: only prose on both sides makes columns."""
    items = [_line(name, 10, 100 + i * 40, 80, 30) for i, name in enumerate(("Inbox", "Sent", "Drafts"))]
    prose = [_line(f"message line {i} with enough words to be prose", 200, 100 + i * 40, 700, 30)
             for i in range(3)]
    assert reading_order_text([*prose, *items]).splitlines() == [
        f"{item.text} {line.text}" for item, line in zip(items, prose, strict=True)]
