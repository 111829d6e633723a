"""Put OCR lines in the order a person reads them: columns of prose one after the other, everything
else in rows, top to bottom and left to right.

Detectors return boxes roughly sorted by their top edge. Reading them row by row across the whole
page is right for a screenshot, a dialog or a table (a label and its value, two buttons), and wrong
for a page set in columns, where it interleaves the columns line by line. So the page is cut the way a
recursive XY-cut does, with one rule added for columns:

1. Bands: the lines are split where a horizontal strip of the page holds no text (boxes trimmed to
   their core, because the detector's margin makes neighbouring lines of a paragraph overlap).
2. Columns: consecutive bands that leave the same vertical strip empty (a gutter) are one region set
   in columns, even when the columns' lines happen to be level with each other. A band that touches
   only one side of the gutter still belongs to the region when it follows on closely (the end of a
   longer column, a heading at the top of one), and not after a section gap (a heading below both).
3. A region is read column by column only when both sides of the gutter hold prose: at least two
   lines of some length each. Short cells side by side (a form's labels and values, a toolbar, the
   buttons of a dialog) stay rows, read across.
4. Anything that is not split further is read in rows: a box joins a row when its vertical centre is
   close to the row's, so pieces of one row whose tops differ by a few pixels stay together.

Each region and each column is cut again the same way, so a column can hold its own sub-columns and a
full-width heading between two column regions is read between them.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from assistant.protocols import TextLine

# Same row when the centres are closer than this fraction of the smaller box's height. Detected boxes
# carry a margin (see engines/ocr.py), so in a tightly set paragraph neighbouring lines' boxes overlap;
# their centres still differ by a whole line pitch, pieces of one row by a few pixels.
ROW_TOLERANCE = 0.4
# The part of a box's height that is ink: the detector adds about a quarter of the height above and
# below, so lines of a paragraph overlap by their margins but not by their cores.
CORE = 0.25
# A gutter is at least this fraction of the typical box height wide (the brochure: 0.55).
MIN_GUTTER = 0.3
# A band on one side of a gutter joins the column region when its gap to the region is at most this
# many typical box heights (a line of the same paragraph: ~0.2; before a new section: ~1).
CONTINUATION_GAP = 0.8
# Prose: at least this many lines with at least this many characters (median) on each side.
PROSE_LINES = 2
PROSE_CHARS = 12


@dataclass(frozen=True)
class _Extent:
    left: float
    top: float
    right: float
    bottom: float

    @property
    def height(self) -> float:
        return self.bottom - self.top

    @property
    def centre(self) -> float:
        return (self.top + self.bottom) / 2


def _extent(line: TextLine) -> _Extent:
    xs, ys = [x for x, _ in line.box], [y for _, y in line.box]
    return _Extent(min(xs), min(ys), max(xs), max(ys))


def rows(lines: Iterable[TextLine]) -> list[list[TextLine]]:
    """Group lines into visual rows, each sorted left to right, rows sorted top to bottom."""
    result: list[tuple[float, float, list[TextLine]]] = []  # (centre, height, members) per row
    for line in sorted(lines, key=lambda ln: _extent(ln).centre):
        extent = _extent(line)
        if result and abs(extent.centre - result[-1][0]) < ROW_TOLERANCE * min(extent.height, result[-1][1]):
            result[-1][2].append(line)
        else:
            # A row keeps its first box's centre and height: a row must not creep down the page.
            result.append((extent.centre, extent.height, [line]))
    return [sorted(members, key=lambda ln: _extent(ln).left) for _, _, members in result]


def reading_rows(lines: Sequence[TextLine]) -> list[list[TextLine]]:
    """The lines as rows in reading order: columns of prose one after the other (see the module)."""
    if not lines:
        return []
    height = statistics.median(_extent(line).height for line in lines)
    return _Cutter(max(height, 1.0)).order(list(lines))


def reading_order_text(lines: Sequence[TextLine]) -> str:
    """The lines' text: pieces of a row joined by a space, rows by a newline."""
    return "\n".join(" ".join(line.text for line in row) for row in reading_rows(lines))


class _Cutter:
    def __init__(self, height: float) -> None:
        self.height = height  # the typical box height: every distance is measured in it

    def order(self, lines: list[TextLine]) -> list[list[TextLine]]:
        if len(lines) <= 1:
            return [lines] if lines else []
        bands = self._bands(lines)
        if len(bands) == 1:
            split = self._columns(lines)
            if split is None:
                return rows(lines)
            return self.order(split[0]) + self.order(split[1])
        result: list[list[TextLine]] = []
        for group in self._regions(bands, lines):
            merged = [line for band in group for line in band]
            split = self._columns(merged) if len(group) > 1 else None
            if split is not None:
                result += self.order(split[0]) + self.order(split[1])
            else:
                for band in group:
                    result += self.order(band)
        return result

    def _core(self, line: TextLine) -> tuple[float, float]:
        extent = _extent(line)
        trim = CORE * extent.height
        return extent.top + trim, extent.bottom - trim

    def _bands(self, lines: list[TextLine]) -> list[list[TextLine]]:
        """Lines split where no line's core covers a horizontal strip, top to bottom."""
        ordered = sorted(lines, key=lambda ln: self._core(ln)[0])
        bands: list[list[TextLine]] = []
        reach = float("-inf")
        for line in ordered:
            top, bottom = self._core(line)
            if not bands or top > reach:
                bands.append([line])
            else:
                bands[-1].append(line)
            reach = max(reach, bottom)
        return bands

    def _gaps(self, lines: list[TextLine], span: tuple[float, float]) -> list[tuple[float, float]]:
        """The x intervals inside `span` that no line covers and that are at least a gutter wide."""
        gaps, reach = [], span[0]
        for extent in sorted((_extent(line) for line in lines), key=lambda e: e.left):
            if extent.left - reach >= MIN_GUTTER * self.height:
                gaps.append((reach, extent.left))
            reach = max(reach, extent.right)
        if span[1] - reach >= MIN_GUTTER * self.height:
            gaps.append((reach, span[1]))
        return gaps

    def _regions(self, bands: list[list[TextLine]], lines: list[TextLine]) -> list[list[list[TextLine]]]:
        """Consecutive bands grouped where they share a gutter (see the module's rule 2)."""
        span = _span(lines)
        inner = [self._gaps(band, _span(band)) for band in bands]
        outer = [self._gaps(band, span) for band in bands]
        groups: list[list[int]] = []
        index = 0
        while index < len(bands):
            if not inner[index]:  # no gutter inside this band: it cannot start a column region
                groups.append([index])
                index += 1
                continue
            group, shared = [index], inner[index]
            following = index + 1
            while following < len(bands):
                common = _intersect(shared, outer[following], MIN_GUTTER * self.height)
                if not common:
                    break
                if not inner[following] and self._gap(bands[following - 1], bands[following]) > \
                        CONTINUATION_GAP * self.height:
                    break  # one-sided and after a section gap: it belongs below the region
                group.append(following)
                shared = common
                following += 1
            while len(group) > 1 and not inner[group[-1]] and not self._continues(bands, group):
                group.pop()
            groups.append(group)
            index = group[-1] + 1
        # A one-sided band just above a region (the first line of one column) joins it.
        merged: list[list[int]] = []
        for group in groups:
            previous = merged[-1] if merged else None
            if (previous is not None and len(previous) == 1 and len(group) > 1 and not inner[previous[0]]
                    and _intersect(inner[group[0]], outer[previous[0]], MIN_GUTTER * self.height)
                    and self._gap(bands[previous[0]], bands[group[0]]) <= CONTINUATION_GAP * self.height):
                merged[-1] = previous + group
            else:
                merged.append(group)
        return [[bands[i] for i in group] for group in merged]

    def _continues(self, bands: list[list[TextLine]], group: list[int]) -> bool:
        return self._gap(bands[group[-2]], bands[group[-1]]) <= CONTINUATION_GAP * self.height

    def _gap(self, upper: list[TextLine], lower: list[TextLine]) -> float:
        return min(self._core(ln)[0] for ln in lower) - max(self._core(ln)[1] for ln in upper)

    def _columns(self, lines: list[TextLine]) -> tuple[list[TextLine], list[TextLine]] | None:
        """The lines left and right of the widest gutter with prose on both sides, or None."""
        extents = [_extent(line) for line in lines]
        span = (min(e.left for e in extents), max(e.right for e in extents))
        for start, end in sorted(self._gaps(lines, span), key=lambda g: g[0] - g[1]):
            if start <= span[0] or end >= span[1]:
                continue  # a margin, not a gutter
            left = [line for line, e in zip(lines, extents, strict=True) if e.right <= start]
            right = [line for line, e in zip(lines, extents, strict=True) if e.left >= end]
            if _prose(left) and _prose(right):
                return left, right
        return None


def _span(lines: list[TextLine]) -> tuple[float, float]:
    extents = [_extent(line) for line in lines]
    return min(e.left for e in extents), max(e.right for e in extents)


def _prose(lines: list[TextLine]) -> bool:
    return len(lines) >= PROSE_LINES and statistics.median(len(line.text) for line in lines) >= PROSE_CHARS


def _intersect(first: list[tuple[float, float]], second: list[tuple[float, float]],
               min_width: float) -> list[tuple[float, float]]:
    """The parts of two sets of intervals that overlap by at least `min_width`."""
    common = []
    for a_start, a_end in first:
        for b_start, b_end in second:
            start, end = max(a_start, b_start), min(a_end, b_end)
            if end - start >= min_width:
                common.append((start, end))
    return common
