"""What happens to OCR lines after the model: reading order and tidying (no model needed)."""

from __future__ import annotations

from assistant.bench.text_images import character_accuracy, edit_distance
from assistant.images.ocr_text import tidy_line
from assistant.images.reading_order import reading_order_text, rows
from assistant.protocols import TextLine


def _line(text: str, left: float, top: float, width: float = 100, height: float = 20) -> TextLine:
    box = ((left, top), (left + width, top), (left + width, top + height), (left, top + height))
    return TextLine(text, box, 0.9)  # type: ignore[arg-type]


def test_pieces_of_one_row_read_left_to_right_even_when_their_tops_differ() -> None:
    lines = [
        _line("Cancel", 300, 203, 80, 22),  # a button a few pixels lower than its neighbour
        _line("Title", 10, 10),
        _line("OK", 200, 200, 60, 26),
        _line("Body text", 10, 60, 400),
    ]
    assert reading_order_text(lines) == "Title\nBody text\nOK Cancel"
    assert [len(row) for row in rows(lines)] == [1, 1, 2]


def test_rows_close_together_stay_separate() -> None:
    lines = [_line("second", 10, 24), _line("first", 10, 0)]  # 20 px tall, 24 px apart
    assert reading_order_text(lines) == "first\nsecond"
    assert reading_order_text([]) == ""


def test_tidy_fixes_zeros_read_as_o_only_between_digits_or_in_hex() -> None:
    assert tidy_line("Error 0x8oo7ooo5: denied") == "Error 0x80070005: denied"
    assert tidy_line("Error0x8007o005:Access") == "Error0x80070005:Access"
    assert tidy_line("dated 2o24-03-15") == "dated 2024-03-15"
    assert tidy_line("GPT-4o and O2 and Ozone 1990s") == "GPT-4o and O2 and Ozone 1990s"


def test_tidy_folds_full_width_punctuation_in_latin_text_only() -> None:
    assert tidy_line("2024-03-15，total（VAT）") == "2024-03-15,total(VAT)"
    assert tidy_line("你好，世界") == "你好，世界"


def test_character_accuracy_counts_spaces_and_folds_full_width_forms() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert abs(character_accuracy("a b", "ab") - 2 / 3) < 1e-9
    assert character_accuracy("Hello,  world\n", "Hello， world") == 1.0
    assert character_accuracy("abc", "completely different and long") == 0.0


def test_a_read_is_as_sure_as_its_characters() -> None:
    from assistant.images.ocr_text import read_confidence

    assert read_confidence([]) is None
    # A long sure line and a short unsure mark: the line's confidence dominates.
    assert read_confidence([("x" * 90, 1.0), ("?" * 10, 0.5)]) == 0.95
    assert read_confidence([("  ", 0.2), ("abcd", 0.8)]) == 0.8  # whitespace weighs nothing
