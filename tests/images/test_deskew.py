"""Skew from detected line boxes, and the detection scale from the text size (pure geometry)."""

from __future__ import annotations

import math

import pytest

from assistant.images import deskew, text_scale

Quad = list[tuple[float, float]]


def _tilted(left: float, top: float, length: float, height: float, degrees: float) -> Quad:
    """A line's box as the detector returns it: corners clockwise from the top-left, tilted clockwise."""
    radians = math.radians(degrees)
    along, down = (math.cos(radians), math.sin(radians)), (-math.sin(radians), math.cos(radians))
    top_left = (left, top)
    top_right = (left + length * along[0], top + length * along[1])
    bottom_right = (top_right[0] + height * down[0], top_right[1] + height * down[1])
    bottom_left = (left + height * down[0], top + height * down[1])
    return [top_left, top_right, bottom_right, bottom_left]


@pytest.mark.parametrize("degrees", [-5.0, -2.5, -1.0, 1.0, 3.0, 5.0])
def test_the_page_skew_is_the_lines_tilt(degrees: float) -> None:
    lines = [_tilted(300, 300 + 60 * i, 1800 - 40 * (i % 3), 50, degrees + (0.1 if i % 2 else -0.1))
             for i in range(12)]
    lines.append(_tilted(400, 100, 90, 60, 30.0))  # a short stamp at an angle changes nothing
    assert deskew.skew_angle(lines) == pytest.approx(degrees, abs=0.15)


def test_a_straight_page_or_too_few_lines_is_left_alone() -> None:
    assert deskew.skew_angle([_tilted(0, 60 * i, 1500, 50, 0.2) for i in range(10)]) == 0.0  # under 0.4
    assert deskew.skew_angle([_tilted(0, 60 * i, 1500, 50, 3.0) for i in range(2)]) == 0.0  # two lines
    assert deskew.skew_angle([_tilted(0, 60 * i, 1500, 50, 25.0) for i in range(10)]) == 0.0  # a design
    scattered = [_tilted(0, 60 * i, 1500, 50, angle) for i, angle in enumerate((-8, -4, 0, 4, 8) * 2)]
    assert deskew.skew_angle(scattered) == 0.0  # lines that disagree are a layout, not a crooked page


def test_rotating_a_point_there_and_back_returns_it() -> None:
    centre, grown = (1000.0, 1500.0), (1100.0, 1580.0)  # `expand=True` moved the centre
    moved = deskew.rotate_point((1700.0, 400.0), 3.0, centre, grown)
    back = deskew.rotate_point(moved, -3.0, grown, centre)
    assert back == pytest.approx((1700.0, 400.0))
    right_of_centre = deskew.rotate_point((1100.0, 1500.0), 90.0, centre, centre)
    assert right_of_centre == pytest.approx((1000.0, 1400.0))  # counter-clockwise: up, on screen


def test_the_detection_scale_follows_the_text_size_within_a_budget() -> None:
    assert text_scale.detection_scale([], 1.0, (800, 600)) == 1.0
    screenshot = [26.0] * 5 + [28.0] * 10 + [34.0]
    assert text_scale.detection_scale(screenshot, 1.0, (1920, 1080)) == 1.0  # read as it is, once
    # A 300-dpi page seen at 0.62 for the first pass (38 px lines): again at full resolution.
    assert text_scale.detection_scale([38.0] * 50, 0.62, (2550, 3300)) == pytest.approx(0.62 * 60 / 38)
    assert text_scale.detection_scale([30.0] * 50, 0.62, (2550, 3300)) == 1.0  # not past full size
    assert text_scale.detection_scale([50.0] * 50, 0.8, (2000, 2600)) == 0.8  # 62 px at full size: as is
    tiny = text_scale.detection_scale([10.0] * 8, 1.0, (384, 191))  # a small photo of a page
    assert tiny == pytest.approx(text_scale.TINY_TARGET / 10.0)
    huge = text_scale.detection_scale([200.0] * 8, 0.5, (4000, 3000))  # 400 px letters: shrunk
    assert huge == pytest.approx(text_scale.TARGET_LINE_HEIGHT / 400.0)
    capped = text_scale.detection_scale([6.0] * 8, 1.0, (3000, 3000))  # would be 5.3x
    assert 3000 * capped <= 4096 + 1
    assert text_scale.detection_scale([38.0] * 8, 0.5, (8000, 8000)) <= 0.513  # the budget wins
    assert text_scale.retry_scale(1.0, (384, 191)) == 2.0
    assert text_scale.retry_scale(1.0, (3000, 3000)) is None  # 6000 px a side: over the budget
    assert text_scale.line_height([30.0, 10.0, 50.0, 0.0]) == 30.0
    assert text_scale.line_height([]) is None
