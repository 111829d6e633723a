"""Put OCR lines in the order a person reads them: rows top to bottom, left to right within a row.

Detectors return boxes roughly sorted by their top edge, which interleaves pieces of one visual row
when their tops differ by a few pixels (a bold word, a button next to a label). Here a box joins a
row when its vertical centre is close to the row's. Multi-column layouts read across the
columns, row by row; that is what a screenshot of a dialog or a table needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from assistant.protocols import TextLine

# Same row when the centres are closer than this fraction of the smaller box's height. Detected boxes
# carry a margin (see engines/ocr.py), so in a tightly set paragraph neighbouring lines' boxes overlap;
# their centres still differ by a whole line pitch, pieces of one row by a few pixels.
ROW_TOLERANCE = 0.4


def _centre(line: TextLine) -> float:
    return (_top(line) + _bottom(line)) / 2


def _top(line: TextLine) -> float:
    return min(y for _, y in line.box)


def _bottom(line: TextLine) -> float:
    return max(y for _, y in line.box)


def _left(line: TextLine) -> float:
    return min(x for x, _ in line.box)


def rows(lines: Iterable[TextLine]) -> list[list[TextLine]]:
    """Group lines into visual rows, each sorted left to right, rows sorted top to bottom."""
    result: list[tuple[float, float, list[TextLine]]] = []  # (centre, height, members) per row
    for line in sorted(lines, key=_centre):
        centre, height = _centre(line), _bottom(line) - _top(line)
        if result and abs(centre - result[-1][0]) < ROW_TOLERANCE * min(height, result[-1][1]):
            result[-1][2].append(line)
        else:
            # A row keeps its first box's centre and height: a row must not creep down the page.
            result.append((centre, height, [line]))
    return [sorted(members, key=_left) for _, _, members in result]


def reading_order_text(lines: Sequence[TextLine]) -> str:
    """The lines' text: pieces of a row joined by a space, rows by a newline."""
    return "\n".join(" ".join(line.text for line in row) for row in rows(lines))
