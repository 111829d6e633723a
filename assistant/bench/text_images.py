"""Images with known text, drawn with Pillow, and how closely OCR read them back.

Shared by `assistant bench vision` and the OCR tests, so both measure on the same kind of image.
Fonts: DejaVu (Debian `fonts-dejavu-core`) when installed, else Pillow's built-in scalable font.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from assistant.protocols import TextLine

FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),  # Debian, Ubuntu
    Path("/usr/share/fonts/dejavu"),  # Fedora, Arch
    Path("/usr/share/fonts/TTF"),
    Path("/Library/Fonts"),
)
SANS, SERIF = "DejaVuSans.ttf", "DejaVuSerif.ttf"
MONO, SANS_BOLD = "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf"

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def font_path(name: str = SANS) -> Path | None:
    return next((folder / name for folder in FONT_DIRS if (folder / name).is_file()), None)


@cache
def font(size: int, name: str = SANS) -> Font:
    path = font_path(name)
    if path is None:
        return ImageFont.load_default(size)
    return ImageFont.truetype(str(path), size)


# ---- measuring --------------------------------------------------------------------------------------


def normalized(text: str) -> str:
    """Compatibility forms folded (full-width comma -> comma), whitespace runs -> one space."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance over characters."""
    row = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, char_b in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (char_a != char_b))
    return row[-1]


def character_accuracy(reference: str, hypothesis: str) -> float:
    """1 - character error rate, spaces included (a dropped space between words is an error)."""
    ref, hyp = normalized(reference), normalized(hypothesis)
    return max(0.0, 1.0 - edit_distance(ref, hyp) / max(1, len(ref)))


@dataclass(frozen=True)
class Element:
    """One piece of text drawn on an image, with the box it was drawn in."""

    text: str
    box: tuple[int, int, int, int]  # left, top, right, bottom


def element_accuracy(elements: Sequence[Element], lines: Iterable[TextLine]) -> float:
    """Character accuracy of a layout, independent of reading order.

    Each OCR line goes to the element whose box holds its centre; an element's lines are joined left
    to right and compared with its text. Lines that fall in no element count as wrong characters.
    """
    found: dict[int, list[TextLine]] = {index: [] for index in range(len(elements))}
    stray = 0
    for line in lines:
        cx = sum(x for x, _ in line.box) / 4
        cy = sum(y for _, y in line.box) / 4
        index = next((i for i, e in enumerate(elements) if _inside(cx, cy, e.box, margin=6)), None)
        if index is None:
            stray += len(normalized(line.text))
        else:
            found[index].append(line)
    errors, total = stray, 0
    for index, element in enumerate(elements):
        read = " ".join(line.text for line in sorted(found[index], key=lambda ln: ln.box[0][0]))
        errors += edit_distance(normalized(element.text), normalized(read))
        total += len(normalized(element.text))
    return max(0.0, 1.0 - errors / max(1, total))


def _inside(x: float, y: float, box: tuple[int, int, int, int], margin: int) -> bool:
    left, top, right, bottom = box
    return left - margin <= x <= right + margin and top - margin <= y <= bottom + margin


# ---- drawing ----------------------------------------------------------------------------------------


def render_text(
    lines: Sequence[str],
    *,
    size: int = 20,
    font_name: str = SANS,
    background: str = "white",
    ink: str = "black",
    spacing: float = 1.5,
    margin: int = 30,
) -> Image.Image:
    """Lines of text on a plain background, like a paragraph in a document or a terminal."""
    face = font(size, font_name)
    step = round(size * spacing)
    width = round(max(face.getlength(line) for line in lines)) + 2 * margin
    image = Image.new("RGB", (width, 2 * margin + step * len(lines)), background)
    draw = ImageDraw.Draw(image)
    for index, line in enumerate(lines):
        draw.text((margin, margin + index * step), line, font=face, fill=ink)
    return image


class _Canvas:
    """Draws text and remembers where, so a test knows what each region should read."""

    def __init__(self, size: tuple[int, int], background: str) -> None:
        self.image = Image.new("RGB", size, background)
        self.draw = ImageDraw.Draw(self.image)
        self.elements: list[Element] = []

    def text(self, xy: tuple[int, int], text: str, size: int, ink: str, name: str = SANS) -> None:
        face = font(size, name)
        self.draw.text(xy, text, font=face, fill=ink)
        left, top, right, bottom = (round(v) for v in self.draw.textbbox(xy, text, font=face))
        self.elements.append(Element(text, (left, top, right, bottom)))

    def button(self, box: tuple[int, int, int, int], label: str, size: int, default: bool = False) -> None:
        self.draw.rounded_rectangle(box, radius=4, fill="#0a64d8" if default else "#fdfdfd",
                                    outline="#0a64d8" if default else "#8a8a8a")
        face = font(size)
        width = face.getlength(label)
        x = round((box[0] + box[2] - width) / 2)
        y = round((box[1] + box[3] - size) / 2) - 1
        self.text((x, y), label, size, "white" if default else "#1b1b1b")


DIALOG_TITLE = "Setup - Contoso Photo Manager"
DIALOG_LINES = (
    "The installation could not be completed.",
    "Error 0x80070643: Fatal error during installation.",
    "Log file: C:\\Users\\anna\\AppData\\Local\\Temp\\setup_2024.log",
)


def _dialog(canvas: _Canvas, left: int, top: int, scale: float = 1.0) -> None:
    def s(value: float) -> int:
        return round(value * scale)

    width, height = s(620), s(230)
    draw = canvas.draw
    draw.rectangle((left + 6, top + 6, left + width + 6, top + height + 6), fill="#1d4063")  # shadow
    draw.rectangle((left, top, left + width, top + height), fill="#f3f3f3", outline="#6d6d6d")
    draw.rectangle((left, top, left + width, top + s(34)), fill="#ffffff")
    canvas.text((left + s(14), top + s(8)), DIALOG_TITLE, s(15), "#1b1b1b")
    cx, cy, r = left + s(44), top + s(84), s(20)  # the red error icon
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill="#c42b1c")
    draw.line((cx - s(8), cy - s(8), cx + s(8), cy + s(8)), fill="white", width=max(2, s(4)))
    draw.line((cx - s(8), cy + s(8), cx + s(8), cy - s(8)), fill="white", width=max(2, s(4)))
    for index, line in enumerate(DIALOG_LINES):
        canvas.text((left + s(80), top + s(58) + index * s(28)), line, s(15), "#1b1b1b")
    bottom = top + height - s(16)
    details = (left + width - s(250), bottom - s(32), left + width - s(130), bottom)
    canvas.button(details, "Show details", s(14))
    canvas.button((left + width - s(116), bottom - s(32), left + width - s(16), bottom), "OK", s(14), True)


def render_error_dialog(scale: float = 1.0) -> tuple[Image.Image, list[Element]]:
    """A screenshot of just an error dialog (title bar, icon, message, two buttons)."""
    canvas = _Canvas((round(660 * scale), round(270 * scale)), "#dfe6ee")
    _dialog(canvas, round(14 * scale), round(14 * scale), scale)
    return canvas.image, canvas.elements


EDITOR_TEXT = (
    "Quarterly report - draft 3",
    "",
    "Revenue grew 12.4% to $3.2 million in the third quarter, driven by",
    "subscriptions in Germany, France and the Netherlands. Support tickets",
    "fell from 1,870 to 1,312 after the March release fixed the sync bug.",
    "",
    "Open questions for Thursday's meeting (10:30, room B-214):",
    "1. Do we keep the free tier after January 31?",
    "2. Who owns the migration to the new billing provider?",
    "3. Budget for the Lisbon office: EUR 45,000 or EUR 60,000?",
)


def render_screenshot(size: tuple[int, int] = (1920, 1080)) -> tuple[Image.Image, list[Element]]:
    """A full-HD desktop: a text editor with a document, an error dialog over it, a taskbar."""
    width, height = size
    canvas = _Canvas(size, "#2b5d8a")
    draw = canvas.draw
    # Editor window.
    left, top, right, bottom = 80, 60, 1180, 900
    draw.rectangle((left, top, right, bottom), fill="white", outline="#5a5a5a")
    draw.rectangle((left, top, right, top + 36), fill="#eeeeee")
    canvas.text((left + 14, top + 9), "report.txt - Text Editor", 15, "#202020")
    canvas.text((left + 14, top + 46), "File   Edit   Format   View   Help", 14, "#202020")
    draw.line((left, top + 72, right, top + 72), fill="#d0d0d0")
    for index, line in enumerate(EDITOR_TEXT):
        if line:
            canvas.text((left + 20, top + 92 + index * 30), line, 17, "#111111", MONO)
    # Error dialog, to the right of and below the editor text.
    _dialog(canvas, 1150, 560)
    # Taskbar with a clock.
    draw.rectangle((0, height - 48, width, height), fill="#1f1f1f")
    canvas.text((20, height - 34), "Start", 15, "#f0f0f0")
    canvas.text((width - 180, height - 40), "14:32", 14, "#f0f0f0")
    canvas.text((width - 180, height - 22), "2024-03-15", 12, "#f0f0f0")
    return canvas.image, canvas.elements
