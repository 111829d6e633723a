"""At what scale to look for text, from how tall the text is.

RapidOCR's detector finds lines best when they are a few dozen pixels tall. The engine's first
detection pass looks at the image shrunk to a bounded size; `detection_scale` then says, from the
heights of the lines it found, whether to look again and at which scale: the one that makes the
typical line about `TARGET_LINE_HEIGHT` tall, but

- never larger than the full resolution (enlarging adds no detail), except for tiny text (lines under
  `TINY_TEXT` even at full resolution: a small photo of a page), which is enlarged to `TINY_TARGET`;
- not at all when the scale would change by less than `MIN_CHANGE` (it would read the same), so a
  screenshot, whose lines are 20-35 px at full size, is read once, as it is;
- within a pixel budget that bounds memory and time.

A 300-dpi page shrunk to 2048 px for the first pass shows its 10 pt lines about 38 px tall; looked at
again at full resolution, small print keeps its spaces and letters (tuning pages: 96.1 -> 98.4 % and
97.8 -> 99.3 % of characters). `retry_scale` is the last resort for a poor read of a small image (a
blurred photo of a page): one more pass at twice the size, kept only if it reads more text with
confidence. Pure arithmetic; the thresholds were chosen on the tuning pages only (`assistant bench
vision --parts ocr --tune`).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

# Box heights in pixels, as the detector draws them (its margin included: about 1.3-1.8x the font size).
TARGET_LINE_HEIGHT = 60.0  # a 10 pt line of a 300-dpi scan at full resolution
TINY_TEXT = 16.0
TINY_TARGET = 32.0
MIN_CHANGE = 1.25  # a pass at a scale this close to the last one would read the same
RETRY_FACTOR = 2.0
# No pass looks at more than this many pixels (a 4096 x 4096 page: about 0.5 GB of detector input and
# feature maps in float32, and a few seconds on two cores).
MAX_DETECTION_PIXELS = 4096 * 4096
MAX_DETECTION_SIDE = 6144


def line_height(heights: Iterable[float]) -> float | None:
    """The typical line's height: the median of the detected boxes' heights (None without any)."""
    values = [h for h in heights if h > 0]
    return statistics.median(values) if values else None


def budget(size: tuple[int, int]) -> float:
    """The largest scale at which an image of `size` (full resolution) fits the pixel budget."""
    width, height = size
    by_pixels = (MAX_DETECTION_PIXELS / max(1, width * height)) ** 0.5
    return min(by_pixels, MAX_DETECTION_SIDE / max(width, height))


def detection_scale(heights: Iterable[float], scale: float, size: tuple[int, int]) -> float:
    """The scale (of the full-resolution image, `size`) for a second detection pass, given the box
    `heights` found at `scale`; `scale` itself when no second pass is worth it."""
    typical = line_height(heights)
    if typical is None:
        return scale
    full_size = typical / scale  # the typical line's height at full resolution
    # Never enlarged past the full resolution, which adds no detail, unless the text is tiny.
    wanted = TINY_TARGET / full_size if full_size < TINY_TEXT else min(1.0, TARGET_LINE_HEIGHT / full_size)
    wanted = min(wanted, budget(size))
    return wanted if max(wanted / scale, scale / wanted) >= MIN_CHANGE else scale


def retry_scale(scale: float, size: tuple[int, int]) -> float | None:
    """The scale of one more pass after a poor read at `scale`, or None when it would not fit."""
    wanted = scale * RETRY_FACTOR
    return wanted if wanted <= budget(size) else None
