"""OCR with RapidOCR: the PP-OCRv4 detector and recogniser (ONNX) inside the rapidocr-onnxruntime wheel.

Implements `protocols.TextReader`. The models ship in the wheel, so reading text needs no download and
no network. RapidOCR's own pipeline (`RapidOCR()(image)`) is tuned for photos of Chinese text; ours
drives the same detector and recogniser for screenshots, documents and scans in Latin script
(measured in tests/engines/test_ocr.py and `assistant bench vision --parts ocr`):

1. A first detection pass at a bounded size (`OcrOptions.max_side`, only ever shrunk): RapidOCR
   enlarges every image until its *short* side is 736 px, 3-5x the work for a wide screenshot, and at
   that scale lines break into single words. A screenshot is read in this one pass.
2. Deskew (`images.deskew`): the detected lines' tilt gives the page's skew; a crooked scan is turned
   straight once and detected again, so rows and columns line up for the reading order.
3. Scale from the text size (`images.text_scale`): the lines' height in the first pass says at which
   scale to detect again: a 300-dpi scan at full resolution (small print keeps its spaces), tiny text
   enlarged, huge text shrunk, within a pixel budget that bounds memory and time; a poor read of a
   small image is tried once more at twice the size.
4. Recognition from the sharpest pixels: each line is cut from the full-resolution image (not the
   shrunk one detection saw) and reduced with area averaging to the recogniser's 48 px height, one
   line at a time (batch 1: a batch is padded to its widest line, and a screenshot mixes a 2-letter
   button with 100-character lines). Boxes are grown more than RapidOCR does (unclip 2.4 instead of
   1.6): with a little margin the recogniser keeps the spaces between words; a line it is unsure of
   is read again from a narrower crop, in case the margin took in the lines around it.
5. No 0/180 degree classifier unless asked for: on horizontal text it flipped whole lines upside
   down now and then, turning them into garbage.
6. Reading order (`images.reading_order`): columns of prose one after the other, everything else in
   rows; and one confidence for the whole read (`read_confidence`), which says when a read is poor.

`RapidTextReader.read` is also what reads a scanned PDF page (the documents library): give it the page
rendered as an RGB PIL image; `ReadText.text` is the page's text in reading order and
`ReadText.confidence` how sure the recogniser was (None when no text was found).

Importing this module imports onnxruntime and OpenCV: it belongs in the engine process (OpenCV's
wheel also points Qt at its own plugins, which must never happen in the window process).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image
from rapidocr_onnxruntime import RapidOCR
from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

from assistant.images import deskew, text_scale
from assistant.images.ocr_text import read_confidence, tidy_line
from assistant.images.reading_order import reading_rows
from assistant.images.safe_image import OCR_MAX_SIDE
from assistant.models.catalog import ModelError
from assistant.protocols import ReadText, TextLine

logger = logging.getLogger(__name__)

UNCLIP_RATIO = 2.4
REC_HEIGHT = 48  # the PP-OCRv4 recogniser's input height
# Line crops taller than this are reduced with area averaging first: the recogniser's own bilinear
# resize aliases thin strokes when it shrinks by 2x or more.
REC_MAX_CROP = 64
# A read less sure than this, of an image small enough, is tried once more at twice the size (on the
# tuning material, blurred photos of pages read better larger; crisp screenshots are sure of themselves
# and are read once).
RETRY_BELOW = 0.9
# A line the recogniser is less sure of than this is read once more from a crop cut closer to its middle
# (LINE_RETRY_HEIGHT of the box's height), and the surer reading is kept: the wide boxes that keep the
# spaces between words can take in the strokes of the lines above and below on tightly set text, and
# the recogniser then reads a jumble ("other peoandeverytingculdfo..." at 0.76, "other people, and do
# everything I could for ..." at 0.92 from the narrower crop, in a scanned 1885 book page).
LINE_RETRY_BELOW = 0.85
LINE_RETRY_HEIGHT = 0.8


@dataclass(frozen=True)
class OcrOptions:
    threads: int = 0  # 0: automatic (the cores this process may use, at most 4)
    max_side: int = OCR_MAX_SIDE  # the first detection pass looks at the image shrunk to this
    min_confidence: float = 0.5  # lines the recogniser is less sure of are left out
    rotated_text: bool = False  # also read upside-down lines (photos of pages held the wrong way)
    deskew: bool = True  # turn a crooked scan straight before reading it
    rescale: bool = True  # detect again at the scale the text size asks for


def default_threads() -> int:
    """onnxruntime gains little past a few threads on these small models; leave cores to the LLM."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, min(cpus, 4))


@dataclass
class _Page:
    """The image being read: its pixels (BGR), and how they map to the caller's image."""

    pixels: np.ndarray  # full resolution, possibly turned straight
    angle: float = 0.0  # degrees it was turned (counter-clockwise), 0 when not
    source_size: tuple[int, int] = (0, 0)  # the caller's image (width, height)

    def to_source(self, point: tuple[float, float]) -> tuple[float, float]:
        if not self.angle:
            return point
        height, width = self.pixels.shape[:2]
        centre = (width / 2, height / 2)
        source_centre = (self.source_size[0] / 2, self.source_size[1] / 2)
        return deskew.rotate_point(point, -self.angle, centre, source_centre)


@dataclass
class _Read:
    """One recognition pass: (line in the straightened page, the same line in the caller's pixels) for
    each line kept, and the pass's confidence over everything it read."""

    lines: list[tuple[TextLine, TextLine]]
    confidence: float | None

    @property
    def confident_characters(self) -> float:
        """What a pass is worth: the characters it kept, each counted by the recogniser's confidence."""
        return sum(len(line.text) * line.confidence for line, _ in self.lines)


class RapidTextReader:
    """One loaded OCR pipeline. Not thread-safe: the engine process drives it from one thread."""

    name = "rapidocr-pp-ocrv4"

    def __init__(self, engine: RapidOCR, options: OcrOptions, threads: int, load_s: float) -> None:
        self._engine = engine
        self.options = options
        self.threads = threads
        self.load_s = load_s
        detector = engine.text_det
        # The detector shrinks what it is given to a size of its own choosing (at most 2000 px); here
        # the caller picks the size, so it only rounds to the network's multiple of 32.
        detector.get_preprocess = lambda _longest: DetPreProcess(
            text_scale.MAX_DETECTION_SIDE, "max", detector.mean, detector.std)

    @classmethod
    def load(cls, options: OcrOptions | None = None) -> RapidTextReader:
        options = options or OcrOptions()
        threads = options.threads if options.threads > 0 else default_threads()
        started = time.perf_counter()
        try:
            engine = RapidOCR(
                use_cls=options.rotated_text,
                text_score=options.min_confidence,
                det_unclip_ratio=UNCLIP_RATIO,
                rec_batch_num=1,
                intra_op_num_threads=min(threads, os.cpu_count() or 1),
                inter_op_num_threads=1,
            )
        except Exception as exc:  # onnxruntime raises its own pybind classes; RapidOCR raises several
            raise ModelError(
                f"the OCR models of rapidocr-onnxruntime cannot be loaded ({type(exc).__name__}: {exc}); "
                "reinstall it with: pip install --force-reinstall rapidocr-onnxruntime==1.4.4"
            ) from exc
        load_s = time.perf_counter() - started
        logger.info("loaded OCR (%s, %d threads) in %.2f s", cls.name, threads, load_s)
        return cls(engine, options, threads, load_s)

    def read(self, image: Any) -> ReadText:
        """Read an RGB PIL image (as `safe_image` returns it); boxes come back in its pixels.

        The text is in reading order, `confidence` is the recogniser's character-weighted confidence
        over everything it read (lines too unsure to keep included), None when nothing was found.
        """
        if not isinstance(image, Image.Image):
            raise TypeError(f"expected a PIL image, got {type(image).__name__}")
        started = time.perf_counter()
        rgb = image.convert("RGB") if image.mode != "RGB" else image
        page = _Page(np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1]), source_size=rgb.size)
        # The first pass looks at the image shrunk to max_side at most (a screenshot: its own size, and
        # this is its only pass); it measures the lines' tilt and height for the real pass. (A quicker
        # glance at 1024 px measured the height badly: the detector's margin does not shrink with the
        # image, so small boxes look relatively taller, and the tuning pages read 1 % worse.)
        scale = min(1.0, self.options.max_side / max(rgb.size))
        quads = self._detect(page.pixels, scale)
        wanted, turned = scale, False
        if quads and self.options.deskew:
            angle = deskew.skew_angle(quads)
            if angle:
                page, turned = _Page(_rotated(page.pixels, angle), angle, rgb.size), True
        full_size = (page.pixels.shape[1], page.pixels.shape[0])
        if quads and self.options.rescale:
            heights = [deskew.line_angle(quad)[2] * scale for quad in quads]  # as the detector saw them
            wanted = text_scale.detection_scale(heights, scale, full_size)
        if quads and (turned or wanted != scale):
            scale, quads = wanted, self._detect(page.pixels, wanted)
        read = self._recognise(page, quads)
        retry = text_scale.retry_scale(scale, full_size) if self.options.rescale else None
        if quads and retry is not None and (read.confidence or 0.0) < RETRY_BELOW:
            again = self._recognise(page, self._detect(page.pixels, retry))
            logger.debug("OCR read again at %.2f: %.0f vs %.0f confident characters", retry,
                         again.confident_characters, read.confident_characters)
            if again.confident_characters > read.confident_characters:
                read, scale = again, retry
        # Reading order from the straightened boxes (rows and columns line up there); the caller gets
        # the same lines with their boxes in its own pixels.
        rows = reading_rows([straight for straight, _ in read.lines])
        source = {id(straight): original for straight, original in read.lines}
        kept = tuple(source[id(line)] for row in rows for line in row)
        text = "\n".join(" ".join(line.text for line in row) for row in rows)
        seconds = time.perf_counter() - started
        logger.debug("OCR read %d lines in %.2f s (skew %.1f deg, detection scale %.2f)",
                     len(kept), seconds, page.angle, scale)
        return ReadText(lines=kept, text=text, seconds=seconds, confidence=read.confidence)

    # ---- steps ---------------------------------------------------------------------------------------

    def _detect(self, pixels: np.ndarray, scale: float) -> list[np.ndarray]:
        """Line quadrilaterals (4 x 2, clockwise from the top-left) in `pixels`' coordinates."""
        if scale != 1.0:
            size = (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale)))
            shown = cv2.resize(pixels, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC)
        else:
            shown = pixels
        boxes, _elapsed = self._engine.text_det(shown)
        if boxes is None or len(boxes) == 0:
            return []
        return [np.asarray(box, dtype=np.float32) / scale for box in boxes]

    def _recognise_crop(self, crop: np.ndarray) -> tuple[str, float]:
        """One line's text (tidied) and the recogniser's confidence in it."""
        if self.options.rotated_text:
            [crop], _cls, _elapsed = self._engine.text_cls([crop])
        [(text, score, *_rest)], _elapsed = self._engine.text_rec([crop])
        return tidy_line(str(text)), float(score)

    def _recognise(self, page: _Page, quads: list[np.ndarray]) -> _Read:
        """Each line cut out of the (straightened) full-resolution page and recognised."""
        lines, scored = [], []
        for quad in quads:
            crop = _crop(page.pixels, quad)
            if crop is None:
                continue
            text, score = self._recognise_crop(crop)
            if score < LINE_RETRY_BELOW:
                narrow = _crop(page.pixels, _narrowed(quad, LINE_RETRY_HEIGHT))
                again = self._recognise_crop(narrow) if narrow is not None else ("", 0.0)
                if again[0] and again[1] > score:
                    text, score = again
            if not text:
                continue
            scored.append((text, score))
            if score < self.options.min_confidence:
                continue
            corners = tuple((float(x), float(y)) for x, y in quad)
            straight = TextLine(text=text, box=corners, confidence=score)  # type: ignore[arg-type]
            source = TextLine(text=text, box=tuple(page.to_source(p) for p in corners),  # type: ignore[arg-type]
                              confidence=score)
            lines.append((straight, source))
        return _Read(lines, read_confidence(scored))


def _narrowed(quad: np.ndarray, factor: float) -> np.ndarray:
    """The quadrilateral with its short edges shrunk to `factor` of their length about their middles:
    the same line, less of what is beside it (above and below a horizontal line)."""
    narrowed = quad.copy()
    vertical = np.linalg.norm(quad[0] - quad[3]) >= 1.5 * np.linalg.norm(quad[0] - quad[1])  # as `_crop`
    for top, bottom in ((0, 1), (3, 2)) if vertical else ((0, 3), (1, 2)):
        middle = (quad[top] + quad[bottom]) / 2
        narrowed[top] = middle + (quad[top] - middle) * factor
        narrowed[bottom] = middle + (quad[bottom] - middle) * factor
    return narrowed


def _rotated(pixels: np.ndarray, angle: float) -> np.ndarray:
    """The page turned by `angle` degrees counter-clockwise, canvas grown to keep every corner,
    filled with the page's own background (its median colour) so no dark wedge looks like ink."""
    height, width = pixels.shape[:2]
    centre = (width / 2, height / 2)
    matrix = cv2.getRotationMatrix2D(centre, angle, 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_width, new_height = int(height * sin + width * cos + 0.5), int(height * cos + width * sin + 0.5)
    matrix[0, 2] += new_width / 2 - centre[0]
    matrix[1, 2] += new_height / 2 - centre[1]
    sample = pixels[:: max(1, height // 64), :: max(1, width // 64)]
    background = tuple(int(v) for v in np.median(sample, axis=(0, 1)))
    return cv2.warpAffine(pixels, matrix, (new_width, new_height), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=background)


def _crop(pixels: np.ndarray, quad: np.ndarray) -> np.ndarray | None:
    """The line cut out straight along its quadrilateral, at most REC_MAX_CROP px tall."""
    width = int(max(np.linalg.norm(quad[0] - quad[1]), np.linalg.norm(quad[2] - quad[3])))
    height = int(max(np.linalg.norm(quad[0] - quad[3]), np.linalg.norm(quad[1] - quad[2])))
    if width < 2 or height < 2:
        return None
    target = np.array([[0, 0], [width, 0], [width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    crop = cv2.warpPerspective(pixels, matrix, (width, height), borderMode=cv2.BORDER_REPLICATE,
                               flags=cv2.INTER_CUBIC)
    if height / width >= 1.5:  # a vertical line of text: the recogniser reads rows
        crop = np.rot90(crop)
        height, width = width, height
    if height > REC_MAX_CROP:
        factor = REC_HEIGHT / height
        crop = cv2.resize(crop, (max(1, round(width * factor)), REC_HEIGHT), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(crop)
