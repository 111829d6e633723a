"""How far a scanned page is rotated, from the text lines a detector found on it.

A page laid slightly crooked on a scanner tilts every line of text by the same angle. The detector
returns each line as a rotated rectangle (four corners, clockwise from the top-left), so the tilt of
its long edge is a direct measurement; the page's skew is the median over the long lines, weighted by
their length (a long line's angle is measured more precisely, and headings and page numbers are
short). Pure geometry on corner points: no image library here, the engine rotates the pixels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

Point = tuple[float, float]
Quad = Sequence[Point]

# Lines at least this many times longer than tall measure an angle; shorter boxes (a word, a digit)
# are too square for their long edge to say much.
MIN_ELONGATION = 4.0
# A page this little askew reads as well as a straight one (measured on the tuning pages); rotating
# it would only resample every pixel.
MIN_SKEW_DEGREES = 0.4
# Beyond this the "lines" are more likely text set at an angle on purpose (a stamp, a chart label)
# than a crooked page; such pages are left alone.
MAX_SKEW_DEGREES = 10.0
# At least this many long lines must agree before a page is rotated.
MIN_LINES = 3


def line_angle(quad: Quad) -> tuple[float, float, float]:
    """(angle in degrees, length, height) of a detected line: the top edge's tilt, clockwise positive
    (image y grows downwards)."""
    (x0, y0), (x1, y1), _, (x3, y3) = quad[0], quad[1], quad[2], quad[3]
    length = math.hypot(x1 - x0, y1 - y0)
    height = math.hypot(x3 - x0, y3 - y0)
    return math.degrees(math.atan2(y1 - y0, x1 - x0)), length, height


def skew_angle(quads: Iterable[Quad]) -> float:
    """The page's tilt in degrees (clockwise positive), or 0.0 when it is straight, unsure or too steep.

    Rotating the image by this angle (Pillow's `rotate(angle)`, counter-clockwise positive) makes the
    lines horizontal.
    """
    measured = []
    for quad in quads:
        angle, length, height = line_angle(quad)
        if height > 0 and length >= MIN_ELONGATION * height and abs(angle) <= MAX_SKEW_DEGREES:
            measured.append((angle, length))
    if len(measured) < MIN_LINES:
        return 0.0
    angle = _weighted_median(measured)
    # Lines must agree: a crooked page tilts all of them alike; scattered angles are a layout, not skew.
    agreeing = sum(length for a, length in measured if abs(a - angle) <= 1.0)
    if agreeing < 0.6 * sum(length for _, length in measured):
        return 0.0
    return angle if MIN_SKEW_DEGREES <= abs(angle) <= MAX_SKEW_DEGREES else 0.0


def _weighted_median(values: list[tuple[float, float]]) -> float:
    ordered = sorted(values)
    half, running = sum(weight for _, weight in ordered) / 2, 0.0
    for value, weight in ordered:
        running += weight
        if running >= half:
            return value
    return ordered[-1][0]


def rotate_point(point: Point, degrees: float, centre: Point, new_centre: Point) -> Point:
    """Where `point` lands when an image turns by `degrees` counter-clockwise (Pillow's `rotate`) about
    `centre`, with the result's centre at `new_centre` (`expand=True` grows the canvas)."""
    radians = math.radians(degrees)
    cos, sin = math.cos(radians), math.sin(radians)
    dx, dy = point[0] - centre[0], point[1] - centre[1]
    # Counter-clockwise on screen, where y points down.
    return (new_centre[0] + dx * cos + dy * sin, new_centre[1] - dx * sin + dy * cos)
