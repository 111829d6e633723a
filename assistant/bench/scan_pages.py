"""Pages that look like scans, with their exact text, and the real scans that ship with their text.

Shared by `assistant bench vision --parts ocr` and the OCR tests. Three kinds of material:

- Synthetic scans (`synthetic_scan`): a US-letter page drawn at 300 dpi like a brochure or a journal
  page (a title, a full-width introduction, two columns with headings, a full-width block of small
  print and a footer line), then degraded the way a flatbed scanner and a JPEG encoder degrade a page:
  a small rotation, blur, sensor noise, JPEG. The text is made of a fixed English word list by a seeded
  generator, so every page has exact ground truth in reading order. Seeds below `MEASURING_SEED_START`
  are the tuning set; the measuring set uses other seeds *and* other rotations.
- Real scans (`REAL_SETS`): files made by others that ship in packages, with ground truth text
  transcribed by hand (tests/data/ocr/README.md says where each came from and its licence).
- Reading-order accuracy (`reading_accuracy`): 1 - character edit distance over the whole text,
  whitespace runs folded and typographic quotes and dashes folded to ASCII, so the score measures
  what was read and in which order, not how a quote mark was drawn.
"""

from __future__ import annotations

import io
import random
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from assistant.bench.text_images import SANS, SANS_BOLD, SERIF, edit_distance, font

DPI = 300
PAGE = (2550, 3300)  # US letter at 300 dpi, as the brochure scan
MEASURING_SEED_START = 100
TUNING_SEEDS = (1, 2, 3, 4)
MEASURING_SEEDS = (101, 102, 103, 104, 105, 106)
TUNING_PHOTO_SEEDS = (1, 2)
MEASURING_PHOTO_SEEDS = (101, 102, 103)
# Rotation in degrees per seed: the tuning pages and the measuring pages never share an angle.
_TUNING_ANGLES = {1: 0.0, 2: 1.5, 3: -3.0, 4: 4.5}
_MEASURING_ANGLES = {101: 0.0, 102: 0.0, 103: 1.0, 104: -2.0, 105: 3.5, 106: -5.0}

_WORDS = tuple(" ".join((
    "the of and to in is that for it as was with be by on not he this are or his from at which but "
    "have an they you were their one all we can her has there been if more when will would who so no "
    "time people year state system work information government number program course company water "
    "rate group problem fact area study development process market value level order service report "
    "result history music sequence record track control function display operation button track note "
    "part song machine memory power signal channel station window screen battery printer paper page "
    "letter column engine model answer question reason method design light sound image picture change "
    "small large early simple quick careful modern public private local general special different "
    "important available possible common short long recent main final single whole",
)).split())
_NAMES = ("Lisbon", "Oslo", "Geneva", "Tarzana", "Madrid", "Vienna", "Boston", "Kyoto", "Dublin", "Turin")
_UNITS = ("MHz", "kg", "km", "GB", "ms", "bars", "notes", "pages", "volts", "tracks")


@dataclass(frozen=True)
class ScanPage:
    """One page image and the text it shows, in the order a person reads it."""

    name: str
    image: Image.Image
    text: str
    kind: str  # "synthetic scan", "real scan", "photo of a page"


# ---- measuring ----------------------------------------------------------------------------------------

_FOLD = str.maketrans({"\u2018": "'", "\u2019": "'", "\u201c": '"', "\u201d": '"', "\u2014": "-",
                       "\u2013": "-", "\u2212": "-", "\u00b7": "\u2022", "\u25cf": "\u2022"})


def folded(text: str) -> str:
    """NFKC, typographic quotes/dashes/bullets to one form each, whitespace runs to one space."""
    return " ".join(unicodedata.normalize("NFKC", text).translate(_FOLD).split())


def reading_accuracy(reference: str, hypothesis: str) -> float:
    """Characters read right *in reading order*: 1 - edit distance / reference length (floored at 0)."""
    ref, hyp = folded(reference), folded(hypothesis)
    return max(0.0, 1.0 - edit_distance(ref, hyp) / max(1, len(ref)))


# ---- synthetic scans ------------------------------------------------------------------------------------


class _Prose:
    """Seeded sentences from the word list, with the numbers, names and punctuation a brochure has."""

    def __init__(self, seed: int) -> None:
        self.random = random.Random(seed)

    def sentence(self) -> str:
        pick = self.random
        words = [pick.choice(_WORDS) for _ in range(pick.randint(6, 16))]
        if pick.random() < 0.4:
            words.insert(pick.randrange(len(words)), f"{pick.randint(2, 9999):,} {pick.choice(_UNITS)}")
        if pick.random() < 0.3:
            words.insert(pick.randrange(len(words)), pick.choice(_NAMES))
        if pick.random() < 0.25:
            middle = pick.randrange(1, len(words))
            words[middle - 1] += ","
        text = " ".join(words)
        return text[0].upper() + text[1:] + pick.choice(".....!?")

    def title(self, count: int) -> str:
        return " ".join(word.capitalize() for word in (self.random.choice(_WORDS) for _ in range(count)))


def _wrap(text: str, size: int, width: int, name: str) -> list[str]:
    face, lines, current = font(size, name), [], ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if current and face.getlength(candidate) > width:
            lines.append(current)
            current = word
        else:
            current = candidate
    return [*lines, current] if current else lines


class _Layout:
    """Draws blocks of text top to bottom and keeps the text in reading order."""

    def __init__(self, image: Image.Image) -> None:
        self.draw = ImageDraw.Draw(image)
        self.read: list[str] = []

    def block(self, lines: list[str], x: int, y: int, size: int, name: str, leading: float = 1.25) -> int:
        """Draws lines from y; returns the y below them."""
        face = font(size, name)
        for line in lines:
            self.draw.text((x, y), line, font=face, fill="#141414")
            self.read.append(line)
            y += round(size * leading)
        return y


def _points(pt: float) -> int:
    return round(pt * DPI / 72)


def render_page(seed: int) -> tuple[Image.Image, str]:
    """A clean two-column page at 300 dpi and its text in reading order."""
    prose = _Prose(seed)
    image = Image.new("RGB", PAGE, "white")
    page = _Layout(image)
    margin, gutter = 300, 90
    body, small, heading = _points(9 + seed % 3), _points(6.5), _points(12)
    serif = seed % 2 == 0
    text_face = SERIF if serif else SANS
    width = PAGE[0] - 2 * margin
    y = page.block([prose.title(3)], margin, 260, _points(24), SANS_BOLD)
    y = page.block(_wrap(" ".join(prose.sentence() for _ in range(3)), body, width, text_face), margin,
                   y + 60, body, text_face)
    column = (width - gutter) // 2
    tops, bottom = [y + 70, y + 70], 0
    for side in (0, 1):
        x, y_col = margin + side * (column + gutter), tops[side]
        for _section in range(2):
            y_col = page.block([prose.title(2)], x, y_col, heading, SANS_BOLD)
            paragraph = " ".join(prose.sentence() for _ in range(4 + prose.random.randint(0, 3)))
            y_col = page.block(_wrap(paragraph, body, column, text_face), x, y_col + 10, body, text_face)
            y_col += 40
        bottom = max(bottom, y_col)
    y = page.block(_wrap(" ".join(prose.sentence() for _ in range(5)), small, width, text_face), margin,
                   bottom + 40, small, text_face)
    page.block([f"{prose.title(2)} Inc., {prose.random.randint(100, 99999)} {prose.title(1)} Street, "
                f"{prose.random.choice(_NAMES)}"], margin, min(y + 80, PAGE[1] - 200), small, text_face)
    return image, "\n".join(page.read)


def degrade(image: Image.Image, seed: int, angle: float) -> Image.Image:
    """What a flatbed scan at 300 dpi does to a page: skew, blur, faded ink, sensor noise, JPEG.

    How much of each varies with the seed, within what an office scanner does: blur radius 0.8-1.4 px,
    noise 5-11 grey levels, JPEG quality 55-80.
    """
    import numpy as np  # a benchmark and test helper: numpy comes with Pillow's users here

    rng = np.random.default_rng(seed)
    page = image.convert("L")
    if angle:
        page = page.rotate(angle, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    page = page.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.8, 1.4))))
    # Paper is never white, toner never black.
    pixels = np.asarray(page, dtype=np.float32) * float(rng.uniform(0.75, 0.9)) + float(rng.uniform(15, 40))
    pixels += rng.normal(0.0, float(rng.uniform(5.0, 11.0)), pixels.shape)
    page = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")
    buffer = io.BytesIO()
    page.save(buffer, "JPEG", quality=int(rng.integers(55, 81)))
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def synthetic_scan(seed: int) -> ScanPage:
    angle = {**_TUNING_ANGLES, **_MEASURING_ANGLES}.get(seed, 0.0)
    clean, text = render_page(seed)
    name = f"synthetic-{seed} ({angle:+.1f} deg)"
    return ScanPage(name, degrade(clean, seed, angle), text, "synthetic scan")


def synthetic_set(seeds: tuple[int, ...]) -> Iterator[ScanPage]:
    for seed in seeds:
        yield synthetic_scan(seed)


def synthetic_photo(seed: int) -> ScanPage:
    """A small, soft photo of a printed paragraph (a phone held over a book): uneven light, a slight
    perspective, blur, then shrunk until the text is 10-14 px tall, and JPEG."""
    import numpy as np

    rng = np.random.default_rng(seed)
    prose = _Prose(seed)
    lines = _wrap(" ".join(prose.sentence() for _ in range(4)), 40, 1500, SERIF if seed % 2 else SANS)[:6]
    clean = Image.new("L", (1760, 110 + 60 * len(lines)), 236)
    page = _Layout(clean)
    page.block(lines, 130, 50, 40, SERIF if seed % 2 else SANS, leading=1.5)
    width, height = clean.size
    squeeze = float(rng.uniform(0.02, 0.05)) * width  # the far edge of the page looks shorter
    corners = ((squeeze, 0.0), (width - squeeze, 0.0), (float(width), float(height)), (0.0, float(height)))
    coefficients = _perspective(corners, clean.size)
    photo = clean.transform(clean.size, Image.Transform.PERSPECTIVE, coefficients,
                            Image.Resampling.BICUBIC, fillcolor=236)
    light = np.linspace(float(rng.uniform(0.7, 0.85)), 1.0, width)[None, :]  # a lamp to one side
    pixels = np.asarray(photo.filter(ImageFilter.GaussianBlur(1.6)), dtype=np.float32) * light
    pixels += rng.normal(0.0, 4.0, pixels.shape)
    photo = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")
    factor = float(rng.uniform(0.26, 0.34))  # 40 px type -> 10-14 px
    photo = photo.resize((round(width * factor), round(height * factor)), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=70)
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return ScanPage(f"synthetic photo-{seed}", image, "\n".join(page.read), "photo of a page")


def _perspective(corners: tuple[tuple[float, float], ...], size: tuple[int, int]) -> list[float]:
    """Pillow's PERSPECTIVE coefficients that map the output rectangle onto `corners` of the input."""
    import numpy as np

    width, height = size
    target = ((0, 0), (width, 0), (width, height), (0, height))
    rows = []
    for (x, y), (u, v) in zip(target, corners, strict=True):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
    values = np.array([c for corner in corners for c in corner], dtype=float)
    return [float(c) for c in np.linalg.solve(np.array(rows, dtype=float), values)]


# ---- real scans that ship in packages --------------------------------------------------------------------

DATA = Path(__file__).resolve().parents[2] / "tests" / "data" / "ocr"


def _skimage_page() -> Path | None:
    from importlib.util import find_spec

    spec = find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / "data" / "page.png"
    return path if path.is_file() else None


def scanned_pdf_page(path: Path) -> Image.Image:
    """The scan inside a one-image PDF page, at the resolution it was scanned at (not re-rendered)."""
    import pypdfium2

    document = pypdfium2.PdfDocument(str(path))
    try:
        images = [obj for obj in document[0].get_objects() if obj.type == pypdfium2.raw.FPDF_PAGEOBJ_IMAGE]
        return images[0].get_bitmap(render=False).to_pil().convert("RGB")
    finally:
        document.close()


def real_files(folder: Path) -> list[tuple[str, Path, str, str]]:
    """(name, image file, its text, kind) for each real scan or photo found on this machine; the scan
    inside a PDF is written to `folder` as a PNG first."""
    found = []
    for name, kind in (("linn", "real scan"), ("typewriter", "real scan"), ("eurotext", "real scan"),
                       ("c03-29", "real scan")):
        image, text = DATA / f"{name}.png", DATA / f"{name}.txt"
        if (DATA / f"{name}.pdf").is_file():
            image = folder / f"{name}.png"
            scanned_pdf_page(DATA / f"{name}.pdf").save(image)
        if image.is_file() and text.is_file():
            found.append((name, image, text.read_text(encoding="utf-8"), kind))
    page = _skimage_page()
    if page is not None:
        text = (DATA / "page.txt").read_text(encoding="utf-8")
        found.append(("skimage-page", page, text, "photo of a page"))
    return found
